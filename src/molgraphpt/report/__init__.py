"""Run reports: ``molgraphpt report RUN_DIR`` writes report.md with metrics tables and PNG plots.

:func:`write_report` reads a finished run directory (files only: no torch is imported) and
writes ``RUN_DIR/report.md`` and its figures in ``RUN_DIR/report/``:

* fine-tuning (``results.json``): data and split, per-seed valid/test metric with mean ± std,
  training loss and validation metric per epoch, test-set ROC curves (classification) or a
  parity plot (regression) from ``seed_<s>/test_predictions.csv``;
* relation extraction (``results.json`` with ``task_type: relation``): labels, split sizes and
  label counts, per-seed valid/test micro-F1, macro-F1 and accuracy (and the positive-label
  scores when a negative label is declared) with mean ± std, test precision/recall/F1 per label,
  training loss and validation micro-F1 per epoch, and the test-set confusion matrix summed over
  seeds from ``seed_<s>/test_predictions.csv``;
* pretraining (``pretrain.json``): corpus files and their sha256, final losses, the loss of
  each objective over steps (validation dashed).

Both start with the run's identity (date, command, git revision, versions) and end with its
config. Every file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from molgraphpt.report import finetune, pretrain, relation
from molgraphpt.report.curves import objective_names
from molgraphpt.report.files import Run, read_run, write_atomic
from molgraphpt.report.markdown import Link, config_block, header

__all__ = ["write_report"]


def write_report(
    run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None
) -> Path:
    """Write the Markdown report of a finished run, and its PNG figures.

    Args:
        run_dir: A fine-tuning (``results.json``, property prediction or relation extraction) or
            pretraining (``pretrain.json``) run directory.
        out: The Markdown file to write (default ``run_dir/report.md``; an existing directory
            means ``out/report.md``). The figures go to the folder named like the file without
            its suffix, beside it (``report.md`` → ``report/``), linked relatively.

    Returns:
        The path of the Markdown file.

    Raises:
        RunDirError: ``run_dir`` is missing or is not a finished molgraphpt run.
        DataFormatError: One of its files does not have the layout molgraphpt writes.
    """
    run = read_run(run_dir)
    path = _report_path(run.run_dir, out)
    fig_dir = path.with_suffix("") if path.suffix else path.with_name(f"{path.name}_files")

    def link(png: Path, alt: str) -> str:
        rel = Path(os.path.relpath(png, path.parent)).as_posix()
        return f"![{alt}](<{rel}>)" if " " in rel else f"![{alt}]({rel})"

    lines = _sections(run, fig_dir, link)
    write_atomic(path, "\n".join(lines).encode())
    return path


def _report_path(run_dir: Path, out: str | os.PathLike[str] | None) -> Path:
    """Where the Markdown file goes."""
    if out is None:
        return run_dir / "report.md"
    out = Path(out)
    return out / "report.md" if out.is_dir() else out


def _sections(run: Run, fig_dir: Path, link: Link) -> list[str]:
    """All lines of the report of ``run`` (drawing its figures into ``fig_dir``)."""
    if run.kind == "finetune":
        title = f"Fine-tuning report: {run.summary.get('dataset', run.run_dir.name)}"
        module = finetune
    elif run.kind == "relation":
        title = f"Relation-extraction report: {run.summary.get('dataset', run.run_dir.name)}"
        module = relation
    else:
        names = ", ".join(objective_names(run.summary)) or "pretraining"
        title = f"Pretraining report: {names} ({run.run_dir.name})"
        module = pretrain
    return [
        *header(run, title),
        *module.data_section(run),
        *module.metrics_section(run),
        *module.figures_section(run, fig_dir, link),
        *config_block(run),
    ]
