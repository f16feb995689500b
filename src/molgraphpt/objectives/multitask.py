"""Combining objectives: a weighted sum of tasks, and the factories that build them from specs.

:func:`build_task` turns one :class:`~molgraphpt.objectives.base.TaskSpec` into an objective;
:func:`build_objectives` turns the ``objectives:`` list of a run config into a
:class:`WeightedObjectives` (always, even for a single objective, so that logs look the same).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import ConfigError
from molgraphpt.models.moltext import MolTextModel
from molgraphpt.objectives.base import TASKS, PretrainTask, TaskOutput, TaskSpec, build_task_config
from molgraphpt.seed import derive_seed


class WeightedObjectives(PretrainTask):
    """Sum of several objectives' losses, each multiplied by its weight.

    The objectives usually share one encoder (each borrows it). Every objective runs on every
    batch, in the order of ``tasks``; logs are prefixed ``"name/metric"``, and ``"loss"`` is the
    weighted sum.

    Args:
        tasks: Objectives by name.
        weights: Weight of each objective (finite, >= 0), same keys as ``tasks``.

    Raises:
        ConfigError: No task, keys that differ, or an invalid weight.
    """

    def __init__(self, tasks: Mapping[str, PretrainTask], weights: Mapping[str, float]) -> None:
        super().__init__()
        if not tasks:
            raise ConfigError("objectives", dict(tasks), expected="at least one objective")
        if set(tasks) != set(weights):
            raise ConfigError(
                "objectives weights",
                sorted(weights),
                expected=f"one weight per objective: {sorted(tasks)}",
            )
        for name, weight in weights.items():
            ok = isinstance(weight, (int, float)) and not isinstance(weight, bool)
            if not ok or not math.isfinite(weight) or weight < 0:
                raise ConfigError(f"objectives.{name}.weight", weight, expected="a number >= 0")
        self.tasks = nn.ModuleDict(dict(tasks))
        self.weights = {name: float(weights[name]) for name in tasks}
        self.requires = frozenset().union(*(task.requires for task in tasks.values()))

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Weighted sum of the objectives' losses, with all their logs."""
        total: Tensor | None = None
        logs: dict[str, Tensor] = {}
        for name, task in self.tasks.items():
            out = task.loss(batch)
            term = self.weights[name] * out.loss
            total = term if total is None else total + term
            for key, value in out.logs.items():
                logs[f"{name}/{key}"] = value
        assert total is not None  # at least one task, checked in __init__
        logs["loss"] = total.detach()
        return TaskOutput(total, logs)

    def reseed(self, seed: int | None) -> None:
        """Reseed every stochastic objective, each from ``derive_seed(seed, name)``."""
        for name, task in self.tasks.items():
            if hasattr(task, "reseed"):
                task.reseed(None if seed is None else derive_seed(seed, name))

    def rng_state(self) -> dict[str, Any]:
        """Private generator states of the objectives (None entries use the global RNG)."""
        return {
            name: task.rng_state()
            for name, task in self.tasks.items()
            if hasattr(task, "rng_state")
        }

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        """Restore the states returned by :meth:`rng_state`."""
        for name, value in state.items():
            self.tasks[name].set_rng_state(value)

    def extra_repr(self) -> str:  # noqa: D102
        return ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())


def build_task(spec: TaskSpec, encoder: nn.Module) -> PretrainTask:
    """Build the objective named by ``spec`` around ``encoder``.

    Args:
        spec: Name and params (the weight is not used here).
        encoder: The run's graph encoder, or its molecule–text model (see
            :func:`borrowed_encoder`).

    Returns:
        The objective, with all its parameters created.

    Raises:
        UnknownNameError: Unknown objective name or option name (both list the valid names).
        ConfigError: An option value is invalid.
    """
    cls = TASKS.get(spec.name)
    return cls(borrowed_encoder(cls, spec.name, encoder), build_task_config(spec))


def borrowed_encoder(cls: type[PretrainTask], name: str, encoder: nn.Module) -> nn.Module:
    """What objective ``cls`` is built around, taken from the run's ``encoder``.

    ``encoder`` is a graph encoder (graph-only runs) or a
    :class:`~molgraphpt.models.moltext.MolTextModel`. Graph objectives get the graph encoder in
    both cases; objectives with ``needs_text_model`` get the molecule–text model.

    Raises:
        ConfigError: A text objective in a run without a text encoder.
    """
    moltext = encoder if isinstance(encoder, MolTextModel) else None
    if cls.needs_text_model:
        if moltext is None or moltext.text is None:
            raise ConfigError(
                "objectives",
                name,
                expected="a run with a text encoder for a molecule-text objective",
                hint="add a text: section (e.g. text: {name_or_path: minilm-l6-offline}) and "
                "pair data (data.pairs) to the config",
            )
        return moltext
    return moltext.graph if moltext is not None else encoder


def build_objectives(specs: Iterable[TaskSpec], encoder: nn.Module) -> WeightedObjectives:
    """Build every objective of a run around one shared encoder.

    Args:
        specs: The run's objectives; names must be unique.
        encoder: Shared encoder.

    Returns:
        A :class:`WeightedObjectives` (also for a single objective, so logs are uniform).

    Raises:
        ConfigError: No objective, or a name used twice.
        UnknownNameError: Unknown objective or option name.
    """
    specs = list(specs)
    if not specs:
        raise ConfigError("objectives", [], expected="at least one objective")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(
            "objectives",
            names,
            expected="each objective at most once",
            hint=f"{', '.join(duplicates)} appear(s) more than once; merge their params",
        )
    tasks = {spec.name: build_task(spec, encoder) for spec in specs}
    return WeightedObjectives(tasks, {spec.name: spec.weight for spec in specs})
