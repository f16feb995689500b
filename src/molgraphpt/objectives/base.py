"""The contract every pretraining and fine-tuning objective implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.registry import Registry


@dataclass(frozen=True)
class TaskOutput:
    """Result of one objective on one batch.

    Attributes:
        loss: Scalar tensor to backpropagate.
        logs: Detached scalars to report, e.g. ``{"loss": ..., "acc": ...}``.
    """

    loss: Tensor
    logs: dict[str, Tensor] = field(default_factory=dict)


class PretrainTask(nn.Module):
    """Base class for objectives.

    An objective *owns* its prediction heads and *borrows* the encoders it is given, so several
    objectives can share one encoder. All parameters exist after ``__init__``.
    """

    config_cls: ClassVar[type]
    requires: ClassVar[frozenset[str]] = frozenset({"graph"})

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Compute the objective on ``batch``."""
        raise NotImplementedError

    def forward(self, batch: MolTextBatch) -> TaskOutput:
        """Delegate to :meth:`loss` so DDP and hooks wrap the objective like any module."""
        return self.loss(batch)


TASKS: Registry[type[PretrainTask]] = Registry("objective")
