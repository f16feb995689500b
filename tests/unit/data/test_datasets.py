"""Dataset loaders: OGB raw folders, MoleculeNet CSVs, user CSVs and the embedded set."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from molgraphpt.chem.splits import scaffold_split
from molgraphpt.data.datasets import embedded_dataset_dir, load_dataset
from molgraphpt.errors import DataFormatError, UnknownNameError


def _split_file(path):
    with gzip.open(path, "rt") as handle:
        return np.array([int(x) for x in handle if x.strip()])


def test_ogb_folder_uses_official_split(data_dir, tmp_path):
    ds = load_dataset("ogbg-molbace", data_root_dir=data_dir, cache_dir=tmp_path)
    folder = data_dir / "ogb" / "ogbg_molbace" / "split" / "scaffold"
    for part in ("train", "valid", "test"):
        np.testing.assert_array_equal(
            getattr(ds.split, part), _split_file(folder / f"{part}.csv.gz")
        )
    assert ds.task_names == ("Class",) and ds.metric == "roc_auc" and ds.ogb_name == "ogbg-molbace"
    assert ds.labels.shape == (1513, 1)


def test_regression_ogb_folder(data_dir, tmp_path):
    ds = load_dataset("ogbg-molesol", data_root_dir=data_dir, cache_dir=tmp_path)
    assert ds.task_type == "regression" and ds.metric == "rmse"
    assert np.isfinite(ds.labels).all()


def test_moleculenet_csv_gets_scaffold_split(data_dir, tmp_path):
    root = tmp_path / "root"
    (root / "moleculenet").mkdir(parents=True)
    # a MoleculeNet-named CSV (chemprop layout: smiles + task columns), from the OGB fixture
    with gzip.open(data_dir / "ogb" / "ogbg_molbbbp" / "mapping" / "mol.csv.gz", "rt") as fin:
        lines = fin.read().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    with gzip.open(root / "moleculenet" / "BBBP.csv.gz", "wt") as fout:
        fout.write("smiles,p_np\n")
        for row in rows:
            fout.write(f"{row[1]},{row[0]}\n")
    ds = load_dataset("bbbp", data_root_dir=root, cache_dir=tmp_path / "c")
    smiles = ds.store.all_smiles()
    assert ds.split == scaffold_split(smiles)
    assert ds.split.sizes == (1631, 204, 204)  # = OGB's official sizes


def test_missing_dataset_names_paths_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-root"):
        load_dataset("tox21", data_root_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="ogbg_molhiv"):
        load_dataset("ogbg-molhiv", data_root_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="did you mean 'tox21'"):
        load_dataset("tox2l", data_root_dir=tmp_path)


def test_user_csv_checks_labels(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("smiles,a,b\nCCO,1,\nCCN,0,1\nc1ccccc1,1,0\n")
    ds = load_dataset(str(path), cache_dir=tmp_path, split="random")
    assert ds.task_names == ("a", "b") and np.isnan(ds.labels[0, 1])
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,a\nCCO,0.5\nCCN,1\n")
    with pytest.raises(DataFormatError, match="0.5"):
        load_dataset(str(bad), cache_dir=tmp_path)
    text = tmp_path / "t.csv"
    text.write_text("smiles,a\nCCO,yes\n")
    with pytest.raises(DataFormatError, match="'yes'"):
        load_dataset(str(text), cache_dir=tmp_path)


def test_embedded_dataset_is_shipped(tmp_path):
    assert (embedded_dataset_dir() / "ATTRIBUTION.md").exists()
    ds = load_dataset("embedded", cache_dir=tmp_path)
    assert len(ds) == 2039 and ds.split.sizes == (1631, 204, 204)


def test_cache_rebuilt_when_source_changes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("smiles,a\nCCO,1\nCCN,0\n")
    first = load_dataset(str(path), cache_dir=tmp_path / "c", split="random")
    path.write_text("smiles,a\nCCO,1\nCCN,0\nCCC,1\n")
    second = load_dataset(str(path), cache_dir=tmp_path / "c", split="random")
    assert len(first) == 2 and len(second) == 3
    assert first.store.directory != second.store.directory


def test_not_an_ogb_folder(tmp_path):
    (tmp_path / "ogbg_molx").mkdir()
    shutil.copy(__file__, tmp_path / "ogbg_molx" / "readme.txt")
    from molgraphpt.data.datasets import load_ogb_folder

    with pytest.raises(DataFormatError, match="mapping/mol.csv.gz"):
        load_ogb_folder(tmp_path / "ogbg_molx")
