"""Batches of tokenized relation examples, and the loader the training loop reads them from.

The token ids come from the model's tokenizer (``RelationModel.encode`` in the recipe); this
module only pads and batches them, so the data layer does not import the models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from molgraphpt.errors import ShapeError

__all__ = ["RelationBatch", "RelationLoader"]


@dataclass
class RelationBatch:
    """Padded sentences with the positions of their two entity start markers.

    Attributes:
        input_ids: ``[batch, seq_len]`` int64.
        attention_mask: ``[batch, seq_len]`` int64, 0 on padding.
        head_pos: ``[batch]`` position of the head start marker.
        tail_pos: ``[batch]`` position of the tail start marker.
        y: ``[batch]`` int64 label ids, or None.
        index: ``[batch]`` example indices in their split.
    """

    input_ids: Tensor
    attention_mask: Tensor
    head_pos: Tensor
    tail_pos: Tensor
    y: Tensor | None
    index: Tensor

    @property
    def num_graphs(self) -> int:
        """Number of sentences (the loop's throughput counts this)."""
        return len(self.input_ids)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> RelationBatch:
        """Every tensor moved to ``device``."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return RelationBatch(
            self.input_ids.to(device, non_blocking=non_blocking),
            self.attention_mask.to(device, non_blocking=non_blocking),
            self.head_pos.to(device, non_blocking=non_blocking),
            self.tail_pos.to(device, non_blocking=non_blocking),
            move(self.y),
            self.index,
        )


class RelationLoader:
    """Batches over tokenized sentences; a :class:`~molgraphpt.training.loop.BatchSource`.

    The order of an epoch is a pure function of ``(seed, epoch)``, so a resumed run sees the same
    batches.

    Args:
        input_ids: One list of token ids per sentence.
        head_pos: Head start-marker position of each.
        tail_pos: Tail start-marker position of each.
        labels: Label id of each, or None.
        batch_size: Sentences per batch.
        pad_id: Padding token id.
        shuffle: Shuffle every epoch.
        seed: Seed of the shuffling.

    Raises:
        ShapeError: The lists differ in length, or ``batch_size`` < 1.
    """

    def __init__(
        self,
        input_ids: Sequence[Sequence[int]],
        head_pos: Sequence[int],
        tail_pos: Sequence[int],
        labels: Sequence[int] | None,
        *,
        batch_size: int,
        pad_id: int = 0,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        n = len(input_ids)
        if len(head_pos) != n or len(tail_pos) != n or (labels is not None and len(labels) != n):
            raise ShapeError("input_ids, head_pos, tail_pos and labels must have equal lengths")
        if batch_size < 1:
            raise ShapeError(f"batch_size must be >= 1, got {batch_size}")
        self.input_ids = [list(ids) for ids in input_ids]
        self.head_pos = np.asarray(head_pos, dtype=np.int64)
        self.tail_pos = np.asarray(tail_pos, dtype=np.int64)
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.shuffle = shuffle
        self.seed = seed

    def __len__(self) -> int:
        return len(self.input_ids)

    def num_batches(self, epoch: int = 0) -> int:
        """Batches per epoch."""
        return -(-len(self) // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Example indices of ``epoch`` in batch order."""
        if not self.shuffle:
            return np.arange(len(self))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self))

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[RelationBatch]:
        """The batches of ``epoch``, skipping the first ``start``."""
        order = self.order(epoch)
        for b in range(start, self.num_batches(epoch)):
            yield self.batch(order[b * self.batch_size : (b + 1) * self.batch_size])

    def batch(self, indices: np.ndarray) -> RelationBatch:
        """The padded batch of ``indices``."""
        rows = [self.input_ids[i] for i in indices]
        width = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, row in enumerate(rows):
            ids[j, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[j, : len(row)] = 1
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return RelationBatch(
            ids,
            mask,
            torch.from_numpy(self.head_pos[indices]),
            torch.from_numpy(self.tail_pos[indices]),
            None if self.labels is None else torch.from_numpy(self.labels[indices]),
            index,
        )
