"""GraphLoader: seeded order, exact skip for resume, DDP sharding, workers."""

from __future__ import annotations

import numpy as np
import torch

from molgraphpt.data.cache import Chunk, build_store
from molgraphpt.data.loader import GraphLoader

SMILES = ["C" * (i % 7 + 1) for i in range(23)]


def _store(tmp_path):
    labels = np.arange(23, dtype=np.float32)[:, None]
    chunk = Chunk(rows=np.arange(23), smiles=SMILES, labels=labels)
    store, _ = build_store([chunk], tmp_path / "s", num_tasks=1)
    return store


def _order(loader, epoch, start=0):
    return [b.index.tolist() for b in loader.iter_epoch(epoch, start)]


def test_order_is_function_of_seed_and_epoch(tmp_path):
    store = _store(tmp_path)
    a = GraphLoader(store, batch_size=5, shuffle=True, seed=3)
    b = GraphLoader(store, batch_size=5, shuffle=True, seed=3)
    assert _order(a, 0) == _order(b, 0)
    assert _order(a, 0) != _order(a, 1)
    assert _order(a, 1, start=2) == _order(a, 1)[2:]
    assert sorted(sum(_order(a, 0), [])) == list(range(23))
    assert a.num_batches(0) == 5 and len(_order(a, 0)) == 5


def test_labels_follow_indices(tmp_path):
    store = _store(tmp_path)
    for batch in GraphLoader(store, batch_size=4, shuffle=True, seed=0).iter_epoch(2):
        assert torch.equal(batch.y[:, 0], batch.index.float())


def test_drop_last_and_sharding(tmp_path):
    store = _store(tmp_path)
    assert GraphLoader(store, batch_size=5, drop_last=True).num_batches(0) == 4
    shards = [
        GraphLoader(store, batch_size=4, shuffle=True, seed=1, rank=r, world_size=2)
        for r in range(2)
    ]
    seen = [sum(_order(s, 0), []) for s in shards]
    assert len(seen[0]) == len(seen[1]) == 12
    assert set(seen[0]) | set(seen[1]) == set(range(23))


def test_workers_give_same_batches(tmp_path):
    store = _store(tmp_path)
    plain = GraphLoader(store, batch_size=6, shuffle=True, seed=0)
    workers = GraphLoader(store, batch_size=6, shuffle=True, seed=0, num_workers=2)
    for a, b in zip(plain.iter_epoch(1), workers.iter_epoch(1)):
        assert torch.equal(a.graph.x, b.graph.x) and torch.equal(a.index, b.index)


def test_trailing_single_molecule_batch_is_merged(tmp_path):
    store = _store(tmp_path)  # 23 molecules
    loader = GraphLoader(store, batch_size=11, shuffle=True, seed=0)
    sizes = [len(b) for b in _order(loader, 0)]
    assert sizes == [11, 12] and loader.num_batches(0) == 2
