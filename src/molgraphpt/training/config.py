"""``TrainConfig``: every knob of the training loop, validated when it is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from molgraphpt.errors import ConfigError

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear")
PRECISIONS = ("fp32", "bf16", "fp16")
NONFINITE = ("stop", "skip")


def _check_int(key: str, value: object, *, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ConfigError(f"train.{key}", value, expected=what)


def _check_float(key: str, value: object, *, positive: bool, optional: bool = False) -> None:
    if optional and value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = (
        ok and value == value and (value > 0 if positive else value >= 0)
    )  # value == value: not NaN
    if not ok:
        what = "a number " + ("> 0" if positive else ">= 0") + (" or None" if optional else "")
        raise ConfigError(f"train.{key}", value, expected=what)


def _check_choice(key: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"train.{key}", value, expected="one of " + ", ".join(map(repr, choices)))


@dataclass(frozen=True)
class TrainConfig:
    """Options of :func:`molgraphpt.training.loop.train`.

    Attributes:
        epochs: Passes over the training data (ignored when ``max_steps`` is set).
        max_steps: Number of optimizer steps to run; overrides ``epochs`` when set.
        batch_size: Molecules per micro-batch. The loop does not batch data itself: this is read by
            the code that builds the ``BatchSource``.
        lr: Peak learning rate of every parameter not marked as head.
        head_lr: Peak learning rate of the parameters a caller marks as head (see
            :func:`molgraphpt.training.optim.param_groups`); None uses ``lr``.
        weight_decay: Weight decay of matrices (never of biases, norms, embeddings or
            ``logit_scale``). With ``adam`` it is an L2 penalty, with ``adamw`` it is decoupled.
        optimizer: ``"adam"`` or ``"adamw"``.
        schedule: After warmup, keep the LR ``"constant"``, or decay it to 0 along a ``"cosine"``
            or ``"linear"`` curve by the last step.
        warmup_steps: Optimizer steps of linear warmup from ``lr / warmup_steps`` to ``lr``.
        grad_accum: Micro-batches whose gradients are summed into one optimizer step. The last
            group of an epoch may be shorter; it still steps, with the loss averaged over it.
        clip_norm: Clip the global gradient norm to this value; None disables clipping.
        precision: ``"fp32"``, or autocast to ``"bf16"`` (CPU or CUDA) or ``"fp16"`` (CUDA only,
            with a gradient scaler).
        eval_every: Evaluate every N optimizer steps; 0 evaluates at the end of every epoch. The
            loop also evaluates after the last step.
        save_every: Write ``checkpoints/last.pt`` every N optimizer steps; 0 writes it at every
            evaluation point. The loop also writes it after the last step.
        patience: Stop after this many evaluations without improvement of the selected metric;
            None never stops early.
        log_every: Log the training metrics (averaged over the window) every N optimizer steps.
        seed: Seed of Python, NumPy and torch RNGs at the start of the run.
        device: ``"auto"`` (CUDA when available, else CPU) or a torch device string.
        progress: Show a tqdm progress bar (on the main process, when stderr is a terminal).
        num_threads: Call ``torch.set_num_threads`` with this value; None leaves it alone.
        nonfinite: What a NaN or infinite loss (or gradient norm, when ``clip_norm`` computes
            it) does: ``"stop"`` raises :class:`~molgraphpt.errors.NonFiniteLossError` before
            the optimizer step, keeping the last good ``checkpoints/last.pt``; ``"skip"`` drops
            that step's gradient, counts it and warns, and still stops when more than 10% of an
            epoch's steps are skipped.
    """

    epochs: int = 100
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    head_lr: float | None = None
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw"] = "adam"
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    grad_accum: int = 1
    clip_norm: float | None = None
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    eval_every: int = 0
    save_every: int = 0
    patience: int | None = None
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    num_threads: int | None = None
    nonfinite: Literal["stop", "skip"] = "stop"

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("max_steps", self.max_steps, minimum=1, optional=True)
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_float("lr", self.lr, positive=True)
        _check_float("head_lr", self.head_lr, positive=True, optional=True)
        _check_float("weight_decay", self.weight_decay, positive=False)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_int("warmup_steps", self.warmup_steps, minimum=0)
        _check_int("grad_accum", self.grad_accum, minimum=1)
        _check_float("clip_norm", self.clip_norm, positive=True, optional=True)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_int("eval_every", self.eval_every, minimum=0)
        _check_int("save_every", self.save_every, minimum=0)
        _check_int("patience", self.patience, minimum=1, optional=True)
        _check_int("log_every", self.log_every, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("num_threads", self.num_threads, minimum=1, optional=True)
        _check_choice("nonfinite", self.nonfinite, NONFINITE)
        if not isinstance(self.progress, bool):
            raise ConfigError("train.progress", self.progress, expected="true or false")
        self._check_device()

    def _check_device(self) -> None:
        if self.device == "auto":
            return
        import torch

        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as err:
            raise ConfigError(
                "train.device", self.device, expected="'auto' or a torch device such as 'cpu'"
            ) from err
        if device.type == "cpu" and self.precision == "fp16":
            raise ConfigError(
                "train.precision",
                self.precision,
                expected="'fp32' or 'bf16' on CPU",
                hint="fp16 mixed precision needs a CUDA device; use train.precision=bf16 on CPU",
            )
