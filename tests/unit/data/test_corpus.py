"""Unlabelled corpora: exclusion by canonical SMILES, global rows, subsets, folders, cache reuse."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest

from molgraphpt.data.corpus import expand_sources, load_corpus, select_subset
from molgraphpt.errors import ConfigError, InvalidSmilesError

CSV_SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "not_a_smiles", "CCN", "C1CCCCC1"]
SMI_SMILES = ["OCC", "CCCl", "c1ccncc1", "CCOC"]


def _files(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text(
        "id,SMILES\n" + "".join(f"{i},{s}\n" for i, s in enumerate(CSV_SMILES))
    )
    with gzip.open(src / "b.txt.gz", "wt") as handle:
        handle.write("".join(f"{s}\n" for s in SMI_SMILES))
    (src / "README.md").write_text("not data")
    return src


def test_exclusion_by_canonical_smiles_global_rows_and_sources(tmp_path, caplog):
    src = _files(tmp_path)
    excl = tmp_path / "test_set.csv"
    # "OCC" is ethanol written differently: it excludes "CCO" and "OCC"; "C1=CC=CC=C1" is benzene.
    excl.write_text("smiles,y\nOCC,1\nC1=CC=CC=C1,0\n[invalid,1\n")
    caplog.set_level(logging.INFO)
    corpus = load_corpus([src / "a.csv", src / "b.txt.gz"], exclude=[excl], cache_dir=tmp_path)
    smiles = corpus.store.all_smiles()
    assert smiles == ["CC(=O)O", "CCN", "C1CCCCC1", "CCCl", "c1ccncc1", "CCOC"]
    info = corpus.info
    assert info["num_rows"] == 10 and info["num_excluded"] == 3 and info["num_invalid"] == 1
    assert info["num_molecules"] == 6 == info["num_selected"] == len(corpus)
    a, b = info["sources"]
    assert (a["row_start"], a["row_stop"], a["num_excluded"], a["num_invalid"]) == (0, 6, 2, 1)
    assert (b["row_start"], b["row_stop"], b["num_excluded"], b["num_molecules"]) == (6, 10, 1, 3)
    assert len(a["sha256"]) == 64 and b["path"].endswith("b.txt.gz")
    assert info["exclusion"]["num_molecules"] == 2
    assert info["exclusion"]["files"][0]["num_unparsable"] == 1
    # rows are global: the second file's rows follow the first file's
    assert corpus.store.rows.tolist() == [2, 4, 5, 7, 8, 9]
    np.testing.assert_array_equal(corpus.indices, np.arange(6))


def test_folder_input_cache_reuse_and_key(tmp_path):
    src = _files(tmp_path)
    first = load_corpus([src], cache_dir=tmp_path / "cache")  # a.csv, b.txt.gz (README ignored)
    assert len(first.store) == 9 and first.info["num_invalid"] == 1
    assert [s["path"].rsplit("/", 1)[-1] for s in first.info["sources"]] == ["a.csv", "b.txt.gz"]
    stamp = (first.store.directory / "meta.json").stat().st_mtime_ns
    again = load_corpus([src / "a.csv", src / "b.txt.gz"], cache_dir=tmp_path / "cache")
    assert again.store.directory == first.store.directory  # same files, same cache entry
    assert (again.store.directory / "meta.json").stat().st_mtime_ns == stamp
    assert again.info["sources"][1]["num_molecules"] == 4
    excl = tmp_path / "x.smi"
    excl.write_text("CCN\n")
    other = load_corpus([src], exclude=[excl], cache_dir=tmp_path / "cache")
    assert other.store.directory != first.store.directory and len(other.store) == 8


def test_subset_fraction_and_max_are_seeded_and_nested(tmp_path):
    a = select_subset(1000, fraction=0.1, seed=3)
    assert len(a) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, select_subset(1000, fraction=0.1, seed=3))
    assert not np.array_equal(a, select_subset(1000, fraction=0.1, seed=4))
    assert set(a) <= set(select_subset(1000, fraction=0.2, seed=3))  # nested for one seed
    np.testing.assert_array_equal(select_subset(1000, max_molecules=100, seed=3), a)
    assert len(select_subset(1000, fraction=0.5, max_molecules=7)) == 7
    np.testing.assert_array_equal(select_subset(5), np.arange(5))
    with pytest.raises(ConfigError):
        select_subset(10, fraction=0.0)
    src = _files(tmp_path)
    corpus = load_corpus([src], max_molecules=4, subset_seed=1, cache_dir=tmp_path)
    assert len(corpus) == 4 and corpus.info["num_selected"] == 4
    train, valid = corpus.holdout(0.25, seed=0)
    assert len(valid) == 1 and len(train) == 3 and not set(train) & set(valid)


def test_ogb_folder_exclusion_and_errors(tmp_path, data_dir):
    src = _files(tmp_path)
    ogb = tmp_path / "ogb_like"
    (ogb / "mapping").mkdir(parents=True)
    with gzip.open(ogb / "mapping" / "mol.csv.gz", "wt") as handle:
        handle.write("y,smiles,mol_id\n1,ClCC,m0\n")
    assert expand_sources([ogb]) == [ogb / "mapping" / "mol.csv.gz"]
    corpus = load_corpus([src], exclude=[ogb], cache_dir=tmp_path)
    assert "CCCl" not in corpus.store.all_smiles() and corpus.info["num_excluded"] == 1
    with pytest.raises(InvalidSmilesError, match=r"row 3 of .*a\.csv"):
        load_corpus([src], on_invalid="raise", cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="data root"):
        load_corpus([tmp_path / "missing.csv"], cache_dir=tmp_path)
    with pytest.raises(ConfigError):
        load_corpus([], cache_dir=tmp_path)
