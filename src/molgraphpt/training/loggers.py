"""Metric sinks of the training loop: a long-format CSV file and, when installed, TensorBoard."""

from __future__ import annotations

import csv
import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from molgraphpt._optional import require

logger = logging.getLogger(__name__)


def format_metric(name: str, value: float) -> str:
    """``value`` at a readable precision: 3 significant digits for a loss, 4 for other metrics.

    Throughputs (``*_per_s``) are whole numbers.
    """
    value = float(value)
    if name.endswith("per_s"):
        return f"{value:.0f}"
    return f"{value:.3g}" if name.endswith("loss") else f"{value:.4g}"


def format_metrics(metrics: Mapping[str, float]) -> str:
    """``name=value`` pairs for a log line, e.g. ``loss=0.693 roc_auc=0.7123 lr=0.001``."""
    return " ".join(f"{name}={format_metric(name, value)}" for name, value in metrics.items())


class MetricLogger(Protocol):
    """Anything that records scalar metrics."""

    def log(self, metrics: Mapping[str, float], *, step: int, epoch: int, split: str) -> None:
        """Record ``metrics`` measured at optimizer step ``step``."""

    def close(self) -> None:
        """Flush and release files."""


class CSVLogger:
    """Appends rows ``step,epoch,split,name,value`` to a CSV file, flushed after every call.

    Rows written before a crash survive it. On resume, rows logged after the checkpoint's step
    (which the resumed run logs again) are dropped first.

    Args:
        path: The CSV file, usually ``run_dir/metrics.csv``.
        resume_step: Keep the existing rows with ``step <= resume_step`` and append after them;
            None starts a new file.
    """

    FIELDS = ("step", "epoch", "split", "name", "value")

    def __init__(self, path: str | Path, *, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept: list[list[str]] = []
        if resume_step is not None and self.path.exists():
            with self.path.open(newline="") as handle:
                rows = list(csv.reader(handle))
            kept = [row for row in rows[1:] if row and int(row[0]) <= resume_step]
            logger.info("%s: kept %d rows up to step %d", self.path, len(kept), resume_step)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.FIELDS)
            writer.writerows(kept)
        os.replace(tmp, self.path)
        self._handle = self.path.open("a", newline="")
        self._writer = csv.writer(self._handle)

    def log(self, metrics: Mapping[str, float], *, step: int, epoch: int, split: str) -> None:
        """Append one row per metric and flush."""
        for name, value in metrics.items():
            self._writer.writerow([step, epoch, split, name, repr(float(value))])
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        if not self._handle.closed:
            self._handle.close()


class TensorBoardLogger:
    """Writes scalars ``split/name`` to TensorBoard event files (needs ``tensorboard``).

    Args:
        log_dir: Directory of the event files, usually ``run_dir/tensorboard``.
        purge_step: On resume, the first step to log again: events at or after it written by the
            interrupted run are hidden.
    """

    def __init__(self, log_dir: str | Path, *, purge_step: int | None = None) -> None:
        require("tensorboard", extra="tensorboard", feature="TensorBoard logging")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    @staticmethod
    def available() -> bool:
        """Whether the ``tensorboard`` package is installed."""
        return importlib.util.find_spec("tensorboard") is not None

    def log(self, metrics: Mapping[str, float], *, step: int, epoch: int, split: str) -> None:
        """Add one scalar per metric."""
        for name, value in metrics.items():
            self._writer.add_scalar(f"{split}/{name}", float(value), global_step=step)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self._writer.close()


def build_loggers(run_dir: str | Path, *, resume_step: int | None = None) -> list[MetricLogger]:
    """The CSV logger, plus TensorBoard when it is installed.

    Args:
        run_dir: The run directory (``metrics.csv`` and ``tensorboard/`` go there).
        resume_step: Step of the checkpoint the run resumes from, or None for a fresh run.
    """
    run_dir = Path(run_dir)
    loggers: list[MetricLogger] = [CSVLogger(run_dir / "metrics.csv", resume_step=resume_step)]
    if TensorBoardLogger.available():
        purge = resume_step + 1 if resume_step is not None else None
        loggers.append(TensorBoardLogger(run_dir / "tensorboard", purge_step=purge))
    else:
        logger.debug("tensorboard is not installed: logging to metrics.csv only")
    return loggers
