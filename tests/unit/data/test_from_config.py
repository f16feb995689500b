"""Configs -> data: the data-section configs, their loaders, pair selection and one batch path."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.data.config import CorpusConfig, DataConfig, PairSourceConfig, data_root
from molgraphpt.data.corpus import load_corpus, load_corpus_from_config
from molgraphpt.data.datasets import dataset_kind, load_dataset, load_dataset_from_config
from molgraphpt.data.pyg import batch_from_tensors, to_pyg
from molgraphpt.data.text import load_pair_dataset, load_pairs_from_config, select_pairs
from molgraphpt.data.transforms import drop_nodes
from molgraphpt.errors import ConfigError, UnknownNameError
from tests.conftest import DATA_DIR

MOLTEXT = DATA_DIR / "moltext"


def test_schema_reexports_the_data_configs():
    from molgraphpt.config import schema

    assert schema.DataConfig is DataConfig
    assert schema.CorpusConfig is CorpusConfig and schema.PairSourceConfig is PairSourceConfig
    with pytest.raises(ConfigError, match="max_pairs"):
        PairSourceConfig("x.csv", max_pairs=0)
    with pytest.raises(ConfigError, match="not both"):
        CorpusConfig(paths=("a.csv",), pairs=(PairSourceConfig("b.csv"),))


def test_data_root_and_corpus_root(monkeypatch, tmp_path):
    monkeypatch.delenv("MOLGRAPHPT_DATA", raising=False)
    assert data_root() == data_root(None) == Path("data")
    assert str(CorpusConfig().root()) == "." and str(CorpusConfig(data_root="").root()) == "."
    assert CorpusConfig(data_root=str(tmp_path)).resolve("a/b.csv") == tmp_path / "a" / "b.csv"
    assert str(CorpusConfig(data_root=str(tmp_path)).resolve("/abs.csv")) == "/abs.csv"
    monkeypatch.setenv("MOLGRAPHPT_DATA", str(tmp_path))
    assert data_root() == tmp_path == CorpusConfig().root()
    assert str(data_root("elsewhere")) == "elsewhere"
    monkeypatch.setenv("MOLGRAPHPT_DATA", "")  # empty counts as the current directory
    assert str(CorpusConfig().root()) == "." == str(data_root())


def test_load_corpus_from_config_resolves_against_the_data_root(tmp_path):
    cfg = CorpusConfig(
        paths=("molecules.csv",),
        exclude=("ogb/ogbg_molfreesolv",),  # an OGB folder stands for its mapping/mol.csv.gz
        data_root=str(DATA_DIR),
        fraction=0.5,
        subset_seed=3,
        cache_dir=str(tmp_path),
    )
    corpus = load_corpus_from_config(cfg)
    direct = load_corpus(
        [DATA_DIR / "molecules.csv"],
        exclude=[DATA_DIR / "ogb" / "ogbg_molfreesolv"],
        fraction=0.5,
        subset_seed=3,
        cache_dir=tmp_path,
    )
    assert corpus.store.directory == direct.store.directory  # same cache entry
    np.testing.assert_array_equal(corpus.indices, direct.indices)
    assert corpus.info["sources"] == direct.info["sources"]
    assert corpus.info["num_selected"] == len(corpus) == round(0.5 * len(corpus.store))
    assert corpus.info["exclusion"]["files"][0]["path"].endswith("mapping/mol.csv.gz")
    with pytest.raises(ConfigError, match="data.paths"):
        load_corpus_from_config(CorpusConfig(data_root=str(DATA_DIR)))
    with pytest.raises(FileNotFoundError, match="data root"):
        load_corpus_from_config(CorpusConfig(paths=("missing.csv",), data_root=str(tmp_path)))


@pytest.fixture(scope="module")
def pair_config(tmp_path_factory):
    return CorpusConfig(
        pairs=(
            PairSourceConfig("chebi20_sample.tsv", format="tsv", max_pairs=40),
            PairSourceConfig("lpm24_sample.txt.gz"),
            PairSourceConfig("pairs_small.csv", text_col="text"),
        ),
        exclude=("pairs_small.jsonl",),
        data_root=str(MOLTEXT),
        fraction=0.5,
        subset_seed=2,
        cache_dir=str(tmp_path_factory.mktemp("pairs")),
    )


def test_load_pairs_from_config_matches_typed_sources(pair_config):
    pairs = load_pairs_from_config(pair_config)
    direct = load_pair_dataset(
        [
            PairSourceConfig(str(MOLTEXT / "chebi20_sample.tsv"), format="tsv"),
            MOLTEXT / "lpm24_sample.txt.gz",
            PairSourceConfig(str(MOLTEXT / "pairs_small.csv"), text_col="text"),
        ],
        exclude=[MOLTEXT / "pairs_small.jsonl"],
        cache_dir=pair_config.cache_dir,
    )
    assert pairs.store.directory == direct.store.directory  # max_pairs is not in the cache key
    assert pairs.texts == direct.texts and pairs.info["sources"] == direct.info["sources"]
    chebi, lpm, csv = pairs.info["sources"]
    assert (chebi["format"], lpm["format"], csv["text_col"]) == ("tsv", "lpm24_props", "text")
    assert pairs.info["num_excluded"] >= 1  # ethanol of pairs_small.csv is in the jsonl file
    assert np.bincount(pairs.source_ids).tolist() == [150, 150, csv["num_pairs"]]


def test_select_pairs_caps_sources_then_subsets(pair_config):
    pairs = load_pairs_from_config(pair_config)
    chosen = select_pairs(pairs, pair_config)
    assert chosen.dtype == np.int64 and (np.diff(chosen) > 0).all()
    np.testing.assert_array_equal(chosen, select_pairs(pairs, pair_config))  # seeded
    capped = 40 + 150 + int((pairs.source_ids == 2).sum())  # chebi capped at max_pairs=40
    assert len(chosen) == round(0.5 * capped)
    everything = select_pairs(pairs, CorpusConfig(pairs=pair_config.pairs, subset_seed=2))
    assert np.bincount(pairs.source_ids[everything]).tolist()[:2] == [40, 150]
    assert set(chosen) <= set(everything)  # the same seed: a smaller subset inside a larger one
    reseeded = select_pairs(pairs, CorpusConfig(pairs=pair_config.pairs, subset_seed=9))
    assert not np.array_equal(reseeded, everything)


def test_dataset_kind_decides_once(tmp_path):
    (tmp_path / "ogbish" / "mapping").mkdir(parents=True)
    shutil.copy(
        DATA_DIR / "ogb" / "ogbg_molfreesolv" / "mapping" / "mol.csv.gz",
        tmp_path / "ogbish" / "mapping" / "mol.csv.gz",
    )
    table = tmp_path / "x.csv"
    table.write_text("smiles,a\nCCO,1\n")
    kinds = {
        "embedded": "embedded",
        "ogbg-molhiv": "ogb",
        "BBBP": "moleculenet",
        str(tmp_path / "ogbish"): "ogb_folder",
        str(table): "table",
    }
    assert {name: dataset_kind(name) for name in kinds} == kinds
    with pytest.raises(UnknownNameError, match="did you mean 'tox21'"):
        dataset_kind("tox2l")


def test_load_dataset_from_config_applies_options_by_kind(tmp_path):
    # OGB: the official split; split and column options are ignored
    ogb = DataConfig(
        dataset="ogbg-molfreesolv",
        data_root=str(DATA_DIR),
        cache_dir=str(tmp_path),
        split="random",
        smiles_col="nope",
    )
    ds = load_dataset_from_config(ogb)
    ref = load_dataset("ogbg-molfreesolv", data_root_dir=DATA_DIR, cache_dir=tmp_path)
    assert ds.split_name == "ogb-scaffold" and ds.split == ref.split
    assert ds.store.directory == ref.store.directory and ds.task_type == "regression"
    # MoleculeNet: the split options apply, the column options do not
    root = tmp_path / "root"
    (root / "moleculenet").mkdir(parents=True)
    with gzip.open(DATA_DIR / "ogb" / "ogbg_molfreesolv" / "mapping" / "mol.csv.gz", "rt") as fin:
        rows = [line.split(",") for line in fin.read().splitlines()[1:41]]
    (root / "moleculenet" / "freesolv.csv").write_text(
        "smiles,freesolv\n" + "".join(f"{r[1]},{r[0]}\n" for r in rows)
    )
    mnet = DataConfig(
        dataset="freesolv",
        data_root=str(root),
        cache_dir=str(tmp_path),
        split="random",
        split_seed=3,
        smiles_col="nope",
        targets=("nope",),
    )
    ds = load_dataset_from_config(mnet)
    assert ds.split_name == "random" and ds.task_names == ("freesolv",) and len(ds) == 40
    assert ds.split == load_dataset_from_config(mnet).split
    # a user file: every option applies
    user = tmp_path / "user.csv"
    user.write_text("id,smi,y\n" + "".join(f"{i},{s},{i / 4}\n" for i, s in enumerate(SMILES)))
    cfg = DataConfig(
        dataset=str(user),
        cache_dir=str(tmp_path),
        smiles_col="smi",
        targets=("y",),
        task_type="regression",
        split="random",
        frac=(0.5, 0.25, 0.25),
    )
    ds = load_dataset_from_config(cfg)
    assert ds.task_names == ("y",) and ds.task_type == "regression" and ds.metric == "rmse"
    assert ds.split.sizes == (4, 2, 2) and ds.store.all_smiles() == SMILES
    with pytest.raises(UnknownNameError):
        load_dataset_from_config(DataConfig(dataset="tox2l", data_root=str(tmp_path)))


SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "C1CCCCC1", "OCCO", "CCOC"]


def test_batch_from_tensors_is_what_from_data_list_builds():
    labels = np.arange(len(SMILES) * 2, dtype=np.float32).reshape(-1, 2)
    ref = Batch.from_data_list([to_pyg(smiles_to_graph(s), y) for s, y in zip(SMILES, labels)])
    edge_ptr = torch.as_tensor(ref._slice_dict["edge_index"])
    ours = batch_from_tensors(
        ref.x, ref.edge_index, ref.edge_attr, ref.batch, ref.ptr, edge_ptr, y=ref.y
    )
    assert ours.num_graphs == ref.num_graphs == len(SMILES)
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr", "y"):
        assert torch.equal(ours[key], ref[key]), key
    for name in ("_slice_dict", "_inc_dict"):
        theirs, mine = getattr(ref, name), getattr(ours, name)
        assert set(mine) == set(theirs), name
        assert all(torch.equal(mine[k], torch.as_tensor(theirs[k])) for k in theirs), name
    for a, b in zip(ours.index_select([5, 0, 2]), ref.index_select([5, 0, 2])):
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
        assert torch.equal(a.y, b.y)
    # a transform's output (built through batch_from_tensors) separates into its graphs
    dropped = drop_nodes(ref, 0.3, torch.Generator().manual_seed(0))
    parts = dropped.to_data_list()
    assert len(parts) == len(SMILES)
    again = Batch.from_data_list(parts)
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr", "y"):
        assert torch.equal(again[key], dropped[key]), key
