"""Shared helpers of the batch transforms: validation, seeded draws, counts, batch assembly.

Private helpers used by the masking, augmentation and context modules (unpacking and checking a
batch, uniform draws from a generator or the global RNG, per-graph counts, rate checks, replacing
atom rows by the mask token), plus the public building blocks :func:`random_rank` (per-graph
sampling without replacement), :func:`make_batch` and :func:`induced_subgraph`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.chem.features import MASK_ATOM_TYPE
from molgraphpt.data.pyg import batch_from_tensors
from molgraphpt.errors import ConfigError, ShapeError


def _parts(graph: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """``x``, ``edge_index``, ``edge_attr``, ``batch`` and the number of graphs of a batch."""
    x, edge_index, edge_attr = graph.x, graph.edge_index, graph.edge_attr
    if x is None or edge_index is None or edge_attr is None:
        raise ShapeError("graph transforms need graph.x, graph.edge_index and graph.edge_attr")
    if edge_index.size(1) % 2:
        raise ShapeError(
            f"edge_index has {edge_index.size(1)} edges: every bond must be stored as two "
            "consecutive directions (i, j), (j, i), as molgraphpt.chem featurizes molecules"
        )
    batch = getattr(graph, "batch", None)
    if batch is None:
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        return x, edge_index, edge_attr, batch, 1
    num_graphs = getattr(graph, "num_graphs", None)
    if not isinstance(num_graphs, int):
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return x, edge_index, edge_attr, batch, num_graphs


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` float64 uniforms in ``[0, 1)`` on ``device`` drawn from ``generator`` (or global)."""
    source = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=source, dtype=torch.float64).to(device)


def _check_rate(name: str, value: float, *, upper_open: bool = True) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        expected = "a float in [0, 1)" if upper_open else "a float in [0, 1]"
        raise ConfigError(name, value, expected=expected)


def _counts(index: Tensor, num_groups: int) -> Tensor:
    return torch.bincount(index, minlength=num_groups)


def random_rank(group: Tensor, num_groups: int, generator: torch.Generator | None) -> Tensor:
    """Position of each element in a uniformly random order of its group ``[num_items]``.

    Elements whose rank is below ``k_g`` are a uniform sample of ``k_g`` elements of group ``g``
    (sampling without replacement in every group at once: two sorts, no loop).

    Args:
        group: Group of each element ``[num_items]`` (int64, in ``[0, num_groups)``).
        num_groups: Number of groups.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        Rank of each element in its group, in ``[0, group size)`` ``[num_items]``.
    """
    u = _uniform(group.numel(), generator, group.device)
    perm = torch.argsort(u)
    perm = perm[torch.argsort(group[perm], stable=True)]  # grouped, random inside each group
    counts = _counts(group, num_groups)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(group)
    rank[perm] = torch.arange(group.numel(), device=group.device) - start[group[perm]]
    return rank


def _scaled_count(n: Tensor, rate: float, plus_one: bool = False) -> Tensor:
    """``floor(n * rate) (+ 1)`` per group, capped at ``n`` (float64, as Python's ``int()``)."""
    count = torch.floor(n.double() * rate).long() + int(plus_one)
    return torch.minimum(count, n)


def _bond_graph(edge_index: Tensor, batch: Tensor) -> Tensor:
    """Graph of each bond ``[num_bonds]`` (from the first direction of the pair)."""
    return batch[edge_index[0, 0::2]]


def _neighbour_any(flag: Tensor, edge_index: Tensor) -> Tensor:
    """Whether each node has an in-neighbour with ``flag`` set ``[num_nodes]`` (bool)."""
    hits = torch.zeros(flag.numel(), dtype=torch.int32, device=flag.device)
    hits.index_add_(0, edge_index[1], flag[edge_index[0]].to(torch.int32))
    return hits > 0


def make_batch(
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor,
    batch: Tensor,
    num_graphs: int,
    like: Batch | None = None,
) -> Batch:
    """Assemble a PyG ``Batch`` from concatenated tensors (edges must be grouped by graph).

    ``ptr`` and the slicing information of ``to_data_list`` are rebuilt (by
    :func:`~molgraphpt.data.pyg.batch_from_tensors`); a graph-level ``y`` of ``like`` is carried
    over.

    Args:
        x: Atom features ``[num_nodes, 9]``.
        edge_index: Bonds ``[2, num_edges]`` (batch-global node indices).
        edge_attr: Bond features ``[num_edges, 3]``.
        batch: Graph of each node ``[num_nodes]``, non-decreasing.
        num_graphs: Number of graphs (graphs may be empty).
        like: Batch whose graph-level ``y`` to copy.

    Returns:
        The batch.
    """
    device = x.device
    node_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    torch.cumsum(_counts(batch, num_graphs), 0, out=node_ptr[1:])
    edge_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    torch.cumsum(_counts(batch[edge_index[0]], num_graphs), 0, out=edge_ptr[1:])
    y = getattr(like, "y", None) if like is not None else None
    if not (isinstance(y, Tensor) and y.size(0) == num_graphs):
        y = None
    return batch_from_tensors(x, edge_index, edge_attr, batch, node_ptr, edge_ptr, y=y)


def induced_subgraph(
    graph: Batch, node_mask: Tensor, edge_mask: Tensor | None = None
) -> tuple[Batch, Tensor]:
    """Keep the nodes of ``node_mask`` and the edges between them (and in ``edge_mask``).

    Args:
        graph: Input batch.
        node_mask: Nodes to keep ``[num_nodes]`` (bool).
        edge_mask: Edges allowed ``[num_edges]`` (bool; both directions of a bond must agree).

    Returns:
        The new batch (same ``num_graphs``) and the new index of every old node ``[num_nodes]``
        (``-1`` for dropped nodes).
    """
    x, edge_index, edge_attr, batch, num_graphs = _parts(graph)
    mapping = torch.cumsum(node_mask.long(), 0) - 1
    mapping = torch.where(node_mask, mapping, torch.full_like(mapping, -1))
    keep_edge = node_mask[edge_index[0]] & node_mask[edge_index[1]]
    if edge_mask is not None:
        keep_edge = keep_edge & edge_mask
    new_edges = mapping[edge_index[:, keep_edge]]
    out = make_batch(
        x[node_mask], new_edges, edge_attr[keep_edge], batch[node_mask], num_graphs, like=graph
    )
    return out, mapping


def _mask_rows(x: Tensor, masked: Tensor, keep_features: bool) -> Tensor:
    """Copy of ``x`` with masked rows set to the mask token (other columns zeroed or kept)."""
    x = x.clone()
    if keep_features:
        x[masked, 0] = MASK_ATOM_TYPE
    else:
        token = torch.zeros(x.size(1), dtype=x.dtype, device=x.device)
        token[0] = MASK_ATOM_TYPE
        x[masked] = token
    return x
