"""The state the training loop carries between steps and through a checkpoint.

:class:`BestState` (the selected model), the counters (``_State``), the on-device window of
training logs (``_Window``), the non-finite-step bookkeeping (:class:`NonFiniteCounts`) and
resuming all of them from ``checkpoints/last.pt``. :mod:`molgraphpt.training.loop` uses them and
re-exports the public names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from molgraphpt.errors import CheckpointError, UnknownNameError
from molgraphpt.models.serialization import state_mismatches
from molgraphpt.objectives.base import TaskOutput
from molgraphpt.training.checkpoint import load_training_state, restore_rng_state
from molgraphpt.training.config import TrainConfig

if TYPE_CHECKING:
    from tqdm import tqdm

    from molgraphpt.training.loggers import MetricLogger
    from molgraphpt.training.loop import BatchSource

logger = logging.getLogger(__name__)

__all__ = ["NO_EFFECT", "BestState", "NonFiniteCounts", "nonfinite_message", "nonfinite_values"]

# Config keys that do not change a training run's numbers (a resume with other values is exact).
NO_EFFECT = ("progress", "num_threads", "log_every", "nonfinite")


@dataclass
class BestState:
    """The selected model so far; the checkpoint stores it as a plain dict (:meth:`as_dict`).

    Attributes:
        value: Its ``metrics[select]``, or None (no evaluation yet, or no ``select``).
        step: Optimizer step of its evaluation, or None.
        epoch: Epoch (0-based) of its evaluation, or None.
        metrics: Its evaluation metrics.
        bad_evals: Evaluations since the last improvement (for early stopping).
        state_dict: A CPU copy of its weights (only with ``select``), or None.
    """

    value: float | None = None
    step: int | None = None
    epoch: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    bad_evals: int = 0
    state_dict: dict[str, Tensor] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint's ``best`` entry (the fields, in order, not copied)."""
        return {
            "value": self.value,
            "step": self.step,
            "epoch": self.epoch,
            "metrics": self.metrics,
            "bad_evals": self.bad_evals,
            "state_dict": self.state_dict,
        }


@dataclass
class NonFiniteCounts:
    """Optimizer steps skipped for a non-finite loss or gradient (``train.nonfinite: skip``).

    Attributes:
        total: Steps skipped in the whole run.
        epoch: Epoch that ``in_epoch`` counts for.
        in_epoch: Steps skipped in ``epoch``.
        warned_at: Optimizer step of the last warning, or None.
    """

    total: int = 0
    epoch: int = 0
    in_epoch: int = 0
    warned_at: int | None = None

    def add(self, epoch: int) -> None:
        """Count one skipped step of ``epoch``."""
        if epoch != self.epoch:
            self.epoch, self.in_epoch = epoch, 0
        self.total += 1
        self.in_epoch += 1


@dataclass
class _State:
    """Counters the checkpoint carries."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: BestState = field(default_factory=BestState)
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    nonfinite: NonFiniteCounts = field(default_factory=NonFiniteCounts)


class _Window:
    """Sums of the task logs since the last logged step, kept on device (no sync per batch)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.batches, self.graphs, self.seconds = 0, 0, 0.0

    def add(self, out: TaskOutput, graphs: int) -> None:
        """Add one micro-batch's loss and logs (``graphs`` molecules) to the sums."""
        logs = {"loss": out.loss, **out.logs}
        for name, value in logs.items():
            value = torch.as_tensor(value).detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.batches += 1
        self.graphs += graphs

    def pop(self) -> dict[str, float]:
        """The means since the last call (and the throughput); starts a new window."""
        means = {name: (total / max(self.batches, 1)).item() for name, total in self.sums.items()}
        means["graphs_per_s"] = self.graphs / self.seconds if self.seconds > 0 else 0.0
        self.__init__()
        return means

    def state(self) -> dict[str, Any]:
        """The window as plain CPU values, for the checkpoint."""
        sums = {k: v.cpu() for k, v in self.sums.items()}
        return dict(sums=sums, batches=self.batches, graphs=self.graphs, seconds=self.seconds)

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state`'s output, the sums on ``device``."""
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.batches, self.graphs, self.seconds = (
            state["batches"],
            state["graphs"],
            state["seconds"],
        )


@dataclass
class _Optimization:
    """The optimizer, its LR schedule and the fp16 gradient scaler (disabled otherwise)."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler


@dataclass(frozen=True)
class _Selection:
    """How evaluations select the best model: :func:`train`'s arguments of the same names."""

    evaluate: Callable[[nn.Module], dict[str, float]] | None
    select: str | None
    mode: str
    on_best: Callable[[nn.Module, dict[str, float]], None] | None


@dataclass
class _Run:
    """Everything one call of :func:`train` works on, built by :func:`_setup`."""

    task: nn.Module
    model: nn.Module  # ``task``, or its DDP wrapper in a distributed job
    data: BatchSource
    cfg: TrainConfig
    selection: _Selection
    device: torch.device
    main: bool
    opt: _Optimization
    total_steps: int
    ckpt_path: Path
    state: _State
    window: _Window
    loggers: list[MetricLogger]
    bar: tqdm
    train_seconds: float = 0.0
    train_graphs: int = 0
    saved_step: int | None = None  # step of the training state this run wrote or resumed from
    epoch_batches: int = 0  # batches of the current epoch
    # (detached loss, logs, graphs) of the micro-batches of the current accumulation group
    pending: list[tuple[Tensor, dict[str, Tensor], int]] = field(default_factory=list)


def _resume_from(
    ckpt_path: Path,
    task: nn.Module,
    opt: _Optimization,
    window: _Window,
    cfg: TrainConfig,
    device: torch.device,
) -> _State:
    """Load the training state of ``ckpt_path`` into ``task``, ``opt``, ``window`` and the RNGs."""
    ckpt = load_training_state(ckpt_path)
    _load_task_state(task, ckpt["model"], ckpt_path)
    opt.optimizer.load_state_dict(ckpt["optimizer"])
    opt.scheduler.load_state_dict(ckpt["scheduler"])
    opt.scaler.load_state_dict(ckpt["scaler"] or {})
    counters = {k: ckpt[k] for k in ("step", "epoch", "batch_in_epoch", "history")}
    best = BestState(**ckpt["best"])
    extra = ckpt["extra"]
    nonfinite = NonFiniteCounts(**extra.get("nonfinite", {}))  # absent before it was counted
    state = _State(**counters, best=best, stopped_early=extra["stopped_early"], nonfinite=nonfinite)
    window.load(extra["window"], device)
    restore_rng_state(ckpt["rng"])
    old = ckpt["config"] or {}
    changed = [k for k, v in asdict(cfg).items() if old.get(k) != v and k not in NO_EFFECT]
    if changed:
        logger.warning("resuming with changed %s: resume may not be exact", changed)
    logger.info("resumed from %s at step %d (epoch %d)", ckpt_path, state.step, state.epoch)
    return state


def _load_task_state(task: nn.Module, state: dict[str, Tensor], ckpt_path: Path) -> None:
    """``task.load_state_dict(state)``, or a :class:`CheckpointError` that says why it cannot.

    Training states written before the architecture step name the graph encoder of a property
    model ``model.encoder.*`` (now ``model.graph_encoder.*``) and of a molecule–text model
    ``...graph.*``: they cannot be resumed by this version.
    """
    problems = state_mismatches(task.state_dict(), state)
    if not problems:
        task.load_state_dict(state)
        return
    old_layout = any(".encoder." in k or ".graph." in k for k in state) and not any(
        "graph_encoder." in k for k in state
    )
    why = (
        "it was written by a molgraphpt before the checkpoint format 2 renamed the graph "
        "encoder to graph_encoder.*; rerun without --resume (or finish it with the version "
        "that started it)"
        if old_layout
        else "was the run started with another model config?"
    )
    raise CheckpointError(f"cannot resume from {ckpt_path}: {problems}; {why}")


def _evaluate(task: nn.Module, evaluate: Callable[[nn.Module], dict[str, float]]) -> dict:
    """``evaluate(task)`` in eval mode without gradients, as floats; ``task`` trains again after."""
    task.eval()
    try:
        with torch.no_grad():
            return {name: float(value) for name, value in evaluate(task).items()}
    finally:
        task.train()


def _update_best(
    best: BestState,
    metrics: dict,
    select: str | None,
    mode: str,
    task: nn.Module,
    step: int,
    epoch: int,
) -> bool:
    """Record ``metrics`` if they improve on ``best``; return whether they did."""
    value = None
    if select is not None:
        if select not in metrics:
            hint = "pass select= one of the metrics evaluate returns"
            raise UnknownNameError("metric", select, choices=metrics, hint=hint)
        value, previous = metrics[select], best.value
        improved = math.isfinite(value) and (
            previous is None or (value > previous if mode == "max" else value < previous)
        )
    else:
        improved = True  # without a metric to select on, the latest evaluation is the result
    if not improved:
        best.bad_evals += 1
        return False
    state = None
    if select is not None:
        state = {k: v.detach().to("cpu", copy=True) for k, v in task.state_dict().items()}
    best.value, best.step, best.epoch = value, step, epoch
    best.metrics, best.bad_evals, best.state_dict = dict(metrics), 0, state
    return True


def nonfinite_values(
    pending: list[tuple[Tensor, dict[str, Tensor], int]], grad_norm: Tensor | None
) -> str:
    """The first non-finite loss of a group (with each objective's loss), else the grad norm.

    Args:
        pending: ``(loss, logs, graphs)`` of the group's micro-batches, ``loss`` a scalar.
        grad_norm: The group's total gradient norm (a scalar), when clipping computed it.
    """
    for loss, logs, _ in pending:
        if bool(torch.isfinite(loss).all()):
            continue
        parts = [  # each objective's loss, as WeightedObjectives logs them ("attr_mask/loss")
            f"{name}={float(value):.4g}"
            for name, value in logs.items()
            if name.endswith("loss") and name != "loss" and torch.as_tensor(value).numel() == 1
        ]
        per_objective = f" ({', '.join(parts)})" if parts else ""
        return f"loss={float(loss.float().mean()):.4g}{per_objective}"
    return f"gradient norm={float(grad_norm) if grad_norm is not None else math.nan:.4g}"


def nonfinite_message(
    what: str, where: str, kept: str, cfg: TrainConfig, *, too_many: str = ""
) -> str:
    """The message of a :class:`~molgraphpt.errors.NonFiniteLossError`.

    Args:
        what: The values, from :func:`nonfinite_values`.
        where: Epoch, step and batches, e.g. ``"at epoch 0, optimizer step 4 (batches 4-4 of 10)"``.
        kept: Which training state is left, e.g. ``"the last good training state is X (step 3)"``.
        cfg: The loop's config (its ``lr`` and ``clip_norm`` shape the advice).
        too_many: Set when ``skip`` mode gave up: how many steps of the epoch were skipped.
    """
    head = f"{too_many}; the latest" if too_many else "non-finite training loss or gradient"
    clip = (
        f"a smaller train.clip_norm (now {cfg.clip_norm:g})"
        if cfg.clip_norm is not None
        else "gradient clipping (train.clip_norm=1.0)"
    )
    skip = "" if too_many else ", or skip such steps with train.nonfinite=skip"
    return (
        f"{head} {where}: {what}. No optimizer step was taken with it and {kept}. Fix: lower "
        f"train.lr (now {cfg.lr:g}), use {clip}{skip}; check the data of that step for "
        f"extreme values"
    )
