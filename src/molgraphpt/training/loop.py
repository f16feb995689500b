"""The training loop: one readable function in plain PyTorch (nanoGPT / open_clip style).

:func:`train` runs a :class:`~molgraphpt.objectives.base.PretrainTask` over a
:class:`BatchSource` with autocast, gradient accumulation, clipping, a warmup schedule, periodic
evaluation with best-model selection and early stopping, and atomic checkpoints from which an
interrupted run resumes exactly (same parameters, bit for bit, on the same machine).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from tqdm.auto import tqdm

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import ConfigError, DataFormatError, NonFiniteLossError
from molgraphpt.objectives.base import TaskOutput
from molgraphpt.seed import seed_everything
from molgraphpt.training import optim
from molgraphpt.training.checkpoint import capture_rng_state, save_training_state
from molgraphpt.training.config import TrainConfig
from molgraphpt.training.distributed import broadcast_object, is_distributed, is_main_process
from molgraphpt.training.distributed import local_rank as _local_rank
from molgraphpt.training.loggers import MetricLogger, build_loggers, format_metrics
from molgraphpt.training.loop_state import (
    BestState,
    NonFiniteCounts,
    _evaluate,
    _Optimization,
    _resume_from,
    _Run,
    _Selection,
    _State,
    _update_best,
    _Window,
    nonfinite_message,
    nonfinite_values,
)

__all__ = ["BatchSource", "BestState", "NonFiniteCounts", "TrainResult", "train"]

logger = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# With ``train.nonfinite: skip``, more skipped steps than this share of an epoch stop the run.
MAX_SKIPPED_FRACTION = 0.1


@runtime_checkable
class BatchSource(Protocol):
    """Where the loop gets its training batches from.

    The order of an epoch's batches must be a pure function of (seed, epoch) inside the source, so
    that a resumed run sees exactly the batches the interrupted one would have seen.
    """

    def num_batches(self, epoch: int) -> int:
        """Number of batches ``iter_epoch(epoch)`` yields (on this process)."""
        ...

    def iter_epoch(self, epoch: int, start: int = 0) -> Iterator[MolTextBatch]:
        """Yield the batches of ``epoch``, skipping the first ``start`` of them."""
        ...


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        best_metrics: Evaluation metrics of the selected model ({} without ``evaluate``).
        best_step: Optimizer step of the selected model, or None.
        best_epoch: Epoch (0-based) of the selected model, or None.
        final_step: Optimizer steps taken in total.
        history: One dict per evaluation: ``step``, ``epoch`` and the metrics.
        stopped_early: Whether early stopping ended the run.
        wall_time_s: Duration of this call.
        train_graphs_per_s: Training throughput of this call (evaluation and saving excluded).
        nonfinite_steps_skipped: Optimizer steps skipped for a non-finite loss or gradient
            (``train.nonfinite: skip``), over the whole run.
    """

    best_metrics: dict[str, float]
    best_step: int | None
    best_epoch: int | None
    final_step: int
    history: list[dict[str, float]]
    stopped_early: bool
    wall_time_s: float
    train_graphs_per_s: float
    nonfinite_steps_skipped: int = 0


def _resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device != "auto":
        device = torch.device(cfg.device)
    elif torch.cuda.is_available():
        device = torch.device("cuda", _local_rank() if is_distributed() else 0)
    else:
        device = torch.device("cpu")
    if cfg.precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            "train.precision",
            "fp16",
            expected=f"'fp32' or 'bf16' on device {str(device)!r}",
            hint="fp16 mixed precision needs CUDA (GradScaler); use train.precision=bf16 on CPU",
        )
    if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("train.precision", "bf16", expected="'fp16' or 'fp32' on this GPU")
    return device


def _total_steps(data: BatchSource, cfg: TrainConfig) -> int:
    if cfg.max_steps is not None:
        return cfg.max_steps
    total = sum(math.ceil(data.num_batches(e) / cfg.grad_accum) for e in range(cfg.epochs))
    if total == 0:
        raise DataFormatError("train_data yields no batches: check the training dataset")
    return total


def _num_graphs(batch: MolTextBatch) -> int:
    try:
        return batch.num_graphs
    except TypeError:  # neither graph nor y: throughput is not measurable
        return 0


def _check_arguments(
    cfg: TrainConfig,
    selection: _Selection,
    param_groups: list[dict[str, Any]] | None,
    head_prefixes: Sequence[str],
) -> None:
    """Reject contradictory arguments of :func:`train`; warn about ineffective ones."""
    if selection.mode not in ("max", "min"):
        raise ConfigError("mode", selection.mode, expected="'max' or 'min'")
    if cfg.head_lr is not None and param_groups is None and not head_prefixes:
        raise ConfigError(
            "train.head_lr",
            cfg.head_lr,
            expected="None when no head is marked",
            hint="pass head_prefixes= (or param_groups=) to train()",
        )
    if cfg.patience is not None and (selection.evaluate is None or selection.select is None):
        logger.warning("train.patience=%s has no effect without evaluate and select", cfg.patience)


def _build_optimizer(
    task: nn.Module,
    cfg: TrainConfig,
    groups: list[dict[str, Any]] | None,
    head_prefixes: Sequence[str],
) -> torch.optim.Optimizer:
    """The optimizer over ``groups`` (default: built from ``task`` and ``head_prefixes``)."""
    if groups is None:
        groups = optim.param_groups(
            task, cfg.weight_decay, lr=cfg.lr, head_lr=cfg.head_lr, head_prefixes=head_prefixes
        )
    return optim.build_optimizer(groups, cfg)


def _setup(
    task: nn.Module,
    data: BatchSource,
    cfg: TrainConfig,
    run_dir: Path,
    selection: _Selection,
    *,
    resume: bool,
    param_groups: list[dict[str, Any]] | None,
    head_prefixes: Sequence[str],
) -> _Run:
    """Seed, move ``task`` to its device, build the optimization, resume, wrap in DDP."""
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    main = is_main_process()
    device = _resolve_device(cfg)
    seed_everything(cfg.seed)
    task.to(device)
    optimizer = _build_optimizer(task, cfg, param_groups, head_prefixes)
    total_steps = _total_steps(data, cfg)
    scheduler = optim.build_scheduler(optimizer, cfg, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    opt = _Optimization(optimizer, scheduler, scaler)
    state, window = _State(), _Window()

    ckpt_path = run_dir / "checkpoints" / "last.pt"
    resumed = resume and ckpt_path.exists()
    if resumed:
        state = _resume_from(ckpt_path, task, opt, window, cfg, device)
    elif resume:
        logger.info("no checkpoint at %s: starting a fresh run", ckpt_path)

    loggers: list[MetricLogger] = []
    if main:
        loggers = build_loggers(run_dir, resume_step=state.step if resumed else None)
    model: nn.Module = task
    if is_distributed():
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(task, device_ids=ids)
    show = None if cfg.progress and main else True  # None: tqdm shows it only on a terminal
    bar = tqdm(total=total_steps, initial=state.step, desc="train", disable=show)
    return _Run(
        task=task,
        model=model,
        data=data,
        cfg=cfg,
        selection=selection,
        device=device,
        main=main,
        opt=opt,
        total_steps=total_steps,
        ckpt_path=ckpt_path,
        state=state,
        window=window,
        loggers=loggers,
        bar=bar,
        saved_step=state.step if resumed else None,
    )


def _log(run: _Run, metrics: dict[str, float], split: str) -> None:
    """Send ``metrics`` to every logger, at the current step and epoch."""
    for sink in run.loggers:
        sink.log(metrics, step=run.state.step, epoch=run.state.epoch, split=split)


def _save(run: _Run) -> None:
    """Write the full training state to ``checkpoints/last.pt`` (rank 0 only)."""
    if not run.main:
        return
    state, opt = run.state, run.opt
    extra = {
        "window": run.window.state(),
        "stopped_early": state.stopped_early,
        "nonfinite": asdict(state.nonfinite),
    }
    save_training_state(
        run.ckpt_path,
        task=run.task,
        optimizer=opt.optimizer,
        scheduler=opt.scheduler,
        scaler=opt.scaler,
        step=state.step,
        epoch=state.epoch,
        batch_in_epoch=state.batch_in_epoch,
        best=state.best.as_dict(),
        history=state.history,
        rng=capture_rng_state(),
        config=asdict(run.cfg),
        extra=extra,
    )
    run.saved_step = state.step


def _run_evaluation(run: _Run) -> None:
    """Evaluate, record and log the metrics, update the best model and decide early stopping."""
    state, sel, cfg = run.state, run.selection, run.cfg
    metrics = _evaluate(run.task, sel.evaluate)
    entry = {"step": state.step, "epoch": state.epoch, **metrics}
    if state.nonfinite.total:
        entry["nonfinite_steps_skipped"] = state.nonfinite.total
    state.history.append(entry)
    _log(run, metrics, "val")
    logger.info("step %d eval: %s", state.step, format_metrics(metrics))
    if _update_best(state.best, metrics, sel.select, sel.mode, run.task, state.step, state.epoch):
        if sel.on_best is not None and run.main:
            sel.on_best(run.task, metrics)
    stop = cfg.patience is not None and sel.select is not None
    stop = stop and state.best.bad_evals >= cfg.patience
    state.stopped_early = bool(broadcast_object(stop))
    if state.stopped_early:
        logger.info("early stopping at step %d (%r did not improve)", state.step, sel.select)


def _forward_backward(run: _Run, batch: MolTextBatch, i: int, n: int) -> bool:
    """Accumulate the gradient of micro-batch ``i`` of ``n``; return whether a group ends."""
    cfg, device, model = run.cfg, run.device, run.model
    group_start = i - i % cfg.grad_accum
    group_size = min(cfg.grad_accum, n - group_start)
    boundary = i + 1 == group_start + group_size
    batch = batch.to(device, non_blocking=True)
    no_sync = model.no_sync() if model is not run.task and not boundary else nullcontext()
    autocast_dtype, use_autocast = _DTYPES[cfg.precision], cfg.precision != "fp32"
    with no_sync:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
            out = model(batch)
        run.opt.scaler.scale(out.loss.float() / group_size).backward()
    graphs = _num_graphs(batch)
    run.pending.append((out.loss.detach(), out.logs, graphs))
    run.train_graphs += graphs
    run.state.batch_in_epoch = i + 1
    return boundary


def _optimizer_step(run: _Run) -> tuple[float, Tensor | None]:
    """Clip, check, step the optimizer and the schedule; return the step's LR and gradient norm.

    A step with a non-finite loss or gradient is not taken: with ``train.nonfinite: stop`` it
    raises, with ``skip`` it is counted and its gradient norm returned as None.
    """
    opt, clip_norm = run.opt, run.cfg.clip_norm
    grad_norm = None
    if clip_norm is not None:
        opt.scaler.unscale_(opt.optimizer)
        grad_norm = nn.utils.clip_grad_norm_(run.task.parameters(), clip_norm)
    lr = opt.optimizer.param_groups[0]["lr"]
    if not _step_is_finite(run, grad_norm):
        _skip_step(run, grad_norm)
        return lr, None
    for loss, logs, graphs in run.pending:
        run.window.add(TaskOutput(loss, logs), graphs)
    run.pending.clear()
    opt.scaler.step(opt.optimizer)
    opt.scaler.update()
    opt.optimizer.zero_grad(set_to_none=True)
    opt.scheduler.step()
    run.state.step += 1
    return lr, grad_norm


def _step_is_finite(run: _Run, grad_norm: Tensor | None) -> bool:
    """Whether every loss of the group (and the gradient norm, when clipping) is finite.

    One host sync per optimizer step; in a distributed job every process gets the same answer.
    With fp16 the gradient scaler handles overflowing gradients itself, so only the losses count.
    """
    losses = torch.cat([loss.float().reshape(-1) for loss, _, _ in run.pending])
    finite = torch.isfinite(losses).all()
    if grad_norm is not None and not run.opt.scaler.is_enabled():
        finite = finite & torch.isfinite(grad_norm)
    flag = finite.to(torch.int32)
    if is_distributed():
        torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.MIN)
    return bool(flag.item())


def _skip_step(run: _Run, grad_norm: Tensor | None) -> None:
    """Drop the group's gradient (``skip``), or raise :class:`NonFiniteLossError`.

    A skipped step still advances the step counter and the LR schedule (as the fp16 gradient
    scaler does when it skips a step), so the run keeps its length.

    Raises:
        NonFiniteLossError: ``train.nonfinite`` is ``stop``, or more than
            ``MAX_SKIPPED_FRACTION`` of the epoch's steps were skipped.
    """
    state, opt = run.state, run.opt
    what = nonfinite_values(run.pending, grad_norm)
    if run.cfg.nonfinite == "stop":
        opt.optimizer.zero_grad(set_to_none=True)  # the task keeps no gradient of the bad step
        raise _nonfinite_error(run, what)
    state.nonfinite.add(state.epoch)
    epoch_steps = math.ceil(run.epoch_batches / run.cfg.grad_accum)
    limit = max(1, int(MAX_SKIPPED_FRACTION * epoch_steps))
    if state.nonfinite.in_epoch > limit:
        too_many = (
            f"{state.nonfinite.in_epoch} of the {epoch_steps} optimizer steps of epoch "
            f"{state.epoch} had a non-finite loss or gradient, more than the "
            f"{MAX_SKIPPED_FRACTION:.0%} train.nonfinite=skip tolerates"
        )
        opt.optimizer.zero_grad(set_to_none=True)
        raise _nonfinite_error(run, what, too_many=too_many)
    run.pending.clear()
    if opt.scaler.is_enabled():  # fp16: lower the scale as for an overflow (needs the grads)
        if run.cfg.clip_norm is None:
            opt.scaler.unscale_(opt.optimizer)
        opt.scaler.update()
    opt.optimizer.zero_grad(set_to_none=True)
    with warnings.catch_warnings():  # a first step skipped: the schedule steps before Adam
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
        opt.scheduler.step()
    state.step += 1
    counts = state.nonfinite
    if counts.warned_at is None or state.step - counts.warned_at >= run.cfg.log_every:
        counts.warned_at = state.step
        logger.warning(
            "skipped optimizer step %d (epoch %d): non-finite %s; %d step(s) skipped so far "
            "(train.nonfinite=skip)",
            state.step,
            state.epoch,
            what,
            counts.total,
        )


def _nonfinite_error(run: _Run, what: str, *, too_many: str = "") -> NonFiniteLossError:
    """The error for the current group's non-finite ``what``: where, what is kept, the fix."""
    state = run.state
    first, last = state.batch_in_epoch - len(run.pending) + 1, state.batch_in_epoch
    batches = f"batch {last}" if first == last else f"batches {first}-{last}"
    where = (
        f"at epoch {state.epoch}, optimizer step {state.step + 1} ({batches} of "
        f"{run.epoch_batches})"
    )
    if run.saved_step is not None:
        kept = f"the last good training state is {run.ckpt_path} (step {run.saved_step})"
    else:
        kept = "no training state was saved before it"
    return NonFiniteLossError(nonfinite_message(what, where, kept, run.cfg, too_many=too_many))


def _maybe_log_train(run: _Run, lr: float, grad_norm: Tensor | None) -> None:
    """Every ``log_every`` steps, log the window's means, the LR and the gradient norm."""
    if run.state.step % run.cfg.log_every != 0:
        return
    metrics = {**run.window.pop(), "lr": lr}
    if grad_norm is not None:
        metrics["grad_norm"] = float(grad_norm)
    if run.state.nonfinite.total:
        metrics["nonfinite_steps_skipped"] = float(run.state.nonfinite.total)
    _log(run, metrics, "train")
    if run.bar.disable and run.main:  # no bar to show progress: say it in the log
        logger.info("step %d/%d %s", run.state.step, run.total_steps, format_metrics(metrics))
    postfix = {"graphs_s": f"{metrics['graphs_per_s']:.0f}"}
    if "loss" in metrics:  # absent when every step of the window was skipped
        postfix = {"loss": f"{metrics['loss']:.3g}", **postfix}
    run.bar.set_postfix(postfix)


def _maybe_evaluate_and_save(run: _Run, n: int) -> bool:
    """Evaluate and save when due after a step; return whether training ends here."""
    state, cfg = run.state, run.cfg
    done = state.step >= run.total_steps
    if cfg.eval_every:
        at_eval = state.step % cfg.eval_every == 0
    else:
        at_eval = state.batch_in_epoch == n
    if run.selection.evaluate is not None and (at_eval or done):
        _run_evaluation(run)
    at_save = state.step % cfg.save_every == 0 if cfg.save_every else at_eval
    if at_save or done or state.stopped_early:
        _save(run)
    return done or state.stopped_early


def _run_epoch(run: _Run, n: int) -> None:
    """Train on the rest of the current epoch's ``n`` batches, or until training ends."""
    state = run.state
    run.epoch_batches = n
    tick = time.perf_counter()
    batches = run.data.iter_epoch(state.epoch, start=state.batch_in_epoch)
    for i, batch in enumerate(batches, start=state.batch_in_epoch):
        if i >= n:
            raise DataFormatError(
                f"iter_epoch({state.epoch}) yields more than "
                f"num_batches({state.epoch}) = {n} batches"
            )
        if not _forward_backward(run, batch, i, n):
            continue
        lr, grad_norm = _optimizer_step(run)
        now = time.perf_counter()
        run.train_seconds += now - tick
        run.window.seconds += now - tick
        run.bar.update()
        _maybe_log_train(run, lr, grad_norm)
        if _maybe_evaluate_and_save(run, n):
            return
        tick = time.perf_counter()
    if state.batch_in_epoch != n:
        raise DataFormatError(
            f"iter_epoch({state.epoch}) stopped after {state.batch_in_epoch} of {n} batches"
        )


def _run_epochs(run: _Run) -> None:
    """Train epoch after epoch until the step budget is spent or early stopping."""
    state = run.state
    while state.step < run.total_steps and not state.stopped_early:
        n = run.data.num_batches(state.epoch)
        if n <= 0:
            raise DataFormatError(f"train_data yields no batches in epoch {state.epoch}")
        if state.batch_in_epoch >= n:  # an epoch's end (reached, or resumed from a checkpoint)
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            continue
        _run_epoch(run, n)


def _finish(run: _Run, started: float) -> TrainResult:
    """Load the best weights back into the task; summarize the run."""
    best, state = run.state.best, run.state
    if best.state_dict is not None:
        run.task.load_state_dict(best.state_dict)
        logger.info("loaded the best model (step %d) into the task", best.step)
    graphs_per_s = run.train_graphs / run.train_seconds if run.train_seconds > 0 else 0.0
    return TrainResult(
        best_metrics=dict(best.metrics),
        best_step=best.step,
        best_epoch=best.epoch,
        final_step=state.step,
        history=list(state.history),
        stopped_early=state.stopped_early,
        wall_time_s=time.perf_counter() - started,
        train_graphs_per_s=graphs_per_s,
        nonfinite_steps_skipped=state.nonfinite.total,
    )


def train(
    task: nn.Module,
    train_data: BatchSource,
    cfg: TrainConfig,
    *,
    run_dir: str | Path,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    select: str | None = None,
    mode: Literal["max", "min"] = "max",
    resume: bool = False,
    param_groups: list[dict[str, Any]] | None = None,
    on_best: Callable[[nn.Module, dict[str, float]], None] | None = None,
    head_prefixes: Sequence[str] = (),
) -> TrainResult:
    """Train ``task`` (its ``forward(batch)`` returns a ``TaskOutput``) on ``train_data``.

    Each micro-batch's loss is divided by the size of its accumulation group, so one optimizer
    step sees the mean gradient of up to ``cfg.grad_accum`` micro-batches. Evaluation calls
    ``evaluate(task)`` in eval mode under ``torch.no_grad()``. With ``select``, the best model is
    the one with the best ``metrics[select]`` (NaN never wins); a CPU copy of its weights is kept
    and **loaded back into** ``task`` when training ends, so ``task`` holds the best model, not
    the last (the last is in ``checkpoints/last.pt``). Without ``select`` the last evaluation is
    reported and ``task`` keeps its final weights.

    A NaN or infinite loss (or gradient norm, when ``cfg.clip_norm`` computes it) is never
    stepped on: ``cfg.nonfinite`` ``"stop"`` raises :class:`NonFiniteLossError`, ``"skip"``
    drops the step and counts it (``TrainResult.nonfinite_steps_skipped``).

    Files under ``run_dir``: ``metrics.csv`` (``step,epoch,split,name,value``; split ``train``
    or ``val``), ``checkpoints/last.pt`` (full training state) and ``tensorboard/`` when
    TensorBoard is installed. In a ``torchrun`` job the task is wrapped in DDP, ``evaluate``
    runs on every process, and only rank 0 writes files, calls ``on_best`` and shows progress.

    Args:
        task: The objective to train; moved to the configured device.
        train_data: Source of training batches.
        cfg: Loop options.
        run_dir: Directory of this run's files.
        evaluate: Returns validation metrics of the model; None never evaluates.
        select: Metric of ``evaluate``'s output used for model selection and early stopping.
        mode: Whether a higher (``"max"``) or lower (``"min"``) ``select`` value is better.
        resume: Continue from ``run_dir/checkpoints/last.pt`` exactly where it stopped (same
            ``cfg`` expected); without a checkpoint, log it and start afresh.
        param_groups: Ready optimizer groups; None builds them with
            :func:`~molgraphpt.training.optim.param_groups`.
        on_best: Called as ``on_best(task, metrics)`` after each improving evaluation.
        head_prefixes: Module paths of the parameters trained with ``cfg.head_lr``.

    Returns:
        The :class:`TrainResult`.

    Raises:
        NonFiniteLossError: A non-finite loss or gradient (see above); ``checkpoints/last.pt``
            keeps the last good state.
    """
    started = time.perf_counter()
    selection = _Selection(evaluate, select, mode, on_best)
    _check_arguments(cfg, selection, param_groups, head_prefixes)
    run = _setup(
        task,
        train_data,
        cfg,
        Path(run_dir),
        selection,
        resume=resume,
        param_groups=param_groups,
        head_prefixes=head_prefixes,
    )
    run.model.train()
    try:
        _run_epochs(run)
    finally:
        run.bar.close()
        for sink in run.loggers:
            sink.close()
    return _finish(run, started)
