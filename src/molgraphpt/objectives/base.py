"""The contract every pretraining and fine-tuning objective implements."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import UnknownNameError
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
    #: What the objective is built around: ``"graph"`` (the graph encoder) or ``"moltext"``
    #: (the whole :class:`~molgraphpt.models.moltext.MolTextModel`: graph + text encoders).
    borrows: ClassVar[str] = "graph"
    #: Whether the objective also works from precomputed pooled text vectors (``batch.text
    #: ["pooled"]``, a frozen text encoder's output) instead of text tokens. Only objectives with
    #: ``"text"`` in ``requires`` look at it.
    accepts_text_features: ClassVar[bool] = False

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Compute the objective on ``batch``."""
        raise NotImplementedError

    def forward(self, batch: MolTextBatch) -> TaskOutput:
        """Delegate to :meth:`loss` so DDP and hooks wrap the objective like any module."""
        return self.loss(batch)


TASKS: Registry[type[PretrainTask]] = Registry("objective")


@dataclass(frozen=True)
class TaskSpec:
    """One objective of a run, as written in a config: ``{name, weight, params}``.

    Attributes:
        name: Registered objective name (``"attr_mask"``, ``"graphcl"``...).
        weight: Weight of its loss in the sum over objectives.
        params: Fields of the objective's own config dataclass (``config_cls``).
    """

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


def needs_text_tokens(name: str) -> bool:
    """Whether objective ``name`` needs tokenized text (precomputed text vectors do not do).

    Raises:
        UnknownNameError: ``name`` is not registered.
    """
    cls = TASKS.get(name)
    return "text" in cls.requires and not cls.accepts_text_features


def build_task_config(spec: TaskSpec) -> Any:
    """The objective's config dataclass built from ``spec.params`` (strict about unknown keys)."""
    cls = TASKS.get(spec.name)
    known = {f.name for f in dataclasses.fields(cls.config_cls)}
    for key in spec.params:
        if key not in known:
            raise UnknownNameError(f"option of objective {spec.name!r}", key, choices=known)
    return cls.config_cls(**spec.params)
