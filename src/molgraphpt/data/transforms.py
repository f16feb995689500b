"""Pure, seeded, vectorized corruptions of a whole PyG ``Batch`` of molecular graphs.

Every function here takes a batch of OGB-featurized molecules (``x`` ``[num_nodes, 9]``,
``edge_index`` ``[2, num_edges]`` with the two directions of each bond at consecutive positions
``2b, 2b + 1``, ``edge_attr`` ``[num_edges, 3]``, ``batch`` ``[num_nodes]``) and returns *new*
tensors; the input is never modified. Every graph is corrupted at once with tensor operations (no
per-graph Python loop), and the output is again a valid batch: the same number of graphs (a graph
may lose nodes but never disappears), a consistent ``batch`` / ``ptr``, bonds still stored as
consecutive direction pairs, no edge across graphs, edges grouped by graph. One-atom molecules and
molecules without bonds are handled.

Randomness: each function takes ``generator: torch.Generator | None``. ``None`` draws from torch's
global RNG of the batch's device (the one the training loop saves and restores on resume); a
generator draws on its own device and the draws are moved to the batch's device.

Counts follow the reference implementations: ``mask_atoms`` masks ``floor(n * rate) + 1`` atoms
(Hu et al.'s ``MaskAtom``), ``drop_nodes`` / ``mask_attributes`` / ``perturb_edges`` corrupt
``floor(n * rate)`` nodes or bonds and ``subgraph`` keeps ``floor(n * keep_ratio) + 1`` nodes
(GraphCL's chem augmentations), all capped to what the graph has.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.chem.features import BOND_FEATURE_DIMS, MASK_ATOM_TYPE
from molgraphpt.errors import ConfigError, ShapeError

#: Bond-type index given to masked bonds: OGB's ``misc`` bucket (the bond embedding has no
#: dedicated mask row; ``misc`` bonds are vanishingly rare in drug-like molecules).
MASK_BOND_TYPE: int = BOND_FEATURE_DIMS[0] - 1

#: Augmentation names understood by :func:`augment` and GraphCL.
AUGMENTATIONS: tuple[str, ...] = ("drop_nodes", "perturb_edges", "subgraph", "mask_attributes")


@dataclass(frozen=True)
class MaskedGraph:
    """A batch with masked atoms, and what was masked.

    Attributes:
        graph: The corrupted batch (same nodes and edges as the input).
        index: Indices of the masked atoms in ``graph`` ``[num_masked]`` (ascending).
        target: Original atom type (column 0) of each masked atom ``[num_masked]``.
        bond_index: Position in ``edge_index`` of the first direction of every bond touching a
            masked atom ``[num_masked_bonds]``, or None when bonds were not masked.
        bond_target: Original bond type (column 0) of those bonds ``[num_masked_bonds]``, or None.
    """

    graph: Batch
    index: Tensor
    target: Tensor
    bond_index: Tensor | None = None
    bond_target: Tensor | None = None


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


# --------------------------------------------------------------------------------- helpers


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

    ``ptr`` and the slicing information of ``to_data_list`` are rebuilt; a graph-level ``y`` of
    ``like`` is carried over.

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
    out = Batch(x=x, edge_index=edge_index, edge_attr=edge_attr, batch=batch, ptr=node_ptr)
    zeros = torch.zeros(num_graphs, dtype=torch.long, device=device)
    slices = {"x": node_ptr, "edge_index": edge_ptr, "edge_attr": edge_ptr}
    incs = {"x": zeros, "edge_index": node_ptr[:-1], "edge_attr": zeros}
    y = getattr(like, "y", None) if like is not None else None
    if isinstance(y, Tensor) and y.size(0) == num_graphs:
        out.y = y
        slices["y"] = torch.arange(num_graphs + 1, device=device)
        incs["y"] = zeros
    out._num_graphs = num_graphs
    out._slice_dict = slices
    out._inc_dict = incs
    return out


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


# ------------------------------------------------------------------------ masking atoms


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


def mask_atoms(
    graph: Batch,
    rate: float,
    *,
    generator: torch.Generator | None = None,
    mask_bonds: bool = False,
    keep_features: bool = False,
) -> MaskedGraph:
    """Mask ``floor(n * rate) + 1`` random atoms of every graph (Hu et al. 2020's ``MaskAtom``).

    A masked atom gets ``x[:, 0] = MASK_ATOM_TYPE``; its 8 other columns are set to 0 (Hu et al.
    set the atom type to the mask token and the chirality, the only other column they had, to 0),
    or kept with ``keep_features=True``. With ``mask_bonds``, every bond touching a masked atom
    gets bond type :data:`MASK_BOND_TYPE` and its other columns set to 0 (both directions), and
    its original bond type is returned as a target.

    Args:
        graph: Input batch (not modified).
        rate: Fraction of atoms to mask, in ``[0, 1)``; 0 masks nothing.
        generator: Source of randomness (None: torch's global RNG).
        mask_bonds: Also mask the bonds touching masked atoms.
        keep_features: Keep the non-type atom columns of masked atoms.

    Returns:
        :class:`MaskedGraph`.
    """
    _check_rate("mask_atoms.rate", rate)
    x, edge_index, edge_attr, batch, num_graphs = _parts(graph)
    if rate > 0:
        count = _scaled_count(_counts(batch, num_graphs), rate, plus_one=True)
        masked = random_rank(batch, num_graphs, generator) < count[batch]
    else:
        masked = torch.zeros(x.size(0), dtype=torch.bool, device=x.device)
    index = masked.nonzero().view(-1)
    target = x[index, 0]
    new_x = _mask_rows(x, masked, keep_features)
    bond_index = bond_target = None
    new_attr = edge_attr
    if mask_bonds:
        touched = masked[edge_index[0, 0::2]] | masked[edge_index[1, 0::2]]  # [num_bonds]
        bond_index = touched.nonzero().view(-1) * 2
        bond_target = edge_attr[bond_index, 0]
        edge_touched = touched.repeat_interleave(2)
        token = torch.zeros(edge_attr.size(1), dtype=edge_attr.dtype, device=edge_attr.device)
        token[0] = MASK_BOND_TYPE
        new_attr = edge_attr.clone()
        new_attr[edge_touched] = token
    out = make_batch(new_x, edge_index, new_attr, batch, num_graphs, like=graph)
    return MaskedGraph(out, index, target, bond_index, bond_target)


def mask_attributes(graph: Batch, rate: float, generator: torch.Generator | None = None) -> Batch:
    """Mask the features of ``floor(n * rate)`` random atoms per graph (GraphCL's ``maskN``).

    Masked atoms get the mask atom type and 0 in the other columns, as in :func:`mask_atoms`.
    (GraphCL replaced them by the mean feature vector, which has no meaning for categorical
    features; the mask token is its categorical counterpart.)

    Args:
        graph: Input batch (not modified).
        rate: Fraction of atoms to mask, in ``[0, 1)``.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        The corrupted batch.
    """
    _check_rate("mask_attributes.rate", rate)
    return _augment(graph, _choice(graph, "mask_attributes"), rate, generator)


# ------------------------------------------------------------- structural augmentations


def drop_nodes(graph: Batch, rate: float, generator: torch.Generator | None = None) -> Batch:
    """Remove ``floor(n * rate)`` random atoms per graph and their bonds (GraphCL's ``dropN``).

    At least one atom of every graph is kept.

    Args:
        graph: Input batch (not modified).
        rate: Fraction of atoms to drop, in ``[0, 1)``.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        The corrupted batch.
    """
    _check_rate("drop_nodes.rate", rate)
    return _augment(graph, _choice(graph, "drop_nodes"), rate, generator)


def perturb_edges(
    graph: Batch,
    rate: float,
    generator: torch.Generator | None = None,
    *,
    add_rate: float = 0.0,
) -> Batch:
    """Remove ``floor(m * rate)`` random bonds per graph of ``m`` bonds, and maybe add some.

    Both directions of a bond are removed together. GraphCL's chem ``permE`` only removes edges
    (``add_rate=0``, the default). With ``add_rate > 0``, ``floor(m * add_rate)`` bonds between
    random distinct atoms of the same graph are added (both directions, features 0: a single,
    non-stereo, non-conjugated bond); they may duplicate an existing bond.

    Args:
        graph: Input batch (not modified).
        rate: Fraction of bonds to remove, in ``[0, 1]``.
        generator: Source of randomness (None: torch's global RNG).
        add_rate: Number of random bonds to add, as a fraction of ``m``, in ``[0, 1]``.

    Returns:
        The corrupted batch.
    """
    _check_rate("perturb_edges.rate", rate, upper_open=False)
    _check_rate("perturb_edges.add_rate", add_rate, upper_open=False)
    return _augment(graph, _choice(graph, "perturb_edges"), rate, generator, add_rate=add_rate)


def subgraph(graph: Batch, keep_ratio: float, generator: torch.Generator | None = None) -> Batch:
    """Keep a random connected subgraph of ``floor(n * keep_ratio) + 1`` atoms per graph.

    Grown as in GraphCL's ``subgraph``: start from a random atom, then repeatedly add one atom
    drawn uniformly from the neighbours of the current set, for all graphs at once (one step per
    added atom, each step a few tensor operations over the whole batch). A graph whose connected
    component is smaller than the target keeps the whole component.

    Args:
        graph: Input batch (not modified).
        keep_ratio: Fraction of atoms to keep, in ``(0, 1]``.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        The subgraph batch.
    """
    _check_rate("subgraph.keep_ratio", keep_ratio, upper_open=False)
    if keep_ratio == 0:
        raise ConfigError("subgraph.keep_ratio", keep_ratio, expected="a float in (0, 1]")
    return _augment(graph, _choice(graph, "subgraph"), 0.0, generator, keep_ratio=keep_ratio)


def augment(
    graph: Batch,
    augmentations: tuple[str, ...] | list[str],
    rate: float,
    generator: torch.Generator | None = None,
) -> Batch:
    """Apply one augmentation per graph, drawn uniformly from ``augmentations`` for each graph.

    ``rate`` is the corruption ratio of every augmentation (for ``"subgraph"`` the fraction of
    atoms *removed*, so ``keep_ratio = 1 - rate``), as GraphCL's ``aug_ratio``. The chosen
    corruptions are combined into one node mask, one bond mask and one atom mask, so the cost is
    that of a single augmentation.

    Args:
        graph: Input batch (not modified).
        augmentations: Names from :data:`AUGMENTATIONS`, or ``("none",)`` for an identical copy.
        rate: Corruption ratio in ``[0, 1)``.
        generator: Source of randomness (None: torch's global RNG).

    Returns:
        The augmented batch.

    Raises:
        ConfigError: An augmentation name is unknown or the list is empty.
    """
    _check_rate("augment.rate", rate)
    names = list(augmentations)
    for name in names:
        if name not in (*AUGMENTATIONS, "none"):
            raise ConfigError(
                "augmentation", name, expected=f"one of {', '.join((*AUGMENTATIONS, 'none'))}"
            )
    if not names:
        raise ConfigError("augmentations", names, expected="at least one augmentation name")
    codes = torch.tensor(
        [AUGMENTATIONS.index(n) if n != "none" else -1 for n in names], device=graph.x.device
    )
    num_graphs = _parts(graph)[4]
    if len(names) == 1:
        choice = codes.expand(num_graphs)
    else:
        pick = (_uniform(num_graphs, generator, codes.device) * len(names)).long()
        choice = codes[pick.clamp(max=len(names) - 1)]
    return _augment(graph, choice, rate, generator)


def _choice(graph: Batch, name: str) -> Tensor:
    num_graphs = _parts(graph)[4]
    return torch.full((num_graphs,), AUGMENTATIONS.index(name), device=graph.x.device)


def _augment(
    graph: Batch,
    choice: Tensor,
    rate: float,
    generator: torch.Generator | None,
    *,
    keep_ratio: float | None = None,
    add_rate: float = 0.0,
) -> Batch:
    """Apply augmentation ``AUGMENTATIONS[choice[g]]`` (or none if -1) to each graph ``g``.

    ``rate`` is the corruption ratio; subgraphs keep ``keep_ratio`` (default ``1 - rate``).
    """
    x, edge_index, edge_attr, batch, num_graphs = _parts(graph)
    device = x.device
    num_nodes = _counts(batch, num_graphs)
    node_choice = choice[batch]
    node_keep = torch.ones(x.size(0), dtype=torch.bool, device=device)
    drop, perturb, sub, mask = (choice == i for i in range(len(AUGMENTATIONS)))
    if bool(drop.any()):
        count = torch.minimum(_scaled_count(num_nodes, rate), (num_nodes - 1).clamp(min=0))
        dropped = random_rank(batch, num_graphs, generator) < count[batch]
        node_keep &= ~(dropped & (node_choice == 0))
    if bool(sub.any()):
        keep = 1.0 - rate if keep_ratio is None else keep_ratio
        target = _scaled_count(num_nodes, keep, plus_one=True).where(sub, 1)
        node_keep &= _grow_subgraph(edge_index, batch, num_graphs, target, generator) | (
            node_choice != 2
        )
    if bool(mask.any()):
        count = _scaled_count(num_nodes, rate)
        masked = (random_rank(batch, num_graphs, generator) < count[batch]) & (node_choice == 3)
        x = _mask_rows(x, masked, keep_features=False)
    if bool(perturb.any()):
        bond_graph = _bond_graph(edge_index, batch)
        num_bonds = _counts(bond_graph, num_graphs)
        count = _scaled_count(num_bonds, rate)
        dropped = random_rank(bond_graph, num_graphs, generator) < count[bond_graph]
        bond_keep = ~(dropped & perturb[bond_graph])
        edge_index = edge_index[:, bond_keep.repeat_interleave(2)]
        edge_attr = edge_attr[bond_keep.repeat_interleave(2)]
        if add_rate > 0:
            count = _scaled_count(num_bonds, add_rate).where(perturb & (num_nodes > 1), 0)
            edge_index, edge_attr = _add_bonds(
                edge_index, edge_attr, batch, num_nodes, count, generator
            )
    base = make_batch(x, edge_index, edge_attr, batch, num_graphs, like=graph)
    if bool((~node_keep).any()):
        return induced_subgraph(base, node_keep)[0]
    return base


def _grow_subgraph(
    edge_index: Tensor,
    batch: Tensor,
    num_graphs: int,
    target: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Node mask of a connected subgraph of up to ``target[g]`` nodes per graph ``[num_nodes]``."""
    num_nodes = batch.numel()
    device = batch.device
    if num_nodes == 0:
        return torch.zeros(0, dtype=torch.bool, device=device)
    chosen = random_rank(batch, num_graphs, generator) == 0  # one random start per graph
    size = _counts(batch[chosen], num_graphs)
    steps = int((target - size).max()) if num_graphs else 0
    for _ in range(max(steps, 0)):
        growing = (size < target)[batch]
        candidate = _neighbour_any(chosen, edge_index) & ~chosen & growing
        if not bool(candidate.any()):
            break
        key = torch.where(
            candidate, _uniform(num_nodes, generator, device), torch.full((), -1.0, device=device)
        )
        best = torch.full((num_graphs,), -1.0, dtype=key.dtype, device=device)
        best.scatter_reduce_(0, batch, key, reduce="amax")
        pick = candidate & (key == best[batch])
        chosen = chosen | pick
        size = size + _counts(batch[pick], num_graphs)
    return chosen


def _add_bonds(
    edge_index: Tensor,
    edge_attr: Tensor,
    batch: Tensor,
    num_nodes: Tensor,
    count: Tensor,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor]:
    """Append ``count[g]`` random bonds inside each graph, keeping edges grouped by graph."""
    device = edge_index.device
    num_graphs = count.numel()
    graph_of_new = torch.repeat_interleave(torch.arange(num_graphs, device=device), count)
    if graph_of_new.numel() == 0:
        return edge_index, edge_attr
    ptr = torch.cumsum(num_nodes, 0) - num_nodes
    n = num_nodes[graph_of_new]
    first = (_uniform(n.numel(), generator, device) * n).long().clamp(max=n - 1)
    offset = 1 + (_uniform(n.numel(), generator, device) * (n - 1)).long().clamp(max=n - 2)
    second = (first + offset) % n  # distinct from first
    start = ptr[graph_of_new]
    new_bonds = torch.stack([first + start, second + start])  # [2, num_new]
    pairs = torch.stack([new_bonds, new_bonds.flip(0)], dim=2).reshape(2, -1)
    new_attr = edge_attr.new_zeros((pairs.size(1), edge_attr.size(1)))
    all_index = torch.cat([edge_index, pairs], dim=1)
    all_attr = torch.cat([edge_attr, new_attr], dim=0)
    order = torch.argsort(batch[all_index[0, 0::2]], stable=True)  # regroup bonds by graph
    edge_order = torch.stack([2 * order, 2 * order + 1], dim=1).view(-1)
    return all_index[:, edge_order], all_attr[edge_order]


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


# ---------------------------------------------------------------- context prediction


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
