"""Per-seed prediction files of fine-tuning runs, and the numbers plotted from them.

``seed_<s>/test_predictions.csv`` holds the columns ``row`` (0-based index into the dataset),
``smiles``, then for every task ``<task>`` (the target, empty if missing) and ``<task>_pred``
(the de-standardised prediction; the probability of the positive class for classification).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molgraphpt.errors import DataFormatError
from molgraphpt.report.files import columns_of, parse_float, read_csv

PRED_SUFFIX = "_pred"


@dataclass(frozen=True)
class Predictions:
    """Targets and predictions of one seed on one split.

    Attributes:
        path: The file they were read from.
        tasks: Task names, in file order.
        target: ``[num_molecules, num_tasks]`` float64, NaN where a label is missing.
        pred: ``[num_molecules, num_tasks]`` float64.
    """

    path: Path
    tasks: list[str]
    target: np.ndarray
    pred: np.ndarray


@dataclass(frozen=True)
class Roc:
    """The ROC curve of one task: false and true positive rates ``[num_thresholds]`` and AUC."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def read_predictions(path: Path) -> Predictions:
    """Read a ``<split>_predictions.csv`` file.

    Raises:
        DataFormatError: ``row``/``smiles`` or every ``<task>``/``<task>_pred`` pair is missing,
            or a target/prediction cell is not a number.
    """
    header, rows = read_csv(path)
    columns_of(header, ("row", "smiles"), path)
    tasks = [
        name[: -len(PRED_SUFFIX)]
        for name in header
        if name.endswith(PRED_SUFFIX) and name[: -len(PRED_SUFFIX)] in header
    ]
    if not tasks:
        raise DataFormatError(
            f"{path}, line 1: no '<task>' and '<task>_pred' column pair (header: "
            f"{','.join(header)}). The file was not written by molgraphpt, or was edited."
        )
    target = np.full((len(rows), len(tasks)), math.nan)
    pred = np.full((len(rows), len(tasks)), math.nan)
    for t, task in enumerate(tasks):
        i, j = header.index(task), header.index(task + PRED_SUFFIX)
        for r, (line, row) in enumerate(rows):
            cell = row[i] if i < len(row) else ""
            target[r, t] = parse_float(cell, path=path, line=line, column=task)
            cell = row[j] if j < len(row) else ""
            pred[r, t] = parse_float(cell, path=path, line=line, column=task + PRED_SUFFIX)
    return Predictions(path, tasks, target, pred)


def labelled(pred: Predictions, task: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets and predictions ``[num_labelled]`` of the molecules that have both for ``task``."""
    y, p = pred.target[:, task], pred.pred[:, task]
    keep = ~(np.isnan(y) | np.isnan(p))
    return y[keep], p[keep]


def roc(pred: Predictions, task: int) -> Roc | None:
    """The ROC curve of ``task``, or None when its labelled molecules are all of one class."""
    from sklearn.metrics import roc_auc_score, roc_curve  # 1 s to import: only when drawn

    y, p = labelled(pred, task)
    if np.unique(y).size < 2:
        return None
    fpr, tpr, _ = roc_curve(y, p)
    return Roc(fpr, tpr, float(roc_auc_score(y, p)))


def rmse(pred: Predictions, task: int) -> float:
    """Root-mean-square error of ``task`` over its labelled molecules (NaN if there are none)."""
    y, p = labelled(pred, task)
    return float(np.sqrt(np.mean((p - y) ** 2))) if y.size else math.nan
