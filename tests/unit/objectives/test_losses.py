"""Pure loss functions added for the graph objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from molgraphpt.objectives.losses import nt_xent, sce_loss


def graphcl_reference(x1, x2, temperature):
    """GraphCL's ``loss_cl`` (transferLearning_MoleculeNet_PPI/chem/pretrain_graphcl.py)."""
    n = x1.size(0)
    sim = torch.einsum("ik,jk->ij", x1, x2) / torch.einsum(
        "i,j->ij", x1.norm(dim=1), x2.norm(dim=1)
    )
    sim = torch.exp(sim / temperature)
    pos = sim[range(n), range(n)]
    return -torch.log(pos / (sim.sum(dim=1) - pos)).mean()


def test_nt_xent_matches_graphcl():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    torch.testing.assert_close(nt_xent(z1, z2, 0.1), graphcl_reference(z1, z2, 0.1))
    symmetric = nt_xent(z1, z2, 0.5, symmetric=True)
    expected = 0.5 * (graphcl_reference(z1, z2, 0.5) + graphcl_reference(z2, z1, 0.5))
    torch.testing.assert_close(symmetric, expected)


def test_nt_xent_single_row_is_zero_with_gradient():
    z = torch.randn(1, 4, requires_grad=True)
    loss = nt_xent(z, z * 2)
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert z.grad is not None


def test_sce_loss():
    pred = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    cos = F.cosine_similarity(pred, target)
    torch.testing.assert_close(sce_loss(pred, target), (1 - cos).mean())
    torch.testing.assert_close(sce_loss(pred, target, alpha=3.0), ((1 - cos) ** 3).mean())
    assert float(sce_loss(pred[:0], target[:0])) == 0.0
