"""The sections of a fine-tuning run's report: data, metrics table and figures.

Reads ``results.json`` (through :class:`~molgraphpt.report.files.Run`), ``seed_<s>/metrics.csv``
and ``seed_<s>/test_predictions.csv``; draws the training curves and, from the test
predictions, ROC curves (classification) or a parity plot (regression).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molgraphpt.report.curves import finetune_curves, seed_metric_files, steps_per_epoch
from molgraphpt.report.files import Run
from molgraphpt.report.markdown import Link, data_files, data_files_table, fmt, mean_std, table
from molgraphpt.report.plots import (
    MAX_TASK_PANELS,
    parity_figure,
    roc_figure,
    save_png,
    training_figure,
)
from molgraphpt.report.predictions import Predictions, read_predictions

PREDICTIONS = "test_predictions.csv"


def seeds_of(run: Run) -> list[dict[str, Any]]:
    """The per-seed entries of ``results.json`` that name their seed."""
    return [s for s in run.summary.get("seeds") or [] if isinstance(s, dict) and "seed" in s]


def data_section(run: Run) -> list[str]:
    """Dataset, task, split sizes, row counts and data hashes, as far as they are recorded."""
    s = run.summary
    lines = ["## Data", ""]
    task = f"{s.get('task_type', 'unknown task type')}, {s.get('num_tasks', '?')} task(s)"
    lines.append(
        f"- dataset: **{s.get('dataset', 'not recorded')}** ({task}, metric `{s['metric']}`)"
    )
    split = s.get("split")
    if isinstance(split, dict):
        sizes = split.get("sizes") or []
        sized = " / ".join(str(n) for n in sizes) if sizes else "not recorded"
        lines.append(
            f"- split: {split.get('name', 'not recorded')}, molecules train / valid / "
            f"test = {sized}"
        )
    info = s.get("data_info")
    if isinstance(info, dict) and info:
        lines.append(
            "- rows: "
            + ", ".join(
                f"{k.removeprefix('num_').replace('_', ' ')} {fmt(v)}" for k, v in info.items()
            )
        )
    files = data_files(s)
    if not files:
        lines.append("- input file hashes: not recorded by this run")
    lines += data_files_table(files)
    return [*lines, ""]


def metrics_section(run: Run) -> list[str]:
    """Per-seed validation and test metric, then mean ± std over seeds."""
    metric = run.summary["metric"]
    rows = []
    for seed in seeds_of(run):
        rows.append(
            [
                seed["seed"],
                selected_at(seed),
                fmt(seed.get("epochs_run")),
                fmt((seed.get("valid") or {}).get(metric)),
                fmt((seed.get("test") or {}).get(metric)),
            ]
        )
    rows.append(
        [
            "**mean ± std**",
            "",
            "",
            mean_std(run.summary.get("valid")),
            mean_std(run.summary.get("test")),
        ]
    )
    head = ["seed", "model selected at", "epochs run", f"valid {metric}", f"test {metric}"]
    lines = ["## Metrics", "", *table(head, rows), ""]
    lines.append(
        "The test metric is read from the model with the best validation metric; "
        "epochs are counted from 1; std is over seeds."
    )
    skipped = sorted(
        {
            t
            for seed in seeds_of(run)
            for part in ("valid", "test")
            for t in (seed.get(part) or {}).get("skipped_tasks") or []
        }
    )
    if skipped:
        lines.append(
            f"Tasks with one class only in a split (left out of its mean): {', '.join(skipped)}."
        )
    return [*lines, ""]


def selected_at(seed: dict[str, Any]) -> str:
    """``"epoch 3 (step 78)"`` from the 0-based ``best_epoch`` and ``best_step`` of a seed."""
    epoch, step = seed.get("best_epoch"), seed.get("best_step")
    if epoch is None and step is None:
        return "n/a"
    text = f"epoch {int(epoch) + 1}" if isinstance(epoch, (int, float)) else ""
    return f"{text} (step {step})" if step is not None else text


def figures_section(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """Draw the training curves and test-set plots into ``fig_dir``; their Markdown.

    Args:
        run: The fine-tuning run.
        fig_dir: Folder the PNG files go to.
        link: The Markdown image line of a written PNG.
    """
    lines = ["## Training curves", ""]
    lines += training_plot(run, fig_dir, link)
    kind = "ROC curves" if run.summary.get("task_type") == "classification" else "Parity plot"
    lines += [f"## Test set: {kind}", ""]
    lines += _test_plot(run, fig_dir, link)
    return lines


_PROPERTY_RULE = -1  # per_epoch default: the property loader's steps-per-epoch rule


def training_plot(
    run: Run, fig_dir: Path, link: Link, *, per_epoch: int | None = _PROPERTY_RULE
) -> list[str]:
    """The training-loss / validation-metric figure of all seeds, or why there is none.

    Args:
        run: A fine-tuning run (property or relation).
        fig_dir: Where the PNG goes.
        link: Turns a PNG path into a Markdown image link.
        per_epoch: Optimizer steps per epoch (x axis in epochs; None: unknown, x axis in
            steps); by default worked out with the property loader's rule
            (:func:`~molgraphpt.report.curves.steps_per_epoch`).
    """
    metric = run.summary["metric"]
    if per_epoch == _PROPERTY_RULE:
        per_epoch = steps_per_epoch(run.summary)
    losses, valids, missing = [], [], []
    for seed in seeds_of(run):
        seed_dir = run.run_dir / f"seed_{seed['seed']}"
        if not seed_metric_files(seed_dir):
            missing.append(f"`{seed_dir.name}/metrics.csv`")
            continue
        label, best = f"seed {seed['seed']}", seed.get("best_step")
        loss, valid = finetune_curves(seed_dir, metric, per_epoch, label, best)
        losses.append(loss)
        valids.append(valid)
    lines = [f"_Missing, so not drawn: {', '.join(missing)}._", ""] if missing else []
    if not losses:
        return [*lines, "_No training curves: no seed has a metrics.csv._", ""]
    log_every = _train_setting(run, "log_every")
    fig = training_figure(
        losses,
        valids,
        metric=metric,
        title=f"{run.summary.get('dataset', '')}: training loss and validation {metric}",
        x_label="epoch" if per_epoch else "optimizer step",
        log_every=log_every,
    )
    path = save_png(fig, fig_dir / "training_curves.png")
    lines.append(link(path, f"training loss and validation {metric} per seed"))
    if not any(loss.x for loss in losses):
        lines += [
            "",
            f"_No training loss was logged: the run took fewer optimizer steps than "
            f"`train.log_every` ({fmt(log_every)})._",
        ]
    return [*lines, ""]


def _train_setting(run: Run, key: str) -> Any:
    """``config.train.<key>`` as ``results.json`` records it, or None."""
    config = run.summary.get("config")
    train = config.get("train") if isinstance(config, dict) else None
    return train.get(key) if isinstance(train, dict) else None


def _test_plot(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """The ROC or parity figure from every seed's test predictions, or why there is none."""
    seeds: list[tuple[str, Predictions]] = []
    missing = []
    for seed in seeds_of(run):
        path = run.run_dir / f"seed_{seed['seed']}" / PREDICTIONS
        if path.is_file():
            seeds.append((f"seed {seed['seed']}", read_predictions(path)))
        else:
            missing.append(f"`seed_{seed['seed']}/{PREDICTIONS}`")
    lines = []
    if missing:
        lines += [
            f"_No test predictions for this plot: {', '.join(missing)} missing (runs "
            f"made before molgraphpt wrote prediction files have none; rerun the "
            f"fine-tuning to get them)._",
            "",
        ]
    if not seeds:
        return lines
    dataset = run.summary.get("dataset", "")
    if run.summary.get("task_type") == "classification":
        fig = roc_figure(seeds, title=f"{dataset}: test-set ROC curves")
        path, alt = save_png(fig, fig_dir / "test_roc.png"), "test-set ROC curves per task"
    else:
        fig = parity_figure(seeds, title=f"{dataset}: test set, predicted vs target")
        path, alt = save_png(fig, fig_dir / "test_parity.png"), "test-set parity plot per task"
    num_tasks = len(seeds[0][1].tasks)
    if num_tasks > MAX_TASK_PANELS:
        lines += [f"_The first {MAX_TASK_PANELS} of {num_tasks} tasks are drawn._", ""]
    return [*lines, link(path, alt), ""]
