"""Prediction files: tasks from the header, missing targets, ROC and RMSE agree with sklearn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from molgraphpt.errors import DataFormatError
from molgraphpt.report.predictions import read_predictions, rmse, roc
from tests.unit.report.run_dirs import write_predictions


def test_reads_tasks_targets_and_predictions(tmp_path):
    target = np.array([[1.0, math.nan], [0.0, 2.0], [1.0, 3.0]])
    pred = np.array([[0.9, 1.0], [0.2, 2.5], [0.6, 2.0]])
    path = write_predictions(tmp_path / "p.csv", ["p_np", "log S"], target, pred)
    got = read_predictions(path)
    assert got.tasks == ["p_np", "log S"]
    np.testing.assert_array_equal(got.target, target)
    np.testing.assert_array_equal(got.pred, pred)
    assert rmse(got, 1) == pytest.approx(math.sqrt((0.25 + 1.0) / 2))  # the missing row is left out


def test_roc_matches_sklearn_and_single_class_is_none(tmp_path):
    rng = np.random.default_rng(1)
    target = (rng.random((40, 2)) < 0.4).astype(float)
    target[:, 1] = 1.0
    pred = rng.random((40, 2))
    got = read_predictions(write_predictions(tmp_path / "p.csv", ["a", "b"], target, pred))
    curve = roc(got, 0)
    assert curve.auc == pytest.approx(roc_auc_score(target[:, 0], pred[:, 0]))
    assert curve.fpr[0] == 0.0 and curve.tpr[-1] == 1.0
    assert roc(got, 1) is None


def test_bad_cell_names_file_line_and_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("row,smiles,y,y_pred\n0,C,1.0,0.5\n1,CC,0.0,high\n")
    with pytest.raises(DataFormatError, match=r"p.csv, line 3, column 'y_pred': 'high'"):
        read_predictions(path)


def test_file_without_task_pairs_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("row,smiles,y\n0,C,1.0\n")
    with pytest.raises(DataFormatError, match="no '<task>' and '<task>_pred' column pair"):
        read_predictions(path)
