"""The batch type every objective and the training loop consume."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.errors import ShapeError

#: Key of precomputed pooled text vectors ``[batch, hidden]`` in ``MolTextBatch.text``.
TEXT_FEATURES_KEY = "pooled"


@dataclass
class MolTextBatch:
    """A batch of molecules (as a PyG ``Batch``), optional texts and optional labels.

    Attributes:
        graph: PyG batch with ``x`` [num_nodes, 9], ``edge_index`` [2, num_edges],
            ``edge_attr`` [num_edges, 3] (int64, OGB vocabularies) and ``batch`` [num_nodes].
        text: Tokenized text (``input_ids``, ``attention_mask``: [batch_size, seq_len]) and/or
            precomputed pooled text vectors (``"pooled"``: [batch_size, hidden]), or None.
        y: Labels ``[batch_size, num_tasks]`` float32, NaN where missing, or None.
        index: Dataset indices of the molecules ``[batch_size]`` (int64), or None.
        meta: Anything else a collator wants to pass along.
    """

    graph: Batch | None = None
    text: dict[str, Tensor] | None = None
    y: Tensor | None = None
    index: Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def require(self, name: str) -> Any:
        """Return field ``name`` or raise a clear error if this batch does not carry it."""
        value = getattr(self, name)
        if value is None:
            raise ShapeError(
                f"this objective needs batch.{name}, but the batch has none: use a dataset "
                f"that provides {name!r} (e.g. labels for supervised tasks, texts for text tasks)"
            )
        return value

    @property
    def num_graphs(self) -> int:
        """Number of molecules in the batch."""
        return int(self.graph.num_graphs) if self.graph is not None else len(self.y)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MolTextBatch:
        """Move every tensor to ``device``."""
        graph = self.graph.to(device, non_blocking=non_blocking) if self.graph is not None else None
        text = (
            {k: v.to(device, non_blocking=non_blocking) for k, v in self.text.items()}
            if self.text is not None
            else None
        )
        y = self.y.to(device, non_blocking=non_blocking) if self.y is not None else None
        return replace(self, graph=graph, text=text, y=y)
