"""Optimizers and warmup schedules.

Parameter groups (the one weight-decay rule, head learning rates) are
:func:`molgraphpt.models.param_groups.param_groups`, re-exported here.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import torch

from molgraphpt.models.param_groups import param_groups
from molgraphpt.training.config import TrainConfig

__all__ = ["build_optimizer", "param_groups"]

logger = logging.getLogger(__name__)

def build_optimizer(groups: list[dict[str, Any]], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over ``groups``; a group's own ``lr``/``weight_decay`` win over ``cfg``'s."""
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    # The fused kernel (one multi-tensor pass, on CPU as on CUDA) is the same update as the default
    # per-parameter loop, which on CPU costs ~10% of a GIN training step in small elementwise ops.
    # Fall back where it is not supported (e.g. a device without fused kernels).
    try:
        return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, *, schedule: str, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak LR for the optimizer step taken after ``step`` steps.

    Warmup rises linearly as ``(step + 1) / warmup_steps``; then ``constant`` stays at 1 and
    ``cosine`` / ``linear`` decay from 1 (at ``step == warmup_steps``) to 0 (at ``total_steps``).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup then ``cfg.schedule``, as a ``LambdaLR`` stepped once per optimizer step.

    Args:
        optimizer: The optimizer whose groups' ``lr`` are the peak learning rates.
        cfg: Reads ``schedule`` and ``warmup_steps``.
        total_steps: Optimizer steps of the whole run (the decay reaches 0 there).
    """
    if cfg.warmup_steps >= total_steps and cfg.schedule != "constant":
        logger.warning(
            "warmup_steps=%d >= total steps %d: the LR never decays", cfg.warmup_steps, total_steps
        )
    factor = functools.partial(
        lr_factor, schedule=cfg.schedule, warmup_steps=cfg.warmup_steps, total_steps=total_steps
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
