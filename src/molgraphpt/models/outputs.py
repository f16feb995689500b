"""Typed outputs of the encoders (no bare tuples)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class GraphEncoderOutput:
    """Output of a graph encoder.

    Attributes:
        node: Node representations ``[num_nodes, output_dim]``.
        graph: Graph representations ``[num_graphs, output_dim]`` (after readout).
    """

    node: Tensor
    graph: Tensor


@dataclass
class TextEncoderOutput:
    """Output of a text encoder (:class:`~molgraphpt.models.text.TextEncoder`).

    Attributes:
        tokens: Last hidden states ``[batch, seq_len, hidden_size]`` (padding positions included;
            mask them with ``attention_mask``).
        pooled: Sequence representations ``[batch, hidden_size]`` (``[CLS]`` state or the
            mask-aware mean of ``tokens``, per the encoder's ``pooling``).
        attention_mask: ``[batch, seq_len]`` int64, 1 for real tokens and 0 for padding (all ones
            when the caller gave no mask).
    """

    tokens: Tensor
    pooled: Tensor
    attention_mask: Tensor | None = None
