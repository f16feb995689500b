"""GraphCL's structural augmentations, applied to every graph of a batch at once.

:func:`drop_nodes`, :func:`perturb_edges`, :func:`subgraph` and, through :func:`augment`, a
per-graph random choice among them and ``mask_attributes`` (:data:`AUGMENTATIONS`); all are
combined into one node mask, one bond mask and one atom mask by the shared ``_augment``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch

from molgraphpt.data.transforms._batch import (
    _bond_graph,
    _check_rate,
    _counts,
    _mask_rows,
    _neighbour_any,
    _parts,
    _scaled_count,
    _uniform,
    induced_subgraph,
    make_batch,
    random_rank,
)
from molgraphpt.errors import ConfigError

#: Augmentation names understood by :func:`augment` and GraphCL.
AUGMENTATIONS: tuple[str, ...] = ("drop_nodes", "perturb_edges", "subgraph", "mask_attributes")


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
