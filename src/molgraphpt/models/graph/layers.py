"""Building blocks shared by the graph encoders: input embeddings, MLPs, virtual node, JK, readout.

Atom and bond features are OGB-compatible categorical indices (:mod:`molgraphpt.chem.features`),
embedded as a sum of one ``nn.Embedding`` per column, exactly like OGB's ``AtomEncoder`` /
``BondEncoder``. The atom table has one extra row in column 0 for
:data:`~molgraphpt.chem.features.MASK_ATOM_TYPE`, so attribute masking can feed masked atoms.
"""

from __future__ import annotations

import functools
import math
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


#: Columns whose vocabulary sizes multiply to at most this many combinations are embedded through
#: a table of every combination (OGB's 3 bond columns: 5 * 6 * 2 = 60 rows).
PRODUCT_TABLE_MAX_ROWS = 1024


class CategoricalEmbedding(nn.Module):
    """Sum of per-column embeddings of integer features (OGB ``AtomEncoder`` / ``BondEncoder``).

    The parameters are one ``nn.Embedding`` per column, as in OGB (same state-dict keys); only the
    way the sum is computed is chosen for speed, with the same result (see :meth:`forward`).

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
        dims_t = torch.tensor(self.dims, dtype=torch.long)
        # Non-persistent: derived from ``dims``, so they stay out of the state dict.
        self.register_buffer("_dims", dims_t, persistent=False)
        # First row of each column in the concatenated table (the embedding-bag path) ...
        self.register_buffer("_offsets", torch.cumsum(dims_t, 0) - dims_t, persistent=False)
        # ... and the mixed-radix place value of each column (the product-table path).
        radix = torch.ones_like(dims_t)
        for i in range(len(self.dims) - 2, -1, -1):
            radix[i] = radix[i + 1] * dims_t[i + 1]
        self.register_buffer("_radix", radix, persistent=False)
        self.use_product_table = math.prod(self.dims) <= PRODUCT_TABLE_MAX_ROWS

    def forward(self, features: Tensor) -> Tensor:
        """Embed categorical features.

        Equal to ``sum_i embeddings[i](features[:, i])`` summed left to right, as OGB does, but
        computed with one lookup instead of one per column (a speed trick, same values):

        * few combinations (the bond columns): a table of every combination
          ``e_0[a] + e_1[b] + e_2[c]`` (``prod(dims)`` rows, built by broadcasting in the same
          order) is indexed by the mixed-radix code of each row (:meth:`encode`). Its gradient
          flows back into the per-column tables through the broadcast sums. This is
          bit-identical to the column sum.
        * otherwise (the atom columns): ``F.embedding_bag(mode="sum")`` over the concatenated
          tables with per-column offsets, one kernel forward and backward instead of 9 + 8 adds.

        Out-of-range values are mapped to index ``-1`` so they still raise (as separate lookups
        would) instead of silently reading another column's row.

        Args:
            features: Integer indices ``[num_items, num_columns]``; column ``i`` in
                ``[0, dims[i])``. With a product table, also the codes ``[num_items]`` returned
                by :meth:`encode` (so that several layers encode a batch's bonds once).

        Returns:
            Embeddings ``[num_items, hidden_dim]``.

        Raises:
            ShapeError: ``features`` is not a 2-D integer tensor with ``len(dims)`` columns.
            IndexError: A value is out of its column's range (``RuntimeError`` on the bag path).
        """
        if features.dim() == 1 and self.use_product_table and _is_integer(features):
            return F.embedding(features, self.product_table())
        self._check(features)
        if len(self.dims) == 1:
            return self.embeddings[0](features[:, 0])
        if self.use_product_table:
            return F.embedding(self.encode(features), self.product_table())
        valid = ((features >= 0) & (features < self._dims)).all(dim=1, keepdim=True)
        index = torch.where(valid, features + self._offsets, -1)
        weight = torch.cat([embedding.weight for embedding in self.embeddings])
        return F.embedding_bag(index, weight, mode="sum")

    def encode(self, features: Tensor) -> Tensor:
        """Row of :meth:`product_table` of each item ``[num_items]`` (int64, -1 if out of range).

        Args:
            features: Integer indices ``[num_items, num_columns]``.

        Raises:
            ShapeError: ``features`` has the wrong shape or dtype.
            ValueError: This embedding has too many combinations for a product table.
        """
        self._check(features)
        if not self.use_product_table:
            raise ValueError(f"{math.prod(self.dims)} combinations: no product table")
        valid = ((features >= 0) & (features < self._dims)).all(dim=1)
        return torch.where(valid, (features * self._radix).sum(dim=1), -1)

    def _check(self, features: Tensor) -> None:
        if features.dim() != 2 or features.size(1) != len(self.dims):
            raise ShapeError(
                f"expected categorical features of shape [num_items, {len(self.dims)}], got "
                f"{list(features.shape)}; featurize with molgraphpt.chem.features (OGB vocabulary)"
            )
        if not _is_integer(features):
            raise ShapeError(
                f"expected integer categorical features, got dtype {features.dtype}; "
                "float node features (e.g. from PyG's from_smiles) are not supported"
            )

    def product_table(self) -> Tensor:
        """Embedding of every combination of column values ``[prod(dims), hidden_dim]``.

        Row ``sum_i v_i * radix_i`` (mixed radix, last column fastest) holds
        ``((e_0[v_0] + e_1[v_1]) + e_2[v_2]) + ...``.
        """
        table = self.embeddings[0].weight
        for embedding in self.embeddings[1:]:
            table = (table.unsqueeze(1) + embedding.weight.unsqueeze(0)).flatten(0, 1)
        return table


def _is_integer(tensor: Tensor) -> bool:
    return not tensor.is_floating_point() and tensor.dtype != torch.bool


@functools.lru_cache(maxsize=8)
def _byte_masks(scale: float, dtype: torch.dtype) -> Tensor:
    """``[256, 8]``: row ``b`` holds the 8 bits of ``b`` (lowest first) times ``scale``."""
    bits = (torch.arange(256).unsqueeze(1) >> torch.arange(8)) & 1
    return (bits * scale).to(dtype)


def dropout(x: Tensor, p: float, training: bool, *, inplace: bool = False) -> Tensor:
    """``F.dropout(x, p, training)`` with a cheaper random mask on CPU.

    Same distribution: each entry is kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)``; only the random stream differs. On CPU, ``bernoulli_`` draws one Mersenne
    Twister number per entry (about 10 ns each, ~12% of a GIN-VN training step). For ``p = 0.5``
    every random bit is a fair coin, so this draws one uniform byte per 8 entries and looks the
    scaled mask of its 8 bits up in a 256-row table (one gather instead of shift / and / cast /
    scale passes); other ``p`` compare a ``torch.rand`` uniform with ``p``. Other devices use
    ``F.dropout`` (a fused kernel there).

    Args:
        x: Input of any shape.
        p: Drop probability in ``[0, 1)``.
        training: Apply dropout (otherwise return ``x``).
        inplace: Multiply ``x`` in place (allowed when no backward needs the value of ``x``;
            autograd raises if one does).

    Returns:
        Tensor of the shape of ``x``.
    """
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True, inplace)
    if p == 0.5:
        n = x.numel()
        draws = torch.empty(-(-n // 8), dtype=torch.int32).random_(0, 256)  # exactly uniform
        mask = _byte_masks(2.0, x.dtype).index_select(0, draws).view(-1)[:n].view(x.shape)
    else:
        mask = (torch.rand(x.shape) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    # The mask carries no gradient: autograd saves it alone and backward is one multiply.
    return x.mul_(mask) if inplace else x * mask


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
        nn.ReLU(inplace=True),  # on the norm's output, which no backward needs
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
                nn.ReLU(inplace=True),  # in place: see gin_mlp
                nn.Linear(2 * hidden_dim, hidden_dim),
                norm_layer(hidden_dim, batch_norm),
                nn.ReLU(inplace=True),
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
        # Sum of each graph's atoms (index_add_: the same sums as PyG's global_add_pool, without
        # its per-call Python overhead), plus the state, in place.
        pooled = node.new_zeros(state.shape).index_add_(0, batch, node).add_(state)
        update = dropout(self.mlps[layer](pooled), self.dropout, self.training)
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
