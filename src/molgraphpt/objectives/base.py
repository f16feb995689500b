"""The contract every pretraining and fine-tuning objective implements.

Holds :class:`PretrainTask` and :class:`StochasticTask` (the base of every objective that draws
random corruptions), the ``TASKS`` registry, :class:`TaskSpec`, and the config validators the
objectives' option dataclasses share (:func:`check_fraction`, :func:`check_int`...).

Randomness: an objective built with ``seed=None`` (the default) draws its corruptions from torch's
global RNG, which the training loop already checkpoints, so a resumed run replays exactly the same
masks. With an integer ``seed`` it owns a private CPU ``torch.Generator`` instead (independent of
dropout and of the other objectives); :meth:`StochasticTask.rng_state` and
:meth:`StochasticTask.set_rng_state` save and restore it (it is not part of ``state_dict``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from molgraphpt.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS
from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import ConfigError, UnknownNameError
from molgraphpt.registry import Registry

#: Number of atom types an atom-type head predicts (the first atom feature's vocabulary).
NUM_ATOM_TYPES: int = ATOM_FEATURE_DIMS[0]
#: Number of bond types a bond-type head predicts (the first bond feature's vocabulary).
NUM_BOND_TYPES: int = BOND_FEATURE_DIMS[0]


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
    #: What the objective is built around: False for the graph encoder (in a molecule–text run,
    #: the model's graph encoder), True for the whole
    #: :class:`~molgraphpt.models.moltext.MolTextModel` (graph + text encoders).
    needs_text_model: ClassVar[bool] = False
    #: Whether the objective also works from precomputed pooled text vectors
    #: (``batch.text.pooled``, a frozen text encoder's output) instead of text tokens. Only
    #: objectives with ``"text"`` in ``requires`` look at it.
    accepts_text_features: ClassVar[bool] = False

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Compute the objective on ``batch``."""
        raise NotImplementedError

    def forward(self, batch: MolTextBatch) -> TaskOutput:
        """Delegate to :meth:`loss` so DDP and hooks wrap the objective like any module."""
        return self.loss(batch)


class StochasticTask(PretrainTask):
    """Base of objectives that draw random corruptions (masks, views, negatives, centers).

    Args:
        seed: None to draw from torch's global RNG (checkpointed by the training loop, the
            default), or the seed of a private CPU ``torch.Generator``.

    Attributes:
        generator: The private generator, or None for the global RNG.
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self.generator: torch.Generator | None = None
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Use a private generator seeded with ``seed``, or the global RNG for None."""
        self.generator = None if seed is None else torch.Generator().manual_seed(int(seed))

    def rng_state(self) -> Tensor | None:
        """State of the private generator (``uint8`` tensor), or None when using the global RNG."""
        return None if self.generator is None else self.generator.get_state()

    def set_rng_state(self, state: Tensor | None) -> None:
        """Restore a state from :meth:`rng_state` (None switches back to the global RNG)."""
        if state is None:
            self.generator = None
            return
        if self.generator is None:
            self.generator = torch.Generator()
        self.generator.set_state(state)


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


# ------------------------------------------------------------------- config validation


def check_fraction(
    key: str, value: object, *, low_open: bool = True, high_open: bool = True
) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a float in the given interval of [0, 1]."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ConfigError(key, value, expected=f"a float in {interval}")


def check_int(key: str, value: object, *, minimum: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an int ``>= minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(key, value, expected=f"an integer >= {minimum}")


def check_positive(key: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a finite float ``> 0``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ConfigError(key, value, expected="a finite number > 0")


def check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(key, value, expected=f"one of {', '.join(choices)}")


def check_seed(key: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is None or an int in ``[0, 2**63)``."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63
    ):
        raise ConfigError(key, value, expected="null or an integer in [0, 2**63)")
