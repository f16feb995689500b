"""Loss functions shared by objectives (pure functions of tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Share of rows whose arg-max class is the target (detached scalar; 0 for no row).

    Args:
        logits: ``[num_rows, num_classes]`` scores.
        target: ``[num_rows]`` int64 classes.
    """
    if target.numel() == 0:
        return torch.zeros((), device=logits.device)
    return (logits.argmax(dim=-1) == target).float().mean().detach()


def zero_loss(*tensors: Tensor) -> Tensor:
    """A zero scalar connected to ``tensors`` (so backward and DDP see every parameter)."""
    total = tensors[0].sum() * 0.0
    for t in tensors[1:]:
        total = total + t.sum() * 0.0
    return total.float()


def masked_bce_with_logits(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy over the labelled entries only (Hu et al. 2020's multi-task loss).

    Args:
        logits: ``[batch_size, num_tasks]`` scores.
        target: ``[batch_size, num_tasks]`` 0/1 labels, NaN where missing.

    Returns:
        Mean loss over labelled entries (0 with a zero gradient if none is labelled).
    """
    mask = ~torch.isnan(target)
    losses = F.binary_cross_entropy_with_logits(
        logits.float(), torch.where(mask, target, torch.zeros_like(target)), reduction="none"
    )
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def masked_mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the labelled entries (``[batch_size, num_tasks]``, NaN = missing)."""
    mask = ~torch.isnan(target)
    diff = torch.where(mask, pred.float() - target, torch.zeros_like(target))
    return (diff**2).sum() / mask.sum().clamp(min=1)


def sce_loss(pred: Tensor, target: Tensor, alpha: float = 1.0) -> Tensor:
    """Scaled cosine error of GraphMAE (Hou et al. 2022, arXiv:2205.10803).

    ``mean_i (1 - cos(pred_i, target_i)) ** alpha``; ``alpha >= 1`` down-weights rows that are
    already well reconstructed.

    Args:
        pred: Reconstructions ``[num_rows, dim]``.
        target: Targets ``[num_rows, dim]`` (e.g. one-hot atom types).
        alpha: Scaling exponent (GraphMAE's ``alpha_l``; 1 for molecules).

    Returns:
        Scalar loss (0 with a zero gradient when there are no rows).
    """
    if pred.size(0) == 0:
        return pred.sum() * 0.0
    cos = (F.normalize(pred.float(), dim=-1) * F.normalize(target.float(), dim=-1)).sum(dim=-1)
    return (1.0 - cos).pow(alpha).mean()


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.1, *, symmetric: bool = False) -> Tensor:
    """NT-Xent as in GraphCL's ``loss_cl`` (You et al. 2020, arXiv:2010.13902).

    With cosine similarities ``s_ij = cos(z1_i, z2_j) / temperature``, the loss of row ``i`` is
    ``-log(exp(s_ii) / sum_{j != i} exp(s_ij))``: the negatives are the *other* graphs' second
    views, and the positive is left out of the denominator (GraphCL's formulation, unlike
    SimCLR's). ``symmetric=True`` averages it with the same loss from ``z2`` to ``z1``.

    Args:
        z1: Embeddings of the first views ``[batch_size, dim]``.
        z2: Embeddings of the second views ``[batch_size, dim]``.
        temperature: Softmax temperature (GraphCL: 0.1).
        symmetric: Average both directions.

    Returns:
        Scalar loss (0 with a zero gradient for fewer than 2 rows: no negative exists).
    """
    if z1.size(0) < 2:
        return (z1.sum() + z2.sum()) * 0.0
    logits = F.normalize(z1.float(), dim=-1) @ F.normalize(z2.float(), dim=-1).t() / temperature
    loss = _graphcl_direction(logits)
    if symmetric:
        loss = 0.5 * (loss + _graphcl_direction(logits.t()))
    return loss


def _graphcl_direction(logits: Tensor) -> Tensor:
    eye = torch.eye(logits.size(0), dtype=torch.bool, device=logits.device)
    negatives = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1)
    return (negatives - logits.diagonal()).mean()
