"""The sections of a pretraining run's report: corpus, final losses and the loss curves.

Reads ``pretrain.json`` (through :class:`~molgraphpt.report.files.Run`) and ``metrics.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molgraphpt.report.curves import objective_names, pretrain_curves
from molgraphpt.report.files import Run, read_metrics
from molgraphpt.report.markdown import Link, data_files, data_files_table, fmt, table
from molgraphpt.report.plots import pretrain_figure, save_png

_RUN_FACTS = (
    ("steps", "optimizer steps"),
    ("epochs", "epochs (passes over the training molecules)"),
    ("molecules_seen", "molecules seen"),
    ("molecules_per_s", "molecules per second"),
    ("num_train", "training molecules"),
    ("num_valid", "validation molecules"),
    ("world_size", "processes"),
    ("resumed", "resumed"),
)


def data_section(run: Run) -> list[str]:
    """Objectives, run size, corpus counts and the source files with their sha256."""
    s = run.summary
    objectives = ", ".join(f"`{name}`" for name in objective_names(s)) or "not recorded"
    lines = ["## Run and data", "", f"- objectives: {objectives}"]
    lines += [f"- {label}: {fmt(s[key])}" for key, label in _RUN_FACTS if s.get(key) is not None]
    corpus = s.get("corpus")
    if isinstance(corpus, dict):
        counts = ("num_rows", "num_molecules", "num_invalid", "num_partial", "num_excluded")
        known = [f"{k.removeprefix('num_')} {fmt(corpus[k])}" for k in counts if k in corpus]
        if known:
            lines.append("- corpus rows: " + ", ".join(known))
    files = data_files(s) or (_sources(corpus) if isinstance(corpus, dict) else [])
    return [*lines, *data_files_table(files), ""]


def _sources(corpus: dict[str, Any]) -> list[list[str]]:
    """``[role, file, sha256]`` of the corpus files and exclusion files (older pretrain.json)."""
    exclusion = corpus.get("exclusion")
    excluded = exclusion.get("files") if isinstance(exclusion, dict) else None
    return [
        [role, f"`{src.get('path')}`", f"`{src.get('sha256', 'n/a')}`"]
        for role, files in (("source", corpus.get("sources")), ("exclude", excluded))
        for src in files or []
        if isinstance(src, dict)
    ]


def metrics_section(run: Run) -> list[str]:
    """The final training losses (mean of the last batches) and the last validation losses."""
    train = run.summary.get("final_train")
    valid = run.summary.get("final_valid")
    train = train if isinstance(train, dict) else {}
    valid = valid if isinstance(valid, dict) else {}
    names = list(train) + [
        k.removeprefix("valid/")
        for k in valid
        if k.startswith("valid/") and k.removeprefix("valid/") not in train
    ]
    if not names:
        return ["## Final metrics", "", "_pretrain.json records no final metrics._", ""]
    rows = [[f"`{name}`", fmt(train.get(name)), fmt(valid.get(f"valid/{name}"))] for name in names]
    step = f" (step {valid['step']})" if "step" in valid else ""
    lines = ["## Final metrics", "", *table(["metric", "train", f"valid{step}"], rows), ""]
    lines.append("Train: mean over the last training batches; valid: the last evaluation.")
    return [*lines, ""]


def figures_section(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """Draw the loss curves of every objective into ``fig_dir``; their Markdown.

    Args:
        run: The pretraining run.
        fig_dir: Folder the PNG file goes to.
        link: The Markdown image line of a written PNG.
    """
    lines = ["## Loss curves", ""]
    path = run.run_dir / "metrics.csv"
    if not path.is_file():
        return [*lines, f"_No loss curves: `{path}` is missing._", ""]
    curves = pretrain_curves(read_metrics(path), objective_names(run.summary))
    if not curves:
        return [*lines, f"_No loss curves: `{path}` holds no logged loss._", ""]
    title = "pretraining loss per objective"
    png = save_png(pretrain_figure(curves, title=title), fig_dir / "pretrain_losses.png")
    return [*lines, link(png, "pretraining loss of each objective over steps"), ""]
