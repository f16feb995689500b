"""Real molecules and tiny encoders for the objective tests."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.pyg import to_pyg
from molgraphpt.models.graph import GraphEncoderConfig, build_graph_encoder

SMILES = [
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "[Na+].[Cl-]",
    "C[C@H](N)C(=O)O",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "C",
]

#: Test settings of each graph objective: tiny radii so a 2-layer encoder fits context_pred.
PARAMS: dict[str, dict] = {
    "attr_mask": {},
    "context_pred": {"k": 2, "r1": 1, "r2": 3},
    "edge_pred": {},
    "graphcl": {},
    "graphmae": {},
    "infomax": {},
}


def molecules(smiles: list[str] = SMILES) -> MolTextBatch:
    return MolTextBatch(graph=Batch.from_data_list([to_pyg(smiles_to_graph(s)) for s in smiles]))


def tiny_encoder(**overrides):
    kwargs = {"hidden_dim": 16, "num_layers": 2, "dropout": 0.0, **overrides}
    return build_graph_encoder(GraphEncoderConfig(**kwargs))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and robust on a busy shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def batch() -> MolTextBatch:
    return molecules()


def train_until_halved(task, batch: MolTextBatch, *, steps: int, lr: float) -> list[float]:
    """Adam on ``task``'s trainable parameters until the loss halves or ``steps`` run out.

    The randomness is fixed (the task is reseeded before every step when it can be), so the loss
    only moves because the parameters do. Returns the losses seen.
    """
    optimizer = torch.optim.Adam([p for p in task.parameters() if p.requires_grad], lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        if hasattr(task, "reseed"):
            task.reseed(0)
        loss = task(batch).loss
        losses.append(float(loss.detach()))
        if losses[-1] <= 0.5 * losses[0]:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses
