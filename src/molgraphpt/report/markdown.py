"""Markdown text of a run report: header, data fingerprints, metric tables, config block.

Pure formatting of what :mod:`molgraphpt.report.files` read; no file is written here. Numbers
are shown with 4 significant digits; a value the run did not record is left out, not invented.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from molgraphpt.report.files import Run

#: Keys a summary may record its date under, in order of preference.
DATE_KEYS = ("finished", "finished_at", "created", "date", "started", "started_at")
KIND_TITLES = {
    "finetune": "fine-tuning",
    "relation": "relation-extraction fine-tuning",
    "pretrain": "pretraining",
}
#: ``link(png, alt)``: the Markdown image line of a written PNG (relative to the report file).
Link = Callable[[Path, str], str]


def fmt(value: Any) -> str:
    """A number with 4 significant digits (``n/a`` for NaN/None, yes/no); anything else as text."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def mean_std(stats: Any) -> str:
    """``"mean ± std"`` of a ``{"mean": ..., "std": ...}`` summary entry."""
    if not isinstance(stats, dict) or "mean" not in stats:
        return "n/a"
    return f"{fmt(stats.get('mean'))} ± {fmt(stats.get('std'))}"


def cell(value: Any) -> str:
    """``value`` as a Markdown table cell (pipes escaped, no line breaks)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def command_text(command: Any) -> str | None:
    """The recorded command line as one shell-quoted string (None if not recorded)."""
    if isinstance(command, (list, tuple)):
        return shlex.join(str(part) for part in command)
    return str(command) if command else None


def run_date(run: Run) -> str:
    """The date the summary records, else the time its file was written (UTC)."""
    for key in DATE_KEYS:
        if run.summary.get(key):
            return str(run.summary[key])
    stamp = datetime.fromtimestamp(run.summary_path.stat().st_mtime, tz=timezone.utc)
    return f"{stamp.isoformat(timespec='seconds')} ({run.summary_path.name} written)"


def header(run: Run, title: str) -> list[str]:
    """The title and the run's identity: kind, folder, date, command, revision, versions."""
    summary = run.summary
    rows: list[tuple[str, str]] = [
        ("run kind", KIND_TITLES[run.kind]),
        ("run directory", f"`{run.run_dir}`"),
        ("date", run_date(run)),
    ]
    command = command_text(summary.get("command"))
    if command:
        rows.append(("command", f"`{command}`"))
    if summary.get("cwd"):
        rows.append(("working directory", f"`{summary['cwd']}`"))
    if summary.get("config_fingerprint"):
        rows.append(("config fingerprint", f"`{summary['config_fingerprint']}`"))
    rows.append(
        (
            "git revision",
            f"`{summary['git_revision']}`"
            if summary.get("git_revision")
            else "not recorded (not run from a git checkout)",
        )
    )
    versions = summary.get("versions")
    if isinstance(versions, dict) and versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    for key, label in (("wall_time_s", "wall time (s)"), ("device", "device")):
        if summary.get(key) is not None:
            rows.append((label, fmt(summary[key])))
    return [f"# {title}", "", *table(["", ""], rows), ""]


#: Keys a summary may record its input files' hashes under, in order of preference.
DATA_KEYS = ("data_hashes", "data")


def data_files(summary: dict[str, Any]) -> list[list[str]]:
    """``[role, file, sha256]`` of the input files the summary fingerprints (may be empty).

    Reads ``data_hashes`` or ``data``: a list of ``{"path", "sha256", "role"}`` entries or a
    mapping ``{path: sha256}``.
    """
    for key in DATA_KEYS:
        entries = summary.get(key)
        if isinstance(entries, dict):
            entries = [{"path": k, "sha256": v} for k, v in entries.items()]
        if not isinstance(entries, (list, tuple)):
            continue
        rows = [
            [str(e.get("role", "input")), f"`{e.get('path')}`", f"`{e['sha256']}`"]
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("sha256"), str)
        ]
        if rows:
            return rows
    return []


def data_files_table(rows: list[list[str]]) -> list[str]:
    """The table of :func:`data_files` rows, with a blank line before it."""
    return ["", *table(["role", "file", "sha256"], rows)] if rows else []


def config_block(run: Run) -> list[str]:
    """The run's config as a fenced YAML block (``config.yaml``, else the summary's copy)."""
    lines = ["## Configuration", ""]
    text = run.config_text
    if text is None:
        config = run.summary.get("config")
        if not isinstance(config, dict):
            return [*lines, f"_No config.yaml in `{run.run_dir}` and none in the summary._", ""]
        lines += [f"_`config.yaml` is missing; the copy in {run.summary_path.name}:_", ""]
        text = yaml.safe_dump(config, sort_keys=False)
    return [*lines, "```yaml", text.rstrip("\n"), "```", ""]
