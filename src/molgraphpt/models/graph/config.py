"""Configuration of the molecular graph encoders, and the registry that maps ``arch`` to a class.

The registry lives next to the config so that :class:`GraphEncoderConfig` can reject an unknown
``arch`` when it is created (with a did-you-mean suggestion), not only when the encoder is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from molgraphpt.errors import ConfigError
from molgraphpt.registry import Registry

if TYPE_CHECKING:
    from torch import nn

#: Graph encoder classes by ``arch`` name. Each takes a :class:`GraphEncoderConfig`.
GRAPH_ENCODERS: Registry[type[nn.Module]] = Registry("graph encoder")

JK_MODES: tuple[str, ...] = ("last", "sum", "cat", "max")
READOUTS: tuple[str, ...] = ("mean", "sum", "max", "attention")


@dataclass(frozen=True)
class GraphEncoderConfig:
    """Architecture of a molecular graph encoder.

    The defaults are the GIN of Hu et al. 2020 (arXiv:1905.12265): 5 layers of width 300, dropout
    0.5, node representation of the last layer, mean readout.

    Args:
        arch: Registered encoder name: ``"gin"`` (edge-aware GIN of Hu et al. / OGB), ``"gine"``
            (PyG ``GINEConv``), ``"gcn"`` (OGB's GCN with bond features) or ``"gat"`` (``GATv2Conv``
            with bond features). Other names can be added with ``GRAPH_ENCODERS.register``.
        hidden_dim: Width of every node representation ``h_0 .. h_L``.
        num_layers: Number of message-passing layers ``L`` (>= 1).
        dropout: Dropout probability applied after every layer, in ``[0, 1)``.
        jk: Jumping-knowledge combination of the layer outputs into the node representation.
            As in Hu et al.'s code, ``"sum"``, ``"cat"`` and ``"max"`` include the input embedding
            ``h_0`` as well as the ``L`` layer outputs; ``"last"`` is ``h_L``.
        readout: Graph-level pooling of node representations: ``"mean"``, ``"sum"``, ``"max"`` or
            ``"attention"`` (gated attention, Li et al. 2016, arXiv:1511.05493).
        virtual_node: Add a virtual node connected to every atom (OGB ``GNN_node_Virtualnode``,
            Gilmer et al. 2017, arXiv:1704.01212).
        residual: Add each layer's input to its output (and, with a virtual node, residual
            virtual-node updates), as OGB's ``residual`` option.
        batch_norm: Use ``BatchNorm1d`` after each layer and inside the MLPs; ``False`` replaces
            every norm with the identity (useful for batches of a single graph in training).
        heads: Number of attention heads of ``"gat"``; ``hidden_dim`` must be divisible by it.
            Ignored by the other architectures.

    Raises:
        ConfigError: A value is out of range.
        UnknownNameError: ``arch`` is not registered in :data:`GRAPH_ENCODERS`.
    """

    arch: Literal["gin", "gine", "gcn", "gat"] = "gin"
    hidden_dim: int = 300
    num_layers: int = 5
    dropout: float = 0.5
    jk: Literal["last", "sum", "cat", "max"] = "last"
    readout: Literal["mean", "sum", "max", "attention"] = "mean"
    virtual_node: bool = False
    residual: bool = False
    batch_norm: bool = True
    heads: int = 4

    def __post_init__(self) -> None:
        key = "model.graph"
        GRAPH_ENCODERS.get(self.arch)  # raises UnknownNameError with suggestions
        _check_int(f"{key}.hidden_dim", self.hidden_dim, minimum=1)
        _check_int(f"{key}.num_layers", self.num_layers, minimum=1)
        _check_int(f"{key}.heads", self.heads, minimum=1)
        dropout_ok = isinstance(self.dropout, (int, float)) and not isinstance(self.dropout, bool)
        if not dropout_ok or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{key}.dropout", self.dropout, expected="a float in [0, 1)")
        if self.jk not in JK_MODES:
            raise ConfigError(f"{key}.jk", self.jk, expected=f"one of {', '.join(JK_MODES)}")
        if self.readout not in READOUTS:
            raise ConfigError(
                f"{key}.readout", self.readout, expected=f"one of {', '.join(READOUTS)}"
            )
        for name in ("virtual_node", "residual", "batch_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{key}.{name}", getattr(self, name), expected="true or false")
        if self.arch == "gat" and self.hidden_dim % self.heads != 0:
            raise ConfigError(
                f"{key}.heads",
                self.heads,
                expected=f"a divisor of hidden_dim={self.hidden_dim}",
                hint="GAT concatenates heads of width hidden_dim // heads.",
            )

    @property
    def output_dim(self) -> int:
        """Width of the node and graph representations the encoder returns.

        ``hidden_dim * (num_layers + 1)`` for ``jk="cat"`` (``h_0`` is concatenated too, as in
        Hu et al.), otherwise ``hidden_dim``.
        """
        if self.jk == "cat":
            return self.hidden_dim * (self.num_layers + 1)
        return self.hidden_dim


def _check_int(key: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(key, value, expected=f"an integer >= {minimum}")
