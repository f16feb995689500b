"""featurize --out never deletes what the user did not create (issue: a folder was rm -rf'ed)."""

from __future__ import annotations

import pytest

from molgraphpt.cli.main import main
from molgraphpt.data.featurize import featurize_file
from molgraphpt.errors import CacheError


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("smiles\nCCO\nc1ccccc1O\n")
    return path


def test_featurize_refuses_a_folder_that_is_not_a_store(tmp_path, csv):
    out = tmp_path / "v"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("x")
    with pytest.raises(CacheError, match=r"not a graph store \(it holds sub, thesis.tex\)"):
        featurize_file(csv, out)
    assert (out / "thesis.tex").read_text() == "x" and (out / "sub").is_dir()
    assert main(["featurize", str(csv), "--out", str(out)]) != 0  # a clean error, not a traceback
    assert (out / "thesis.tex").read_text() == "x"
    assert not list(tmp_path.glob("v.tmp-*"))  # no debris either


def test_featurize_refuses_a_file(tmp_path, csv):
    out = tmp_path / "store"
    out.write_text("keep me")
    with pytest.raises(CacheError, match="it is a file"):
        featurize_file(csv, out)
    assert out.read_text() == "keep me"


def test_featurize_replaces_its_own_store_and_fills_an_empty_folder(tmp_path, csv):
    out = tmp_path / "store"
    out.mkdir()
    first, _ = featurize_file(csv, out)
    assert len(first) == 2
    csv.write_text("smiles\nCCO\n")
    second, _ = featurize_file(csv, out)  # a store is rebuilt as a whole
    assert len(second) == 1
