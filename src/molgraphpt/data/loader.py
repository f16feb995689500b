"""Batches from a :class:`GraphStore`, collated by vectorized numpy instead of per-graph objects.

:class:`GraphLoader` implements the training loop's ``BatchSource`` protocol: the order of an
epoch's batches is a pure function of ``(seed, epoch)``, and ``iter_epoch(epoch, start=k)`` skips
the first ``k`` batches, which is how an interrupted run resumes exactly. Under
``torch.distributed`` each rank takes every ``world_size``-th molecule of the epoch's permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.pyg import decoded_to_batch
from molgraphpt.data.store import GraphStore
from molgraphpt.errors import ConfigError
from molgraphpt.seed import derive_seed


class GraphLoader:
    """Iterate over a subset of a store in batches of :class:`MolTextBatch`.

    Args:
        store: The featurized molecules.
        indices: Positions in ``store`` to iterate over ``[num_items]`` (all when None).
        batch_size: Molecules per batch.
        shuffle: Shuffle every epoch (seeded by ``(seed, epoch)``).
        seed: Base seed of the shuffling.
        drop_last: Drop the last incomplete batch.
        num_workers: Collate in this many background processes (0 = in the calling process).
        with_labels: Attach ``y`` ``[batch_size, num_tasks]`` from the store's labels.
        rank: This process's rank under DDP.
        world_size: Number of DDP processes.

    Raises:
        ConfigError: ``batch_size`` is below 1, or an index is outside the store.
    """

    def __init__(
        self,
        store: GraphStore,
        indices: np.ndarray | None = None,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        with_labels: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("batch_size", batch_size, expected="an integer >= 1")
        self.store = store
        self.indices = np.arange(len(store)) if indices is None else np.asarray(indices, np.int64)
        outside = (self.indices < 0) | (self.indices >= len(store))
        if outside.any():  # a clear error now, not an IndexError in the middle of an epoch
            raise ConfigError(
                "indices",
                int(self.indices[outside][0]),
                expected=f"positions in [0, {len(store)}) of the store at {store.directory}",
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.with_labels = with_labels and store.labels is not None
        self.rank, self.world_size = rank, world_size

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        order = self.indices
        if self.shuffle:
            rng = np.random.default_rng(derive_seed(self.seed, "epoch", epoch))
            order = order[rng.permutation(len(order))]
        if self.world_size > 1:
            # Pad so every rank gets the same number of batches (as DistributedSampler does).
            per_rank = -(-len(order) // self.world_size)
            order = np.resize(order, per_rank * self.world_size)[self.rank :: self.world_size]
        return order

    def _batches(self, epoch: int) -> list[np.ndarray]:
        order = self._epoch_indices(epoch)
        stops = range(0, len(order), self.batch_size)
        batches = [order[i : i + self.batch_size] for i in stops]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        elif len(batches) > 1 and len(batches[-1]) == 1:
            # A one-molecule batch can be a one-atom graph, on which BatchNorm cannot train
            # (OGB's loop skips such batches); merging it into the previous batch loses nothing.
            batches[-2:] = [np.concatenate(batches[-2:])]
        return batches

    def num_batches(self, epoch: int = 0) -> int:
        """Number of batches in ``epoch``."""
        return len(self._batches(epoch))

    def __len__(self) -> int:
        return self.num_batches(0)

    def collate(self, index: np.ndarray) -> MolTextBatch:
        """Build the batch of store positions ``index`` ``[batch_size]``."""
        labels = self.store.labels
        y = np.asarray(labels[index]) if self.with_labels and labels is not None else None
        graph = decoded_to_batch(self.store.decode(index), y)
        return MolTextBatch(
            graph=graph,
            y=graph.y if y is not None else None,
            index=torch.from_numpy(np.array(index, dtype=np.int64)),
        )

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[MolTextBatch]:
        """Yield the batches of ``epoch``, skipping the first ``start``."""
        batches = self._batches(epoch)[start:]
        if self.num_workers <= 0:
            for index in batches:
                yield self.collate(index)
            return
        loader = torch.utils.data.DataLoader(
            _IndexBatches(batches, self),
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=_identity,
            persistent_workers=False,
            prefetch_factor=4,
        )
        yield from loader

    def __iter__(self) -> Iterator[MolTextBatch]:
        return self.iter_epoch(0)


def _identity(item: Any) -> Any:
    return item


class _IndexBatches(torch.utils.data.Dataset):
    def __init__(self, batches: list[np.ndarray], loader: GraphLoader) -> None:
        self.batches = batches
        self.loader = loader

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> MolTextBatch:
        return self.loader.collate(self.batches[i])
