"""Message-passing layers with bond features. Each layer owns its bond embedding (as in OGB).

Every layer maps ``(x [num_nodes, hidden_dim], edge_index [2, num_edges], edge_attr [num_edges, 3]
int64)`` to ``[num_nodes, hidden_dim]``. ``edge_attr`` may also be the bond codes ``[num_edges]`` of
:meth:`~molgraphpt.models.graph.layers.CategoricalEmbedding.encode`, computed once per batch by the
encoder for all layers (layers that accept them say so with ``accepts_bond_codes = True``).
Messages flow from ``edge_index[0]`` (source) to ``edge_index[1]`` (target), PyG's
``source_to_target`` convention; molecular graphs store both directions of every bond.

:class:`GINConv` and :class:`GCNConv` are written with plain ``index_select`` / ``index_add_``
instead of ``MessagePassing.propagate``: the same sums, without PyG's per-call inspection overhead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, GINEConv

from molgraphpt.models.graph.layers import bond_embedding, gin_mlp


def _scatter_sum(messages: Tensor, target: Tensor, num_nodes: int) -> Tensor:
    """Sum ``messages`` ``[num_edges, dim]`` into ``[num_nodes, dim]`` rows given by ``target``."""
    out = messages.new_zeros((num_nodes, messages.size(1)))
    return out.index_add_(0, target, messages)


class GINConv(nn.Module):
    """Edge-aware GIN layer of Hu et al. 2020 (arXiv:1905.12265), as in OGB's example ``conv.py``.

    ``out_i = mlp((1 + eps) * x_i + sum_{j -> i} relu(x_j + bond(e_ji)))`` with a learnable ``eps``
    initialised to 0 and ``mlp = Linear(h, 2h) - BatchNorm1d(2h) - ReLU - Linear(2h, h)``.

    Args:
        hidden_dim: Node width ``h``.
        batch_norm: Use ``BatchNorm1d`` inside the MLP.
    """

    accepts_bond_codes = True  # edge_attr only feeds self.bond_embedding

    def __init__(self, hidden_dim: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.bond_embedding = bond_embedding(hidden_dim)
        self.mlp = gin_mlp(hidden_dim, batch_norm)
        self.eps = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Apply the layer; shapes as in the module docstring."""
        source, target = edge_index[0], edge_index[1]
        # relu(x_j + bond), computed in place on the fresh gather (no backward needs the
        # intermediate values; ReLU keeps its result), which saves two [num_edges, h] buffers.
        messages = x.index_select(0, source).add_(self.bond_embedding(edge_attr)).relu_()
        aggregated = _scatter_sum(messages, target, x.size(0))
        # aggregated + (1 + eps) x: the same sum as OGB's (1 + eps) x + aggregated, in place.
        return self.mlp(aggregated.add_((1 + self.eps) * x))


class GINELayer(nn.Module):
    """PyG ``GINEConv`` with a per-layer bond embedding and the OGB GIN MLP.

    Mathematically the same layer as :class:`GINConv` (``train_eps=True``, eps initialised to 0),
    implemented through ``MessagePassing.propagate``.

    Args:
        hidden_dim: Node width ``h``.
        batch_norm: Use ``BatchNorm1d`` inside the MLP.
    """

    accepts_bond_codes = True  # edge_attr only feeds self.bond_embedding

    def __init__(self, hidden_dim: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.bond_embedding = bond_embedding(hidden_dim)
        self.conv = GINEConv(gin_mlp(hidden_dim, batch_norm), eps=0.0, train_eps=True)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Apply the layer; shapes as in the module docstring."""
        return self.conv(x, edge_index, self.bond_embedding(edge_attr))


class GCNConv(nn.Module):
    """GCN layer with bond features, as OGB's example ``GCNConv``.

    With ``x' = W x + b``, ``deg_i = 1 + out-degree(i)`` and ``norm_ji = deg_j^-1/2 deg_i^-1/2``:
    ``out_i = sum_{j -> i} norm_ji * relu(x'_j + bond(e_ji)) + relu(x'_i + root) / deg_i``, where
    ``root`` is a learned self-loop embedding (``nn.Embedding(1, h)``).

    Args:
        hidden_dim: Node width ``h``.
    """

    accepts_bond_codes = True  # edge_attr only feeds self.bond_embedding

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_dim, hidden_dim)
        self.root_embedding = nn.Embedding(1, hidden_dim)
        self.bond_embedding = bond_embedding(hidden_dim)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Apply the layer; shapes as in the module docstring."""
        x = self.linear(x)
        source, target = edge_index[0], edge_index[1]
        degree = torch.bincount(source, minlength=x.size(0)).to(x.dtype) + 1  # >= 1: no inf
        inv_sqrt = degree.pow(-0.5)
        norm = (inv_sqrt.index_select(0, source) * inv_sqrt.index_select(0, target)).unsqueeze(-1)
        messages = norm * F.relu(x.index_select(0, source) + self.bond_embedding(edge_attr))
        aggregated = _scatter_sum(messages, target, x.size(0))
        return aggregated + F.relu(x + self.root_embedding.weight) / degree.unsqueeze(-1)


class GATLayer(nn.Module):
    """PyG ``GATv2Conv`` (Brody et al. 2022, arXiv:2105.14491) with a per-layer bond embedding.

    The bond embedding is the ``edge_attr`` of ``GATv2Conv`` (``edge_dim=h``); the ``heads`` heads
    of width ``h // heads`` are concatenated. Self-loops are added with the mean of each node's
    incoming bond embeddings as their edge feature (PyG's ``fill_value="mean"``).

    Args:
        hidden_dim: Node width ``h``.
        heads: Number of attention heads (divides ``hidden_dim``).
    """

    accepts_bond_codes = True  # edge_attr only feeds self.bond_embedding

    def __init__(self, hidden_dim: int, heads: int) -> None:
        super().__init__()
        self.bond_embedding = bond_embedding(hidden_dim)
        self.conv = GATv2Conv(
            hidden_dim, hidden_dim // heads, heads=heads, concat=True, edge_dim=hidden_dim
        )

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Apply the layer; shapes as in the module docstring."""
        return self.conv(x, edge_index, self.bond_embedding(edge_attr))
