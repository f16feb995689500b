"""Hand-built molecular graph batches for the model tests."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from molgraphpt.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS


def random_graph(num_nodes: int, num_bonds: int, generator: torch.Generator) -> Data:
    """A random graph with OGB-range features; every bond is stored in both directions."""
    x = torch.stack(
        [torch.randint(0, d, (num_nodes,), generator=generator) for d in ATOM_FEATURE_DIMS], dim=1
    )
    if num_bonds:
        src = torch.randint(0, num_nodes, (num_bonds,), generator=generator)
        dst = (src + 1 + torch.randint(0, num_nodes - 1, (num_bonds,), generator=generator)) % (
            num_nodes
        )
        bond = torch.stack(
            [torch.randint(0, d, (num_bonds,), generator=generator) for d in BOND_FEATURE_DIMS],
            dim=1,
        )
        edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
        edge_attr = torch.cat([bond, bond], dim=0)
    else:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
        edge_attr = torch.zeros(0, len(BOND_FEATURE_DIMS), dtype=torch.long)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr)


def make_batch(seed: int = 0, sizes: tuple[tuple[int, int], ...] = ((5, 5), (1, 0), (8, 9))):
    generator = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([random_graph(n, b, generator) for n, b in sizes])


@pytest.fixture
def batch() -> Batch:
    """Three graphs: 5 atoms, a single atom without bonds, 8 atoms."""
    return make_batch()


@pytest.fixture
def batch_factory():
    """``make_batch(seed, sizes)``: a batch of random graphs of ``(num_atoms, num_bonds)``."""
    return make_batch
