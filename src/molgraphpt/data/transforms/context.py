"""Node sampling and neighbourhoods: context prediction (Hu et al. 2020) and negative edges.

:func:`sample_centers` draws one center per graph, :func:`hop_distance` runs a batched BFS,
:func:`k_hop_context` extracts the substructure / context pair (:class:`ContextPair`) around the
centers, and :func:`negative_pairs` draws non-bonded atom pairs for edge prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.data.transforms._batch import (
    _counts,
    _neighbour_any,
    _parts,
    _uniform,
    induced_subgraph,
)
from molgraphpt.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class ContextPair:
    """K-hop substructures and their context rings (Hu et al. 2020's context prediction).

    Attributes:
        substructure: Subgraph induced by the nodes within ``k`` hops of each center; all
            ``num_graphs`` graphs are kept.
        center_index: Index of each graph's center in ``substructure`` ``[num_graphs]``.
        context: Subgraph induced by the nodes at ``r1 < hops <= r2`` (graphs may be empty).
        anchor_index: Context nodes that are also in the substructure (``r1 < hops <= k``), as
            indices into ``context`` ``[num_anchors]``.
        anchor_batch: Graph of each anchor ``[num_anchors]``.
        has_context: Whether each graph has at least one anchor ``[num_graphs]`` (bool).
    """

    substructure: Batch
    center_index: Tensor
    context: Batch
    anchor_index: Tensor
    anchor_batch: Tensor
    has_context: Tensor


def sample_centers(graph: Batch, generator: torch.Generator | None = None) -> Tensor:
    """One uniformly random node per graph, as batch-global indices ``[num_graphs]``.

    Raises:
        ShapeError: A graph has no node.
    """
    _, _, _, batch, num_graphs = _parts(graph)
    counts = _counts(batch, num_graphs)
    if bool((counts == 0).any()):
        raise ShapeError("sample_centers needs every graph to have at least one node")
    ptr = torch.cumsum(counts, 0) - counts
    pick = (_uniform(num_graphs, generator, batch.device) * counts).long()
    return ptr + torch.minimum(pick, counts - 1)


def hop_distance(edge_index: Tensor, sources: Tensor, num_nodes: int, max_hops: int) -> Tensor:
    """Breadth-first hop distance from the nearest source, up to ``max_hops`` ``[num_nodes]``.

    A frontier-propagation BFS: each hop is one gather and one ``index_add_`` over all edges of
    the batch, so every graph's BFS advances at once. Give one source per graph to get each
    node's distance to its own graph's source (edges never cross graphs).

    Args:
        edge_index: Edges ``[2, num_edges]`` (both directions of each bond present).
        sources: Source nodes ``[num_sources]``.
        num_nodes: Number of nodes.
        max_hops: Largest distance to compute.

    Returns:
        Distance of every node (int64), ``-1`` when farther than ``max_hops`` or unreachable.
    """
    device = edge_index.device
    dist = torch.full((num_nodes,), -1, dtype=torch.long, device=device)
    frontier = torch.zeros(num_nodes, dtype=torch.bool, device=device)
    frontier[sources] = True
    dist[sources] = 0
    for hop in range(1, max_hops + 1):
        new = _neighbour_any(frontier, edge_index) & (dist < 0)
        if not bool(new.any()):
            break
        dist[new] = hop
        frontier = new
    return dist


def k_hop_context(graph: Batch, centers: Tensor, k: int, r1: int, r2: int) -> ContextPair:
    """Substructures (``<= k`` hops) and context rings (``r1 < hops <= r2``) around centers.

    The definitions are those of Hu et al. 2020's ``ExtractSubstructureContextPair``: the
    substructure is the subgraph induced by the nodes within ``k`` hops of the center, the context
    the subgraph induced by the nodes more than ``r1`` and at most ``r2`` hops away, and the
    context anchors the nodes in both (``r1 < hops <= k``). With pretrain-gnns' ``k=5, r1=4,
    r2=7`` the context is the ring at 5, 6 and 7 hops and the anchors are the nodes at 5 hops.

    Args:
        graph: Input batch (not modified).
        centers: One center node per graph, batch-global indices ``[num_graphs]``.
        k: Substructure radius (>= 0).
        r1: Inner radius of the context (excluded), ``0 <= r1``.
        r2: Outer radius of the context (included), ``r2 > r1``.

    Returns:
        :class:`ContextPair`.
    """
    if not 0 <= r1 < r2 or k < 0:
        raise ConfigError("k_hop_context radii", (k, r1, r2), expected="k >= 0 and 0 <= r1 < r2")
    x, edge_index, _, batch, num_graphs = _parts(graph)
    if centers.numel() != num_graphs:
        raise ShapeError(
            f"k_hop_context needs one center per graph ({num_graphs}), got {centers.numel()}"
        )
    dist = hop_distance(edge_index, centers, x.size(0), max(k, r2))
    reached = dist >= 0
    in_sub = reached & (dist <= k)
    in_context = (dist > r1) & (dist <= r2)
    substructure, sub_map = induced_subgraph(graph, in_sub)
    context, context_map = induced_subgraph(graph, in_context)
    anchors = (in_context & in_sub).nonzero().view(-1)
    anchor_batch = batch[anchors]
    has_context = _counts(anchor_batch, num_graphs) > 0
    return ContextPair(
        substructure=substructure,
        center_index=sub_map[centers],
        context=context,
        anchor_index=context_map[anchors],
        anchor_batch=anchor_batch,
        has_context=has_context,
    )


def negative_pairs(
    graph: Batch,
    graph_index: Tensor,
    generator: torch.Generator | None = None,
    *,
    max_tries: int = 3,
) -> tuple[Tensor, Tensor]:
    """Random pairs of distinct, non-bonded atoms inside given graphs (negative edges).

    For every entry of ``graph_index`` a pair of distinct atoms of that graph is drawn uniformly;
    pairs that are bonded are redrawn up to ``max_tries`` times (as pretrain-gnns'
    ``NegativeEdge`` rejects existing edges), and pairs still bonded after that, or drawn in a
    graph with fewer than 2 atoms, are flagged invalid.

    Args:
        graph: Input batch.
        graph_index: Graph of each pair to draw ``[num_pairs]``.
        generator: Source of randomness (None: torch's global RNG).
        max_tries: Number of draws per pair.

    Returns:
        ``pairs`` ``[2, num_pairs]`` (batch-global node indices) and ``valid`` ``[num_pairs]``.
    """
    x, edge_index, _, batch, num_graphs = _parts(graph)
    num_nodes = x.size(0)
    counts = _counts(batch, num_graphs)
    start = (torch.cumsum(counts, 0) - counts)[graph_index]
    n = counts[graph_index]
    existing = torch.unique(edge_index[0] * num_nodes + edge_index[1])
    pairs = torch.zeros(2, graph_index.numel(), dtype=torch.long, device=x.device)
    valid = torch.zeros(graph_index.numel(), dtype=torch.bool, device=x.device)
    possible = n > 1
    for _ in range(max(max_tries, 1)):
        todo = ~valid & possible
        first = (_uniform(n.numel(), generator, x.device) * n).long().clamp(max=n - 1)
        offset = (_uniform(n.numel(), generator, x.device) * (n - 1)).long()
        second = (first + 1 + offset.clamp(max=(n - 2).clamp(min=0))) % n.clamp(min=1)
        new = torch.stack([first + start, second + start])
        ok = ~torch.isin(new[0] * num_nodes + new[1], existing)
        take = todo & ok
        pairs = torch.where(take, new, pairs)
        valid = valid | take
        if bool((valid | ~possible).all()):
            break
    return pairs, valid
