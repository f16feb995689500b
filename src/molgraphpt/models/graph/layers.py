"""Building blocks shared by the graph encoders: input embeddings, MLPs, virtual node, JK, readout.

Atom and bond features are OGB-compatible categorical indices (:mod:`molgraphpt.chem.features`),
embedded as a sum of one ``nn.Embedding`` per column, exactly like OGB's ``AtomEncoder`` /
``BondEncoder``. The atom table has one extra row in column 0 for
:data:`~molgraphpt.chem.features.MASK_ATOM_TYPE`, so attribute masking can feed masked atoms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.nn.aggr import AttentionalAggregation

from molgraphpt.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, MASK_ATOM_TYPE
from molgraphpt.errors import ConfigError, ShapeError

#: Per-column vocabulary sizes of the atom embedding: OGB's, plus the mask token in column 0.
ATOM_EMBEDDING_DIMS: tuple[int, ...] = (
    max(ATOM_FEATURE_DIMS[0], MASK_ATOM_TYPE + 1),
    *ATOM_FEATURE_DIMS[1:],
)


class CategoricalEmbedding(nn.Module):
    """Sum of per-column embeddings of integer features (OGB ``AtomEncoder`` / ``BondEncoder``).

    Args:
        dims: Vocabulary size of each column.
        hidden_dim: Embedding width.
    """

    def __init__(self, dims: Sequence[int], hidden_dim: int) -> None:
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self.embeddings = nn.ModuleList(nn.Embedding(d, hidden_dim) for d in self.dims)
        for embedding in self.embeddings:
            nn.init.xavier_uniform_(embedding.weight)

    def forward(self, features: Tensor) -> Tensor:
        """Embed categorical features.

        Args:
            features: Integer indices ``[num_items, num_columns]``; column ``i`` in
                ``[0, dims[i])``.

        Returns:
            Embeddings ``[num_items, hidden_dim]``.

        Raises:
            ShapeError: ``features`` is not a 2-D integer tensor with ``len(dims)`` columns.
        """
        if features.dim() != 2 or features.size(1) != len(self.dims):
            raise ShapeError(
                f"expected categorical features of shape [num_items, {len(self.dims)}], got "
                f"{list(features.shape)}; featurize with molgraphpt.chem.features (OGB vocabulary)"
            )
        if features.is_floating_point() or features.dtype == torch.bool:
            raise ShapeError(
                f"expected integer categorical features, got dtype {features.dtype}; "
                "float node features (e.g. from PyG's from_smiles) are not supported"
            )
        out = self.embeddings[0](features[:, 0])
        for column, embedding in enumerate(self.embeddings[1:], start=1):
            out = out + embedding(features[:, column])
        return out


def atom_embedding(hidden_dim: int) -> CategoricalEmbedding:
    """Atom embedding over :data:`ATOM_EMBEDDING_DIMS` (OGB vocabulary + mask token)."""
    return CategoricalEmbedding(ATOM_EMBEDDING_DIMS, hidden_dim)


def bond_embedding(hidden_dim: int) -> CategoricalEmbedding:
    """Bond embedding over OGB's :data:`~molgraphpt.chem.features.BOND_FEATURE_DIMS`."""
    return CategoricalEmbedding(BOND_FEATURE_DIMS, hidden_dim)


def norm_layer(dim: int, batch_norm: bool) -> nn.Module:
    """``BatchNorm1d(dim)``, or the identity when ``batch_norm`` is false."""
    return nn.BatchNorm1d(dim) if batch_norm else nn.Identity()


def gin_mlp(hidden_dim: int, batch_norm: bool = True) -> nn.Sequential:
    """MLP of a GIN layer: ``Linear(h, 2h) - BatchNorm1d(2h) - ReLU - Linear(2h, h)`` (OGB)."""
    return nn.Sequential(
        nn.Linear(hidden_dim, 2 * hidden_dim),
        norm_layer(2 * hidden_dim, batch_norm),
        nn.ReLU(),
        nn.Linear(2 * hidden_dim, hidden_dim),
    )


class VirtualNode(nn.Module):
    """Virtual node of OGB's ``GNN_node_Virtualnode`` (one per graph, linked to all its atoms).

    Its state starts from a learned embedding initialised to zero. Before layer ``l`` it is added to
    every atom; after layer ``l < L - 1`` it is updated from the sum of the atom states that were
    fed to layer ``l`` by ``Linear(h, 2h) - BN - ReLU - Linear(2h, h) - BN - ReLU`` and dropout.

    Args:
        hidden_dim: Node width ``h``.
        num_layers: Number of message-passing layers ``L`` (there are ``L - 1`` updates).
        dropout: Dropout after each update.
        residual: Add the update to the previous state instead of replacing it.
        batch_norm: Use ``BatchNorm1d`` in the update MLPs.
    """

    def __init__(
        self, hidden_dim: int, num_layers: int, dropout: float, residual: bool, batch_norm: bool
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.residual = residual
        self.embedding = nn.Embedding(1, hidden_dim)
        nn.init.zeros_(self.embedding.weight)
        self.mlps = nn.ModuleList(
            nn.Sequential(
                nn.Linear(hidden_dim, 2 * hidden_dim),
                norm_layer(2 * hidden_dim, batch_norm),
                nn.ReLU(),
                nn.Linear(2 * hidden_dim, hidden_dim),
                norm_layer(hidden_dim, batch_norm),
                nn.ReLU(),
            )
            for _ in range(num_layers - 1)
        )

    def initial(self, num_graphs: int) -> Tensor:
        """Initial virtual-node states ``[num_graphs, hidden_dim]``."""
        return self.embedding.weight.expand(num_graphs, -1)

    def update(self, layer: int, node: Tensor, state: Tensor, batch: Tensor) -> Tensor:
        """Virtual-node states after layer ``layer``.

        Args:
            layer: Index of the layer just computed (``< num_layers - 1``).
            node: Atom states fed to that layer (virtual node already added)
                ``[num_nodes, hidden_dim]``.
            state: Current virtual-node states ``[num_graphs, hidden_dim]``.
            batch: Graph index of each atom ``[num_nodes]``.

        Returns:
            New virtual-node states ``[num_graphs, hidden_dim]``.
        """
        pooled = global_add_pool(node, batch, size=state.size(0)) + state
        update = F.dropout(self.mlps[layer](pooled), self.dropout, self.training)
        return state + update if self.residual else update


def combine_layers(layers: Sequence[Tensor], jk: str) -> Tensor:
    """Jumping-knowledge combination of node states.

    Args:
        layers: ``[h_0, h_1, ..., h_L]``, each ``[num_nodes, hidden_dim]``; ``h_0`` is the input
            embedding. ``"sum"``, ``"cat"`` and ``"max"`` use all of them (Hu et al. 2020).
        jk: ``"last"``, ``"sum"``, ``"cat"`` or ``"max"``.

    Returns:
        Node representations ``[num_nodes, hidden_dim]``, or ``[num_nodes, (L + 1) * hidden_dim]``
        for ``"cat"``.
    """
    if jk == "last":
        return layers[-1]
    if jk == "sum":
        return torch.stack(list(layers), dim=0).sum(dim=0)
    if jk == "cat":
        return torch.cat(list(layers), dim=-1)
    if jk == "max":
        return torch.stack(list(layers), dim=0).amax(dim=0)
    raise ConfigError("model.graph.jk", jk, expected="one of last, sum, cat, max")


class Readout(nn.Module):
    """Graph-level pooling of node representations.

    Args:
        kind: ``"mean"``, ``"sum"``, ``"max"`` or ``"attention"``. ``"attention"`` is PyG's
            ``AttentionalAggregation`` with a ``Linear(dim, 1)`` gate (softmax over each graph's
            nodes, then a weighted sum).
        dim: Width of the node representations (only used by ``"attention"``).
    """

    def __init__(self, kind: str, dim: int) -> None:
        super().__init__()
        if kind not in ("mean", "sum", "max", "attention"):
            raise ConfigError(
                "model.graph.readout", kind, expected="one of mean, sum, max, attention"
            )
        self.kind = kind
        self.attention = AttentionalAggregation(nn.Linear(dim, 1)) if kind == "attention" else None

    def forward(self, node: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Pool ``node`` ``[num_nodes, dim]`` into ``[num_graphs, dim]`` by graph ``batch``."""
        if self.attention is not None:
            return self.attention(node, index=batch, dim_size=num_graphs)
        if self.kind == "mean":
            return global_mean_pool(node, batch, size=num_graphs)
        if self.kind == "sum":
            return global_add_pool(node, batch, size=num_graphs)
        return global_max_pool(node, batch, size=num_graphs)

    def extra_repr(self) -> str:  # noqa: D102
        return f"kind={self.kind!r}"
