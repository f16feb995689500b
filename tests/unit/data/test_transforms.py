"""Graph corruptions: determinism, seeds, batch invariants, counts, input never mutated."""

from __future__ import annotations

import math
from collections import deque

import pytest
import torch
from torch_geometric.data import Batch

from molgraphpt.chem.features import MASK_ATOM_TYPE
from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.data import transforms as T
from molgraphpt.data.pyg import to_pyg
from molgraphpt.errors import ConfigError, ShapeError

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "[Na+].[Cl-]",
    "C[C@H](N)C(=O)O",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "C",
]


def make(smiles: list[str]) -> Batch:
    return Batch.from_data_list([to_pyg(smiles_to_graph(s)) for s in smiles])


@pytest.fixture
def graph() -> Batch:
    return make(SMILES)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# Every batch-level corruption, as f(graph, generator) -> Batch.
CORRUPTIONS = {
    "mask_atoms": lambda g, r: T.mask_atoms(g, 0.3, generator=r, mask_bonds=True).graph,
    "drop_nodes": lambda g, r: T.drop_nodes(g, 0.3, r),
    "perturb_edges": lambda g, r: T.perturb_edges(g, 0.3, r),
    "perturb_edges_add": lambda g, r: T.perturb_edges(g, 0.3, r, add_rate=0.3),
    "subgraph": lambda g, r: T.subgraph(g, 0.6, r),
    "mask_attributes": lambda g, r: T.mask_attributes(g, 0.3, r),
    "augment_random": lambda g, r: T.augment(g, T.AUGMENTATIONS, 0.3, r),
}


def snapshot(g: Batch) -> dict[str, torch.Tensor]:
    return {k: getattr(g, k).clone() for k in ("x", "edge_index", "edge_attr", "batch", "ptr")}


def same(a: Batch, b: Batch) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("x", "edge_index", "edge_attr"))


def check_batch(out: Batch, num_graphs: int) -> None:
    """Invariants every transform output must satisfy."""
    assert out.num_graphs == num_graphs
    n, e = out.x.size(0), out.edge_index.size(1)
    assert out.batch.numel() == n and out.edge_attr.size(0) == e and e % 2 == 0
    assert bool((out.batch[1:] >= out.batch[:-1]).all())
    counts = torch.bincount(out.batch, minlength=num_graphs)
    assert torch.equal(out.ptr, torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))
    if e:
        src, dst = out.edge_index
        assert int(out.edge_index.min()) >= 0 and int(out.edge_index.max()) < n
        assert torch.equal(out.batch[src], out.batch[dst]), "edge across graphs"
        assert bool((src != dst).all()), "self loop"
        # bonds are consecutive direction pairs with equal features
        assert torch.equal(out.edge_index[:, 0::2], out.edge_index.flip(0)[:, 1::2])
        assert torch.equal(out.edge_attr[0::2], out.edge_attr[1::2])
        assert bool((out.batch[src][1:] >= out.batch[src][:-1]).all()), "edges not grouped"
    data = out.to_data_list()
    assert [d.num_nodes for d in data] == counts.tolist()


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_deterministic_seeded_and_pure(graph, name):
    f = CORRUPTIONS[name]
    before = snapshot(graph)
    a, b = f(graph, gen(0)), f(graph, gen(0))
    assert same(a, b)
    assert any(not same(a, f(graph, gen(s))) for s in range(1, 6))
    for key, value in before.items():
        assert torch.equal(getattr(graph, key), value), f"{name} mutated graph.{key}"
    check_batch(a, graph.num_graphs)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_global_rng_when_no_generator(graph, name):
    f = CORRUPTIONS[name]
    torch.manual_seed(5)
    a = f(graph, None)
    torch.manual_seed(5)
    assert same(a, f(graph, None))


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_single_atoms_and_no_bonds(name):
    g = make(["C", "[Na+].[Cl-]", "C"])
    out = CORRUPTIONS[name](g, gen(1))
    check_batch(out, 3)
    assert bool((torch.bincount(out.batch, minlength=3) >= 1).all())


def test_mask_atoms_counts_targets_and_bonds(graph):
    n = torch.bincount(graph.batch).tolist()
    for rate in (0.15, 0.5):
        m = T.mask_atoms(graph, rate, generator=gen(3), mask_bonds=True)
        per_graph = torch.bincount(graph.batch[m.index], minlength=graph.num_graphs).tolist()
        assert per_graph == [min(int(k * rate + 1), k) for k in n]
        assert torch.equal(m.target, graph.x[m.index, 0])
        assert bool((m.graph.x[m.index, 0] == MASK_ATOM_TYPE).all())
        assert bool((m.graph.x[m.index, 1:] == 0).all())
        unmasked = torch.ones(graph.num_nodes, dtype=torch.bool)
        unmasked[m.index] = False
        assert torch.equal(m.graph.x[unmasked], graph.x[unmasked])
        # bonds touching a masked atom: masked in both directions, targets are original types
        ends = graph.edge_index[:, m.bond_index]
        assert bool((~unmasked[ends[0]] | ~unmasked[ends[1]]).all())
        assert bool((m.bond_index % 2 == 0).all())
        assert torch.equal(m.bond_target, graph.edge_attr[m.bond_index, 0])
        both = torch.cat([m.bond_index, m.bond_index + 1])
        assert bool((m.graph.edge_attr[both, 0] == T.MASK_BOND_TYPE).all())
        touching = ~unmasked[graph.edge_index[0]] | ~unmasked[graph.edge_index[1]]
        assert int(touching.sum()) == both.numel()
        assert torch.equal(m.graph.edge_attr[~touching], graph.edge_attr[~touching])
        check_batch(m.graph, graph.num_graphs)


def test_mask_atoms_options(graph):
    assert T.mask_atoms(graph, 0.0, generator=gen()).index.numel() == 0
    keep = T.mask_atoms(graph, 0.3, generator=gen(), keep_features=True)
    assert torch.equal(keep.graph.x[keep.index, 1:], graph.x[keep.index, 1:])
    assert T.mask_atoms(graph, 0.3, generator=gen()).bond_index is None
    with pytest.raises(ConfigError):
        T.mask_atoms(graph, 1.0, generator=gen())


def test_counts_of_augmentations(graph):
    n = torch.bincount(graph.batch).tolist()
    m = torch.bincount(graph.batch[graph.edge_index[0, 0::2]], minlength=graph.num_graphs).tolist()
    rate = 0.3
    dropped = T.drop_nodes(graph, rate, gen())
    assert torch.bincount(dropped.batch).tolist() == [k - min(int(k * rate), k - 1) for k in n]
    masked = T.mask_attributes(graph, rate, gen())
    per_graph = torch.bincount(graph.batch[masked.x[:, 0] == MASK_ATOM_TYPE], minlength=7)
    assert per_graph.tolist() == [int(k * rate) for k in n]
    perturbed = T.perturb_edges(graph, rate, gen())
    bonds = torch.bincount(perturbed.batch[perturbed.edge_index[0, 0::2]], minlength=7)
    assert bonds.tolist() == [k - int(k * rate) for k in m]
    added = T.perturb_edges(graph, rate, gen(), add_rate=0.5)
    bonds = torch.bincount(added.batch[added.edge_index[0, 0::2]], minlength=7)
    assert bonds.tolist() == [k - int(k * rate) + int(k * 0.5) for k in m]
    assert torch.equal(T.perturb_edges(graph, 0.0, gen()).edge_index, graph.edge_index)


def test_kept_nodes_keep_their_features_and_bonds(graph):
    """induced_subgraph (behind drop_nodes/subgraph) keeps rows, bonds and graph ids."""
    for out, mapping in [T.induced_subgraph(graph, torch.rand(graph.num_nodes) > 0.4)]:
        old = (mapping >= 0).nonzero().view(-1)
        assert torch.equal(out.x, graph.x[old])
        old_edges = {tuple(e) for e in graph.edge_index.t().tolist()}
        assert all(tuple(old[e].tolist()) in old_edges for e in out.edge_index.t())
        assert torch.equal(out.batch, graph.batch[old])


def test_subgraph_is_connected_and_sized(graph):
    n = torch.bincount(graph.batch).tolist()
    for seed in range(5):
        out = T.subgraph(graph, 0.5, gen(seed))
        sizes = torch.bincount(out.batch, minlength=7).tolist()
        for i, (k, size) in enumerate(zip(n, sizes)):
            expected = min(int(k * 0.5) + 1, k)
            assert size == (1 if SMILES[i] == "[Na+].[Cl-]" else expected)
        dist = T.hop_distance(out.edge_index, out.ptr[:-1], out.num_nodes, out.num_nodes)
        assert bool((dist >= 0).all()), "subgraph not connected"


def test_augment_none_and_errors(graph):
    assert same(T.augment(graph, ["none"], 0.2, gen()), graph)
    with pytest.raises(ConfigError):
        T.augment(graph, ["dropnodes"], 0.2, gen())
    with pytest.raises(ConfigError):
        T.subgraph(graph, 0.0, gen())
    with pytest.raises(ConfigError):
        T.drop_nodes(graph, 1.5, gen())


def python_bfs(edge_index: torch.Tensor, source: int, num_nodes: int) -> list[float]:
    adj: list[list[int]] = [[] for _ in range(num_nodes)]
    for s, d in edge_index.t().tolist():
        adj[s].append(d)
    dist = [math.inf] * num_nodes
    dist[source] = 0
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if dist[v] == math.inf:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def test_hop_distance_matches_bfs(graph):
    centers = T.sample_centers(graph, gen(2))
    assert torch.equal(graph.batch[centers], torch.arange(7))
    dist = T.hop_distance(graph.edge_index, centers, graph.num_nodes, max_hops=3)
    for c in centers.tolist():
        ref = python_bfs(graph.edge_index, c, graph.num_nodes)
        for node, d in enumerate(ref):
            if graph.batch[node] == graph.batch[c]:
                assert int(dist[node]) == (d if d <= 3 else -1)


def test_k_hop_context_matches_definition(graph):
    centers = T.sample_centers(graph, gen(4))
    k, r1, r2 = 2, 1, 3
    pair = T.k_hop_context(graph, centers, k, r1, r2)
    check_batch(pair.substructure, 7)
    check_batch(pair.context, 7)
    ref = [math.inf] * graph.num_nodes
    for c in centers.tolist():
        for node, d in enumerate(python_bfs(graph.edge_index, c, graph.num_nodes)):
            ref[node] = min(ref[node], d)
    sub = [i for i, d in enumerate(ref) if d <= k]
    ctx = [i for i, d in enumerate(ref) if r1 < d <= r2]
    assert torch.equal(pair.substructure.x, graph.x[sub])
    assert torch.equal(pair.context.x, graph.x[ctx])
    assert torch.equal(pair.substructure.x[pair.center_index], graph.x[centers])
    anchors = [ctx.index(i) for i in ctx if ref[i] <= k]
    assert pair.anchor_index.tolist() == anchors
    assert torch.equal(pair.context.batch[pair.anchor_index], pair.anchor_batch)
    has = torch.bincount(pair.anchor_batch, minlength=7) > 0
    assert torch.equal(pair.has_context, has)
    assert not bool(pair.has_context[6])  # "C": one atom, no context
    with pytest.raises(ShapeError):
        T.k_hop_context(graph, centers[:3], k, r1, r2)


def test_negative_pairs_are_non_bonded_same_graph(graph):
    graph_index = torch.arange(7).repeat_interleave(5)
    pairs, valid = T.negative_pairs(graph, graph_index, gen())
    bonded = {tuple(e) for e in graph.edge_index.t().tolist()}
    assert torch.equal(graph.batch[pairs[0, valid]], graph_index[valid])
    assert torch.equal(graph.batch[pairs[1, valid]], graph_index[valid])
    for a, b in pairs[:, valid].t().tolist():
        assert a != b and (a, b) not in bonded
    assert not bool(valid[graph_index == 6].any())  # one atom: no pair
    assert bool(valid[graph_index == 5].all())


def test_random_rank_is_a_permutation_per_group():
    group = torch.tensor([0, 0, 1, 1, 1, 0, 2])
    rank = T.random_rank(group, 4, gen())
    for g in range(3):
        assert sorted(rank[group == g].tolist()) == list(range(int((group == g).sum())))
