"""GraphStore: exact round trip with OGB's featurization, compactness, atomic writes, staleness."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ogb.utils import smiles2graph
from torch_geometric.data import Batch

from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.chem.parallel import featurize_smiles
from molgraphpt.data.cache import Chunk, build_store, cached_store
from molgraphpt.data.loader import GraphLoader
from molgraphpt.data.pyg import to_pyg
from molgraphpt.data.store import GraphStore
from molgraphpt.errors import CacheError, InvalidSmilesError
from tests.conftest import SMILES

OGB_SAFE = [s for s in SMILES if s != "*C(=O)O"] + ["c1ccc2ccccc2c1", "O=C(O)CCC(=O)O"]


def _chunks(smiles, labels=None, size=3):
    for i in range(0, len(smiles), size):
        lab = None if labels is None else np.asarray(labels[i : i + size], dtype=np.float32)
        yield Chunk(
            rows=np.arange(i, min(i + size, len(smiles))), smiles=smiles[i : i + size], labels=lab
        )


def test_decode_equals_ogb_smiles2graph(tmp_path):
    store, report = build_store(_chunks(OGB_SAFE), tmp_path / "s")
    assert report.num_molecules == len(OGB_SAFE) == len(store)
    for i, smi in enumerate(OGB_SAFE):
        ref = smiles2graph(smi)
        got = store.decode([i])
        np.testing.assert_array_equal(got.x, ref["node_feat"])
        np.testing.assert_array_equal(got.edge_index, ref["edge_index"])
        np.testing.assert_array_equal(got.edge_attr, ref["edge_feat"])
        assert got.x.dtype == np.int64 and got.edge_index.dtype == np.int64
        assert store.smiles(i) == smi


def test_batch_decode_matches_pyg_from_data_list(tmp_path):
    labels = np.arange(len(OGB_SAFE) * 2, dtype=np.float32).reshape(-1, 2)
    labels[1, 0] = np.nan
    store, _ = build_store(_chunks(OGB_SAFE, labels), tmp_path / "s", num_tasks=2)
    order = [4, 0, 2, 7, 1]
    loader = GraphLoader(store, np.array(order), batch_size=5)
    (batch,) = list(loader.iter_epoch(0))
    ref = Batch.from_data_list([to_pyg(smiles_to_graph(OGB_SAFE[i]), labels[i]) for i in order])
    for key in ("x", "edge_index", "edge_attr", "batch", "ptr"):
        assert torch.equal(getattr(batch.graph, key), getattr(ref, key)), key
    assert torch.equal(
        batch.y,
        ref.y,
    ) or torch.allclose(batch.y, ref.y, equal_nan=True)
    assert batch.graph.num_graphs == 5
    # to_data_list works on our directly-built batch as on PyG's own
    for ours, theirs in zip(batch.graph.to_data_list(), ref.to_data_list()):
        assert torch.equal(ours.edge_index, theirs.edge_index)
        assert torch.equal(ours.x, theirs.x)


def test_store_is_compact_and_memory_mapped(tmp_path, data_dir):
    import csv

    with open(data_dir / "molecules.csv") as handle:
        smiles = [row["smiles"] for row in csv.DictReader(handle)]
    store, report = build_store(_chunks(smiles, size=100), tmp_path / "s", on_invalid="skip")
    assert report.num_molecules + report.num_invalid == len(smiles)
    per_mol = store.nbytes(graph_only=True) / len(store)
    assert per_mol < 200, per_mol
    reopened = GraphStore.open(tmp_path / "s")
    assert isinstance(reopened._arrays["atom_code"], np.memmap)
    np.testing.assert_array_equal(reopened.decode([3, 5]).x, store.decode([3, 5]).x)


def test_invalid_smiles_raise_with_source_row(tmp_path):
    smiles = ["CCO", "c1ccccc1", "C1CC", "CCN"]
    with pytest.raises(InvalidSmilesError) as err:
        build_store(_chunks(smiles, size=2), tmp_path / "s", source="mols.csv")
    assert err.value.row == 2 and "mols.csv" in str(err.value) and "C1CC" in str(err.value)
    assert not (tmp_path / "s").exists(), "a failed build must leave nothing behind"
    assert not list(tmp_path.glob("s.tmp-*"))


def test_invalid_smiles_skip_counts_and_keeps_rows(tmp_path):
    smiles = ["CCO", "", "C1CC", "CCN", "not a smiles"]
    store, report = build_store(_chunks(smiles, size=2), tmp_path / "s", on_invalid="skip")
    assert report.num_invalid == 3 and len(store) == 2
    np.testing.assert_array_equal(store.rows, [0, 3])
    assert store.meta["num_invalid"] == 3


def test_cache_reused_and_rebuilt_when_stale(tmp_path):
    calls = []

    def chunks(smiles):
        calls.append(1)
        return _chunks(smiles)

    key = {"source_sha256": "aaa"}
    first = cached_store("t", key, chunks(["CCO", "CCN"]), cache_dir=tmp_path)
    again = cached_store("t", key, chunks(["CCO", "CCN"]), cache_dir=tmp_path)
    assert again.directory == first.directory
    # a different source hash is a different cache entry (never the stale one)
    other = cached_store("t", {"source_sha256": "bbb"}, chunks(["C"]), cache_dir=tmp_path)
    assert other.directory != first.directory and len(other) == 1
    # a store whose recorded fingerprint does not match is rebuilt, not reused
    meta = json.loads((first.directory / "meta.json").read_text())
    meta["fingerprint"] = "tampered"
    (first.directory / "meta.json").write_text(json.dumps(meta))
    rebuilt = cached_store("t", key, _chunks(["CCO", "CCN", "CCC"]), cache_dir=tmp_path)
    assert len(rebuilt) == 3


def test_truncated_store_is_rejected(tmp_path):
    store, _ = build_store(_chunks(["CCO", "CCN"]), tmp_path / "s")
    path = store.directory / "atom_code.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CacheError, match="truncated"):
        GraphStore.open(store.directory)


def test_featurized_chunk_roundtrip_matches_direct_featurization():
    feats = featurize_smiles(["CCO", "c1ccccc1"])
    assert feats.num_atoms.tolist() == [3, 6]
    assert feats.num_bonds.tolist() == [2, 6]


def test_batches_feed_ogb_atom_and_bond_encoders(tmp_path):
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

    store, _ = build_store(_chunks(OGB_SAFE), tmp_path / "s")
    (batch,) = list(GraphLoader(store, batch_size=len(store)).iter_epoch(0))
    atoms = AtomEncoder(8)(batch.graph.x)
    bonds = BondEncoder(8)(batch.graph.edge_attr)
    assert atoms.shape == (batch.graph.num_nodes, 8) and bonds.shape == (batch.graph.num_edges, 8)
