"""Property-prediction metrics with explicit handling of missing labels and degenerate tasks.

Conventions (Hu et al. 2020, OGB): multi-task metrics are computed per task over the molecules
that have a label for it, then averaged over tasks. A classification task whose labelled molecules
in a split are all of one class has no defined ROC-AUC; it is skipped *and reported*
(``MetricResult.skipped``), never silently counted. For OGB datasets, :func:`ogb_evaluate` gives
the number from the real ``ogb.graphproppred.Evaluator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from molgraphpt._optional import require
from molgraphpt.errors import ShapeError, UnknownNameError

#: Whether a larger value of the metric is better.
HIGHER_IS_BETTER = {"roc_auc": True, "ap": True, "rmse": False, "mae": False}


@dataclass
class MetricResult:
    """A metric averaged over tasks.

    Attributes:
        name: ``roc_auc``, ``ap``, ``rmse`` or ``mae``.
        value: Mean over the tasks that could be scored (NaN if none could).
        per_task: Score of each scored task, by task index.
        skipped: Indices of tasks that could not be scored (one class only, or no labels).
    """

    name: str
    value: float
    per_task: dict[int, float] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)


def _check(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred.reshape(-1, 1)
    if y_true.shape != y_pred.shape:
        raise ShapeError(
            f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}; both must be "
            f"[num_molecules, num_tasks]"
        )
    return y_true, y_pred


def _per_task_classification(y_true: np.ndarray, y_score: np.ndarray, name: str) -> MetricResult:
    y_true, y_score = _check(y_true, y_score)
    scorer = roc_auc_score if name == "roc_auc" else average_precision_score
    scores: dict[int, float] = {}
    skipped: list[int] = []
    for task in range(y_true.shape[1]):
        labelled = ~np.isnan(y_true[:, task])
        truth = y_true[labelled, task]
        if truth.size == 0 or truth.min() == truth.max():
            skipped.append(task)
            continue
        scores[task] = float(scorer(truth, y_score[labelled, task]))
    value = float(np.mean(list(scores.values()))) if scores else math.nan
    return MetricResult(name, value, scores, skipped)


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> MetricResult:
    """Mean ROC-AUC over tasks.

    Args:
        y_true: ``[num_molecules, num_tasks]`` 0/1 labels, NaN where missing.
        y_score: ``[num_molecules, num_tasks]`` scores (logits or probabilities).
    """
    return _per_task_classification(y_true, y_score, "roc_auc")


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> MetricResult:
    """Mean average precision over tasks (OGB's MUV/PCBA metric); shapes as :func:`roc_auc`."""
    return _per_task_classification(y_true, y_score, "ap")


def _per_task_regression(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> MetricResult:
    y_true, y_pred = _check(y_true, y_pred)
    scores: dict[int, float] = {}
    skipped: list[int] = []
    for task in range(y_true.shape[1]):
        labelled = ~np.isnan(y_true[:, task])
        if not labelled.any():
            skipped.append(task)
            continue
        err = y_true[labelled, task] - y_pred[labelled, task]
        scores[task] = float(np.sqrt(np.mean(err**2)) if name == "rmse" else np.mean(np.abs(err)))
    value = float(np.mean(list(scores.values()))) if scores else math.nan
    return MetricResult(name, value, scores, skipped)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> MetricResult:
    """Root mean squared error per task, averaged over tasks (``[num_molecules, num_tasks]``)."""
    return _per_task_regression(y_true, y_pred, "rmse")


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> MetricResult:
    """Mean absolute error per task, averaged over tasks (``[num_molecules, num_tasks]``)."""
    return _per_task_regression(y_true, y_pred, "mae")


METRICS = {"roc_auc": roc_auc, "ap": average_precision, "rmse": rmse, "mae": mae}


def compute_metric(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> MetricResult:
    """Compute metric ``name`` (``roc_auc``, ``ap``, ``rmse`` or ``mae``)."""
    if name not in METRICS:
        raise UnknownNameError("metric", name, choices=METRICS)
    return METRICS[name](y_true, y_pred)


def ogb_evaluate(ogb_name: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Score predictions with the real ``ogb.graphproppred.Evaluator``.

    Args:
        ogb_name: OGB dataset name, e.g. ``"ogbg-molhiv"``.
        y_true: ``[num_molecules, num_tasks]`` labels, NaN where missing.
        y_pred: ``[num_molecules, num_tasks]`` scores (classification) or predictions.

    Returns:
        The Evaluator's dictionary, e.g. ``{"rocauc": 0.77}``, ``{"rmse": 1.1}`` or ``{"ap": 0.1}``.
    """
    graphproppred = require("ogb.graphproppred", extra="ogb", feature="OGB evaluation")
    y_true, y_pred = _check(y_true, y_pred)
    evaluator = graphproppred.Evaluator(ogb_name)
    result = evaluator.eval({"y_true": y_true, "y_pred": y_pred})
    return {k: float(v) for k, v in result.items()}


#: OGB Evaluator result key of each metric name.
OGB_KEYS = {"roc_auc": "rocauc", "ap": "ap", "rmse": "rmse"}
