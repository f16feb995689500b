"""The batch type every objective and the training loop consume.

The text side of a batch has one typed contract, :class:`TextInputs`, decided by the collator
(:class:`~molgraphpt.data.text.PairLoader`): word tokens (:class:`TextTokens`), SMILES BPE tokens
(another :class:`TextTokens`) and/or a frozen text encoder's cached pooled vectors. Objectives
read it through :meth:`MolTextBatch.text_tokens`, :meth:`MolTextBatch.smiles_tokens` and
:meth:`MolTextBatch.pooled_text`, which say what a batch lacks and how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.errors import ShapeError

__all__ = ["MolTextBatch", "TextInputs", "TextTokens"]

#: How to get each part of :class:`TextInputs`, for the errors of the accessors.
_HOW_TO_GET = {
    "tokens": "build the PairLoader with a text tokenizer (moltext.text_features: online when "
    "the run would otherwise serve cached text vectors)",
    "smiles": "build the PairLoader with the model's smiles_tokenizer (set smiles_tokenizer "
    "in the run config)",
    "pooled": "build the PairLoader with text_features (a frozen text encoder's cached pooled "
    "outputs, moltext.text_features: cached or auto)",
}


@dataclass(frozen=True)
class TextTokens:
    """Token ids of a batch of texts (or of SMILES strings), padded on the right.

    Attributes:
        input_ids: ``[batch, seq_len]`` int64 token ids.
        attention_mask: ``[batch, seq_len]`` int64, 1 on real tokens and 0 on padding.

    Raises:
        ShapeError: ``input_ids`` is not 2-D or ``attention_mask`` has another shape.
    """

    input_ids: Tensor
    attention_mask: Tensor

    def __post_init__(self) -> None:
        if self.input_ids.dim() != 2 or self.attention_mask.shape != self.input_ids.shape:
            raise ShapeError(
                f"text tokens need input_ids and attention_mask of one shape [batch, seq_len], "
                f"got {tuple(self.input_ids.shape)} and {tuple(self.attention_mask.shape)}"
            )

    def __len__(self) -> int:
        return int(self.input_ids.size(0))

    def as_dict(self) -> dict[str, Tensor]:
        """``{"input_ids", "attention_mask"}``, the mapping the text encoder's helpers take."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TextTokens:
        """Both tensors moved to ``device``."""
        return TextTokens(
            self.input_ids.to(device, non_blocking=non_blocking),
            self.attention_mask.to(device, non_blocking=non_blocking),
        )


@dataclass(frozen=True)
class TextInputs:
    """The text side of a :class:`MolTextBatch`: at least one of three parts, same batch size.

    Attributes:
        tokens: The texts' word tokens (``[batch, seq_len]``), or None.
        smiles: The molecules' SMILES BPE tokens (``[batch, smiles_len]``, KV-PLM), or None.
        pooled: Cached pooled text vectors ``[batch, hidden]`` float32 (a frozen text
            encoder's outputs, used instead of running it), or None.

    Raises:
        ShapeError: No part is given, ``pooled`` is not 2-D, or the parts' batch sizes differ.
    """

    tokens: TextTokens | None = None
    smiles: TextTokens | None = None
    pooled: Tensor | None = None

    def __post_init__(self) -> None:
        if self.tokens is None and self.smiles is None and self.pooled is None:
            raise ShapeError("TextInputs needs text tokens, SMILES tokens or pooled vectors")
        if self.pooled is not None and self.pooled.dim() != 2:
            raise ShapeError(
                f"pooled text vectors must be [batch, hidden], got {tuple(self.pooled.shape)}"
            )
        sizes = {name: len(getattr(self, name)) for name in self.carried}
        if len(set(sizes.values())) > 1:
            raise ShapeError(f"the parts of TextInputs have different batch sizes: {sizes}")

    @property
    def carried(self) -> tuple[str, ...]:
        """Names of the parts present, among ``"tokens"``, ``"smiles"`` and ``"pooled"``."""
        parts = ("tokens", "smiles", "pooled")
        return tuple(name for name in parts if getattr(self, name) is not None)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TextInputs:
        """Every part moved to ``device``."""
        return TextInputs(
            tokens=None if self.tokens is None else self.tokens.to(device, non_blocking),
            smiles=None if self.smiles is None else self.smiles.to(device, non_blocking),
            pooled=(
                None if self.pooled is None else self.pooled.to(device, non_blocking=non_blocking)
            ),
        )


@dataclass
class MolTextBatch:
    """A batch of molecules (as a PyG ``Batch``), optional texts and optional labels.

    Attributes:
        graph: PyG batch with ``x`` [num_nodes, 9], ``edge_index`` [2, num_edges],
            ``edge_attr`` [num_edges, 3] (int64, OGB vocabularies) and ``batch`` [num_nodes].
        text: The text side (:class:`TextInputs`), or None. Read it with :meth:`text_tokens`,
            :meth:`smiles_tokens` and :meth:`pooled_text`.
        y: Labels ``[batch_size, num_tasks]`` float32, NaN where missing, or None.
        index: Dataset indices of the molecules ``[batch_size]`` (int64), or None.
        meta: Anything else a collator wants to pass along.
    """

    graph: Batch | None = None
    text: TextInputs | None = None
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

    def text_tokens(self) -> TextTokens:
        """The texts' word tokens ``[batch, seq_len]``.

        Raises:
            ShapeError: The batch has no text, or no word tokens (e.g. only cached vectors).
        """
        return self._text_part("tokens", "text tokens")

    def smiles_tokens(self) -> TextTokens:
        """The molecules' SMILES BPE tokens ``[batch, smiles_len]``.

        Raises:
            ShapeError: The batch has no text, or no SMILES tokens.
        """
        return self._text_part("smiles", "SMILES tokens")

    def pooled_text(self) -> Tensor:
        """The cached pooled text vectors ``[batch, hidden]``.

        Raises:
            ShapeError: The batch has no text, or no pooled vectors.
        """
        return self._text_part("pooled", "pooled text vectors")

    def _text_part(self, part: str, what: str) -> Any:
        text = self.require("text")
        value = getattr(text, part)
        if value is None:
            raise ShapeError(
                f"this objective needs {what} in batch.text, which carries only "
                f"{', '.join(text.carried)}: "
                f"{_HOW_TO_GET[part]}"
            )
        return value

    @property
    def num_graphs(self) -> int:
        """Number of molecules in the batch."""
        return int(self.graph.num_graphs) if self.graph is not None else len(self.y)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MolTextBatch:
        """Move every tensor to ``device``."""
        graph = self.graph.to(device, non_blocking=non_blocking) if self.graph is not None else None
        text = self.text.to(device, non_blocking) if self.text is not None else None
        y = self.y.to(device, non_blocking=non_blocking) if self.y is not None else None
        return replace(self, graph=graph, text=text, y=y)
