"""Metrics agree with scikit-learn and the real OGB Evaluator; degenerate tasks are reported."""

from __future__ import annotations

import math

import numpy as np
import pytest

from molgraphpt.errors import ShapeError, UnknownNameError
from molgraphpt.evaluation.metrics import compute_metric, ogb_evaluate, rmse, roc_auc


def test_roc_auc_masks_missing_and_reports_single_class_tasks():
    y = np.array([[1, 0, np.nan], [0, 0, 1], [1, 0, np.nan], [0, 0, 0]], dtype=float)
    s = np.array([[0.9, 0.1, 0.3], [0.2, 0.4, 0.8], [0.7, 0.3, 0.1], [0.1, 0.2, 0.2]])
    res = roc_auc(y, s)
    assert res.skipped == [1]  # task 1 has only negatives
    assert res.per_task == {0: 1.0, 2: 1.0}
    assert res.value == 1.0


def test_all_tasks_degenerate_gives_nan():
    res = roc_auc(np.zeros((3, 1)), np.ones((3, 1)))
    assert math.isnan(res.value) and res.skipped == [0]


@pytest.mark.parametrize(
    "name,ogb", [("roc_auc", "ogbg-moltox21"), ("rmse", "ogbg-molesol"), ("ap", "ogbg-molmuv")]
)
def test_matches_ogb_evaluator(name, ogb):
    rng = np.random.default_rng(0)
    tasks = {"ogbg-moltox21": 12, "ogbg-molesol": 1, "ogbg-molmuv": 17}[ogb]
    if name == "rmse":
        y = rng.normal(size=(50, tasks))
    else:
        y = (rng.random((200, tasks)) < 0.3).astype(float)
        y[rng.random(y.shape) < 0.2] = np.nan
    pred = rng.normal(size=y.shape)
    ours = compute_metric(name, y, pred).value
    key = {"roc_auc": "rocauc", "rmse": "rmse", "ap": "ap"}[name]
    assert ours == pytest.approx(ogb_evaluate(ogb, y, pred)[key], abs=1e-9)


def test_rmse_per_task_mean():
    y = np.array([[0.0, 1.0], [2.0, np.nan]])
    p = np.array([[1.0, 1.0], [2.0, 5.0]])
    assert rmse(y, p).per_task == {0: pytest.approx(math.sqrt(0.5)), 1: 0.0}


def test_errors():
    with pytest.raises(ShapeError, match=r"\(2, 1\)"):
        roc_auc(np.zeros((2, 1)), np.zeros((3, 1)))
    with pytest.raises(UnknownNameError, match="roc_auc"):
        compute_metric("rocauc_", np.zeros(2), np.zeros(2))
