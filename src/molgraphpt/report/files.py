"""Reading a run directory: its summary JSON, config, metrics.csv files and prediction files.

Only files are read (no torch): ``results.json`` + ``seed_<s>/`` of a fine-tuning run (property
prediction, or relation extraction: see :func:`is_relation_summary`), or
``pretrain.json`` of a pretraining run, ``config.yaml``, the training loop's long-format
``metrics.csv`` (``step,epoch,split,name,value``) and ``seed_<s>/test_predictions.csv``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from molgraphpt.errors import DataFormatError, RunDirError

FINETUNE_SUMMARY = "results.json"
PRETRAIN_SUMMARY = "pretrain.json"
METRIC_FIELDS = ("step", "epoch", "split", "name", "value")
_FINETUNE_KEYS = ("metric", "seeds")


@dataclass(frozen=True)
class Run:
    """What a report needs from a run directory.

    Attributes:
        run_dir: The run directory.
        kind: ``"finetune"`` (property prediction), ``"relation"`` (relation extraction, also
            from ``results.json``: :func:`is_relation_summary`) or ``"pretrain"``.
        summary: The content of ``results.json`` (fine-tuning) or ``pretrain.json`` (pretraining).
        summary_path: The file ``summary`` was read from.
        config_text: ``config.yaml`` as written by the run, or None if the file is missing.
    """

    run_dir: Path
    kind: str
    summary: dict[str, Any]
    summary_path: Path
    config_text: str | None


@dataclass(frozen=True)
class MetricRow:
    """One row of a ``metrics.csv`` file: ``value`` of ``name`` logged at ``step`` of ``epoch``."""

    step: int
    epoch: int
    split: str
    name: str
    value: float


def read_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read the summary and config of a finished molgraphpt run directory.

    Raises:
        RunDirError: ``run_dir`` does not exist, or holds neither ``results.json`` nor
            ``pretrain.json``.
        DataFormatError: The summary is not valid JSON or lacks the keys a fine-tuning summary has.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(
            f"run directory {run_dir} does not exist. Pass the --run-dir of a finished "
            f"`molgraphpt finetune` or `molgraphpt pretrain` run."
        )
    for kind, name in (("finetune", FINETUNE_SUMMARY), ("pretrain", PRETRAIN_SUMMARY)):
        path = run_dir / name
        if path.is_file():
            summary = read_json(path)
            if kind == "finetune":
                _check_keys(summary, _FINETUNE_KEYS, path)
                if is_relation_summary(summary):
                    kind = "relation"
            config = run_dir / "config.yaml"
            text = config.read_text() if config.is_file() else None
            return Run(run_dir, kind, summary, path, text)
    raise RunDirError(_not_a_run_message(run_dir))


def is_relation_summary(summary: dict[str, Any]) -> bool:
    """Whether a ``results.json`` was written by the relation-extraction recipe.

    The signal is ``task_type == "relation"``: the relation recipe always writes it and the
    property recipe writes ``classification`` / ``regression``. A summary that records no
    ``task_type`` is a relation run when its config copy says ``task: relation``. The metric
    name is not used (``micro_f1`` is not specific to relations), nor the prediction files'
    header (per seed, and possibly missing).
    """
    task_type = summary.get("task_type")
    if task_type is not None:
        return task_type == "relation"
    config = summary.get("config")
    return isinstance(config, dict) and config.get("task") == "relation"


def _not_a_run_message(run_dir: Path) -> str:
    """Why ``run_dir`` is not a finished run, and what to do about it."""
    msg = (
        f"{run_dir} is not a finished molgraphpt run: it has neither {FINETUNE_SUMMARY} "
        f"(written at the end of `molgraphpt finetune`) nor {PRETRAIN_SUMMARY} (written at the "
        f"end of `molgraphpt pretrain`)."
    )
    if any(run_dir.glob("seed_*")) or (run_dir / "checkpoints").is_dir():
        return (
            f"{msg} It looks like an interrupted run: finish it with the same command and "
            f"--resume, then run `molgraphpt report {run_dir}` again."
        )
    return f"{msg} Pass the --run-dir of a finished fine-tuning or pretraining run."


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        DataFormatError: The file is not valid JSON or does not hold an object.
    """
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataFormatError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}). "
            f"It was damaged after the run wrote it: rerun the run, or restore the file."
        ) from None
    if not isinstance(data, dict):
        raise DataFormatError(
            f"{path} holds a JSON {type(data).__name__}, not the object molgraphpt writes. "
            f"Pass the run directory of a molgraphpt run."
        )
    return data


def _check_keys(summary: dict[str, Any], keys: tuple[str, ...], path: Path) -> None:
    """Raise a DataFormatError naming the keys of ``keys`` that ``summary`` lacks."""
    missing = [key for key in keys if key not in summary]
    if missing:
        raise DataFormatError(
            f"{path} lacks {', '.join(repr(k) for k in missing)}: it was not written by "
            f"`molgraphpt finetune`. Pass the run directory of a molgraphpt fine-tuning run."
        )


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header of CSV file ``path`` and its rows, each with its 1-based file line.

    Lines are counted as an editor counts them (the header is line 1). Blank rows are skipped.

    Raises:
        DataFormatError: The file is empty.
    """
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path} is empty: a header line was expected on line 1.")
        rows = []
        line = reader.line_num
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((line + 1, row))
            line = reader.line_num
    return header, rows


def columns_of(header: list[str], wanted: tuple[str, ...], path: Path) -> dict[str, int]:
    """The position of each column of ``wanted`` in ``header``.

    Raises:
        DataFormatError: A column is missing (naming it, the file and its header line).
    """
    missing = [name for name in wanted if name not in header]
    if missing:
        raise DataFormatError(
            f"{path}, line 1: missing column(s) {', '.join(missing)} (header: "
            f"{','.join(header)}). The file was not written by molgraphpt, or was edited."
        )
    return {name: header.index(name) for name in wanted}


def parse_float(text: str, *, path: Path, line: int, column: str) -> float:
    """``text`` as a float; an empty cell is NaN.

    Raises:
        DataFormatError: ``text`` is not a number (naming the file, line and column).
    """
    if not text.strip():
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise DataFormatError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a number. "
            f"Restore the file the run wrote, or rerun the run."
        ) from None


def read_metrics(path: Path) -> list[MetricRow]:
    """The rows of a training loop ``metrics.csv`` file, in file order.

    Raises:
        DataFormatError: A column is missing or a cell is not a number.
    """
    header, rows = read_csv(path)
    col = columns_of(header, METRIC_FIELDS, path)
    out = []
    for line, row in rows:
        cells = {name: row[i] if i < len(row) else "" for name, i in col.items()}
        step, epoch, value = (
            parse_float(cells[name], path=path, line=line, column=name)
            for name in ("step", "epoch", "value")
        )
        if math.isnan(step) or math.isnan(epoch):
            raise DataFormatError(
                f"{path}, line {line}: empty step or epoch. Restore the file the run wrote."
            )
        out.append(MetricRow(int(step), int(epoch), cells["split"], cells["name"], value))
    return out


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling file and a rename.

    The file gets the usual permissions (0666 less the umask); a reader never sees half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
