"""Training curves from ``metrics.csv`` rows: what each plot draws, as plain numbers.

The training loop logs the mean training loss every ``train.log_every`` optimizer steps and the
evaluation metrics after every evaluation (``split`` ``train`` / ``val``). Fine-tuning curves are
drawn against epochs (``step / steps_per_epoch``, so an evaluation at the end of epoch 3 sits at
3.0); pretraining curves against optimizer steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molgraphpt.report.files import MetricRow, read_metrics

#: Sub-folders of a seed directory, in training order, when a strategy trains in two phases.
PHASES = ("probe", "full")


@dataclass
class Curve:
    """One line of a plot: ``y`` against ``x`` (same length), with its legend label.

    ``best`` is the point of the model a fine-tuning run kept (selected on validation), if known;
    ``phases`` the ``(name, start, end)`` x ranges of a two-phase strategy (``probe``, ``full``).
    """

    label: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    best: tuple[float, float] | None = None
    phases: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, x: float, y: float) -> None:
        """Append one point, unless ``y`` is NaN or infinite."""
        if math.isfinite(y):
            self.x.append(x)
            self.y.append(y)


def steps_per_epoch(summary: dict[str, Any]) -> int | None:
    """Optimizer steps per epoch of a fine-tuning run, from its split sizes and train config.

    Mirrors the loader (``ceil(n / batch_size)`` batches, a last one-molecule batch merged into
    the one before) and gradient accumulation. None when ``results.json`` lacks a number.
    """
    try:
        n_train = int(summary["split"]["sizes"][0])
        train = summary["config"]["train"]
        batch_size, accum = int(train["batch_size"]), int(train.get("grad_accum") or 1)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if n_train <= 0 or batch_size <= 0 or accum <= 0:
        return None
    batches = math.ceil(n_train / batch_size)
    if batches > 1 and n_train % batch_size == 1:
        batches -= 1
    return math.ceil(batches / accum)


def seed_metric_files(seed_dir: Path) -> list[Path]:
    """The ``metrics.csv`` files of one seed, in training order (one per strategy phase)."""
    if (seed_dir / "metrics.csv").is_file():
        return [seed_dir / "metrics.csv"]
    return [
        seed_dir / p / "metrics.csv" for p in PHASES if (seed_dir / p / "metrics.csv").is_file()
    ]


def finetune_curves(
    seed_dir: Path, metric: str, per_epoch: int | None, label: str, best_step: int | None = None
) -> tuple[Curve, Curve]:
    """The training loss and validation ``metric`` curves of one seed.

    Args:
        seed_dir: ``run_dir/seed_<s>``.
        metric: The dataset's metric, logged as ``valid/<metric>``.
        per_epoch: Optimizer steps per epoch (x in epochs), or None (x in optimizer steps).
        label: Legend label of both curves, e.g. ``"seed 0"``.
        best_step: Step (of the last phase) of the model kept; marks the validation curve.

    Returns:
        ``(training loss, validation metric)``; phases (linear probe, then full fine-tuning)
        follow each other on the x axis.
    """
    loss, valid = Curve(label), Curve(label)
    offset, files = 0, seed_metric_files(seed_dir)
    for path in files:
        rows = read_metrics(path)
        for row in rows:
            x = (offset + row.step) / per_epoch if per_epoch else float(offset + row.step)
            if row.split == "train" and row.name == "loss":
                loss.add(x, row.value)
            elif row.split == "val" and row.name == f"valid/{metric}":
                valid.add(x, row.value)
                if path == files[-1] and row.step == best_step and math.isfinite(row.value):
                    valid.best = (x, row.value)
        end = offset + _phase_steps(rows, per_epoch)
        if len(files) > 1:
            scale = per_epoch or 1
            valid.phases.append((path.parent.name, offset / scale, end / scale))
        offset = end
    return loss, valid


def _phase_steps(rows: list[MetricRow], per_epoch: int | None) -> int:
    """Optimizer steps a phase ran: its last logged step, rounded up to whole epochs if known."""
    last = max((row.step for row in rows), default=0)
    return math.ceil(last / per_epoch) * per_epoch if per_epoch else last


def pretrain_curves(rows: list[MetricRow], objectives: list[str]) -> list[Curve]:
    """The loss curves of a pretraining run: each objective's, train then validation.

    With more than one objective the weighted total (``loss``) comes first; with one, the
    objective's own loss is the total and is drawn once. Validation curves are labelled
    ``"<objective> (valid)"`` and drawn only if the run evaluated.
    """
    names = _loss_names(rows, objectives)
    curves = []
    for split, prefix, suffix in (("train", "", ""), ("val", "valid/", " (valid)")):
        for key, label in names:
            curve = Curve(label + suffix)
            for row in rows:
                if row.split == split and row.name == prefix + key:
                    curve.add(float(row.step), row.value)
            if curve.x:
                curves.append(curve)
    return curves


def _loss_names(rows: list[MetricRow], objectives: list[str]) -> list[tuple[str, str]]:
    """``[(logged name, legend label)]`` of the training losses to draw."""
    logged = {row.name for row in rows if row.split == "train"}
    if not objectives:  # an older pretrain.json: the objectives are the logged "<name>/loss"
        objectives = sorted(
            n[: -len("/loss")] for n in logged if n.count("/") == 1 and n.endswith("/loss")
        )
    per_objective = [(f"{name}/loss", name) for name in objectives if f"{name}/loss" in logged]
    if len(per_objective) > 1:
        return [("loss", "total (weighted sum)"), *per_objective]
    if per_objective:
        return per_objective
    return [("loss", objectives[0] if len(objectives) == 1 else "loss")]


def objective_names(summary: dict[str, Any]) -> list[str]:
    """The objective names recorded in ``pretrain.json`` (``objectives: [{name: ...}]``)."""
    names = []
    for spec in summary.get("objectives") or []:
        name = spec.get("name") if isinstance(spec, dict) else spec
        if isinstance(name, str):
            names.append(name)
    return names
