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
