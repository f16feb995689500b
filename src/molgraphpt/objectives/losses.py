"""Loss functions shared by objectives (pure functions of tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
