"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot).

Each ``*_figure`` function returns a :class:`~matplotlib.figure.Figure` bound to its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no global pyplot state, no display
needed, safe to call from several threads. :func:`save_png` writes one atomically.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from molgraphpt.report.curves import Curve
from molgraphpt.report.files import write_atomic
from molgraphpt.report.predictions import Predictions, labelled, rmse, roc

#: Most tasks drawn in one ROC or parity figure (one panel each); the report says if it is fewer.
MAX_TASK_PANELS = 12
_COLORS = [f"C{i}" for i in range(10)]
_DPI = 110


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of ``width`` x ``height`` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: Path) -> Path:
    """Render ``fig`` as a PNG and write it to ``path`` atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return write_atomic(path, buffer.getvalue())


def color(i: int) -> str:
    """The color of the ``i``-th seed or objective (the same in every panel)."""
    return _COLORS[i % len(_COLORS)]


def training_figure(
    losses: Sequence[Curve],
    valids: Sequence[Curve],
    *,
    metric: str,
    x_label: str,
    title: str,
    log_every: int | None = None,
) -> Figure:
    """Training loss (left) and validation metric (right), one line per seed.

    Args:
        losses: One training-loss curve per seed.
        valids: One validation-metric curve per seed, in the same order; a star marks each
            seed's ``best`` point (the model kept).
        metric: The validation metric's name, e.g. ``roc_auc``.
        x_label: ``"epoch"`` or ``"optimizer step"``.
        title: The figure title.
        log_every: Steps between training-loss logs (each point is their mean), if known.
    """
    fig = new_figure(11, 4.2)
    left, right = fig.subplots(1, 2)
    for i, (loss, valid) in enumerate(zip(losses, valids)):
        left.plot(loss.x, loss.y, marker="o", ms=4, color=color(i), label=loss.label)
        right.plot(valid.x, valid.y, marker="o", ms=4, color=color(i), label=valid.label)
    for i, valid in enumerate(valids):
        if valid.best is not None:
            first = all(v.best is None for v in valids[:i])
            right.plot(
                *valid.best,
                marker="*",
                ms=14,
                color=color(i),
                mec="black",
                ls="none",
                label="model kept" if first else None,
            )
    for name, start, end in valids[0].phases if valids else []:
        if name == "probe":
            for ax in (left, right):
                ax.axvspan(start, end, color="grey", alpha=0.12, lw=0)
            right.text(
                start + 0.02 * (end - start),
                0.02,
                "linear probe\n(encoder frozen)",
                transform=right.get_xaxis_transform(),
                fontsize="small",
                color="dimgrey",
            )
    if not any(loss.x for loss in losses):
        left.text(
            0.5,
            0.5,
            "no training loss logged\n(fewer optimizer steps than train.log_every)",
            transform=left.transAxes,
            ha="center",
            va="center",
            color="dimgrey",
        )
    every = f" (mean of every {log_every} steps)" if log_every and log_every > 1 else ""
    left.set(title=f"training loss{every}", xlabel=x_label, ylabel="loss")
    right.set(title=f"validation {metric}", xlabel=x_label, ylabel=metric)
    x_max = max((x for curve in [*losses, *valids] for x in curve.x), default=0.0)
    for ax in (left, right):
        if ax is left and not any(loss.x for loss in losses):
            ax.set(xticks=[], yticks=[])
            continue
        _finish(ax)
        if x_max > 0:  # room for the last point's marker (the kept model's star)
            ax.set_xlim(0, 1.03 * x_max)
        if x_label == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title)
    return fig


def _finish(ax: Axes, *, legend: bool = True) -> None:
    """Grid, x axis from 0 and a legend (if anything has a label)."""
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _wrap(text: str, width: int = 40) -> str:
    """``text`` broken into lines of at most ``width`` characters (long task names)."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _task_grid(num_tasks: int, panel: float) -> tuple[Figure, list[Axes]]:
    """A figure with one square panel per task (at most MAX_TASK_PANELS, three per row)."""
    shown = min(num_tasks, MAX_TASK_PANELS)
    cols = min(3, shown)
    rows = math.ceil(shown / cols)
    fig = new_figure(panel * cols + 0.6, panel * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[shown:]:
        ax.set_visible(False)
    return fig, axes[:shown]


def roc_figure(seeds: Sequence[tuple[str, Predictions]], *, title: str) -> Figure:
    """Test-set ROC curves: one panel per task, one line per seed (AUC in the legend).

    Args:
        seeds: ``(label, predictions)`` per seed; the first seed's tasks are drawn.
        title: The figure title.
    """
    tasks = seeds[0][1].tasks
    fig, axes = _task_grid(len(tasks), 4.0)
    for t, ax in enumerate(axes):
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
        for i, (label, pred) in enumerate(seeds):
            curve = roc(pred, pred.tasks.index(tasks[t])) if tasks[t] in pred.tasks else None
            if curve is None:
                ax.text(0.5, 0.3, f"{label}: one class only", ha="center", fontsize="small")
                continue
            name = f"{label} (AUC {curve.auc:.3f})"
            ax.plot(curve.fpr, curve.tpr, color=color(i), lw=1.5, label=name)
        ax.set(title=_wrap(tasks[t]), xlabel="false positive rate", ylabel="true positive rate")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), aspect="equal")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    fig.suptitle(title)
    return fig


def parity_figure(seeds: Sequence[tuple[str, Predictions]], *, title: str) -> Figure:
    """Test-set predicted vs target: one panel per task, one color per seed, the y = x line.

    Args:
        seeds: ``(label, predictions)`` per seed; the first seed's tasks are drawn.
        title: The figure title.
    """
    tasks = seeds[0][1].tasks
    fig, axes = _task_grid(len(tasks), 4.2)
    for t, ax in enumerate(axes):
        errors, lo, hi = [], math.inf, -math.inf
        for i, (label, pred) in enumerate(seeds):
            if tasks[t] not in pred.tasks:
                continue
            k = pred.tasks.index(tasks[t])
            y, p = labelled(pred, k)
            if not y.size:
                continue
            errors.append(rmse(pred, k))
            lo, hi = min(lo, y.min(), p.min()), max(hi, y.max(), p.max())
            name = f"{label} (RMSE {errors[-1]:.4g})"
            ax.scatter(y, p, s=14, alpha=0.6, color=color(i), edgecolors="none", label=name)
        if errors:
            pad = 0.05 * (hi - lo or 1.0)
            ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="grey", lw=1)
            ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), aspect="equal")
        mean = sum(errors) / len(errors) if errors else math.nan
        over = f" (mean of {len(errors)} seeds)" if len(errors) > 1 else ""
        ax.set(title=_wrap(f"{tasks[t]}: RMSE {mean:.4g}{over}"), xlabel="target")
        ax.set_ylabel("predicted")
        ax.grid(True, alpha=0.3)
        if errors:
            ax.legend(fontsize="small", loc="upper left")
    fig.suptitle(title)
    return fig


def pretrain_figure(curves: Sequence[Curve], *, title: str) -> Figure:
    """Loss of each objective against optimizer steps; validation dashed, in the same color.

    The y axis is logarithmic when the drawn losses span more than a factor of 10.
    """
    fig = new_figure(8, 4.5)
    ax = fig.subplots()
    colors: dict[str, str] = {}
    for curve in curves:
        base = curve.label.removesuffix(" (valid)")
        c = colors.setdefault(base, color(len(colors)))
        if curve.label.endswith(" (valid)"):
            ax.plot(curve.x, curve.y, ls="--", marker="s", ms=5, color=c, label=curve.label)
        else:
            ax.plot(curve.x, curve.y, marker="o", ms=3, color=c, label=curve.label)
    values = [v for curve in curves for v in curve.y]
    if values and min(values) > 0 and max(values) > 10 * min(values):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="optimizer step", ylabel="loss", title=title)
    _finish(ax)
    return fig


def confusion_figure(
    counts: np.ndarray, labels: Sequence[str], *, title: str, negative: str | None = None
) -> Figure:
    """A confusion matrix: rows gold labels, columns predicted labels, every cell annotated.

    Cells show their count and share of the row and are shaded by that share (so that a large
    label, such as a "no relation" one, does not wash out the others); the row totals are in
    the gold labels' tick labels.

    Args:
        counts: ``[num_labels, num_labels]`` counts, ``counts[gold, predicted]``.
        labels: Label names, in the order of ``counts``.
        title: The figure title.
        negative: The negative label, if any (marked in the tick labels).
    """
    n = len(labels)
    totals = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals[:, None] > 0, counts / np.maximum(totals[:, None], 1), 0.0)
    names = [_wrap(f"{name} (negative)" if name == negative else str(name), 18) for name in labels]
    side = max(5.0, 1.6 + 0.75 * n)
    fig = new_figure(side + 1.6, side)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="equal")
    size = "medium" if n <= 6 else "small" if n <= 12 else "x-small"
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                text, ink = f"{counts[i, j]}\n{share[i, j]:.0%}", "black"
            else:
                text, ink = "0", "darkgrey"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=size,
                color="white" if share[i, j] > 0.55 else ink,
                fontweight="bold" if i == j else "normal",
            )
    ax.set_xticks(range(n), names, rotation=40, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), [f"{name}\n(n={totals[i]})" for i, name in enumerate(names)])
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set(xlabel="predicted label", ylabel="gold label")
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("share of the gold label's sentences")
    fig.suptitle(_wrap(title, 70))
    return fig
