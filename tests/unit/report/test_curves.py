"""Curves from metrics.csv: the epoch axis, strategy phases, the losses of each objective."""

from __future__ import annotations

import pytest

from molgraphpt.report.curves import (
    finetune_curves,
    objective_names,
    pretrain_curves,
    steps_per_epoch,
)
from molgraphpt.report.files import MetricRow, read_metrics
from tests.unit.report.run_dirs import _write_csv, metrics_rows, pretrain_run


def _summary(n_train, batch_size, accum=1):
    return {
        "split": {"sizes": [n_train, 1, 1]},
        "config": {"train": {"batch_size": batch_size, "grad_accum": accum}},
    }


@pytest.mark.parametrize(
    "n,bs,accum,expected",
    [
        (1631, 64, 1, 26),
        (902, 64, 1, 15),
        (30, 10, 1, 3),
        (31, 10, 1, 3),
        (32, 10, 1, 4),
        (32, 10, 3, 2),
        (5, 10, 1, 1),
    ],
)
def test_steps_per_epoch_mirrors_the_loader(n, bs, accum, expected):
    # a last one-molecule batch is merged into the one before (31 → 3 batches of 10, 10, 11)
    assert steps_per_epoch(_summary(n, bs, accum)) == expected


def test_steps_per_epoch_unknown_without_config():
    assert steps_per_epoch({"split": {"sizes": [10, 1, 1]}}) is None


def test_finetune_curves_in_epochs(tmp_path):
    _write_csv(
        tmp_path / "metrics.csv", ["step", "epoch", "split", "name", "value"], metrics_rows("rmse")
    )
    loss, valid = finetune_curves(tmp_path, "rmse", 3, "seed 0", best_step=6)
    assert valid.x == [1.0, 2.0, 3.0] and valid.y == pytest.approx([0.5, 0.6, 0.7])
    assert valid.best == (2.0, pytest.approx(0.6))
    assert loss.x == pytest.approx([2 / 3, 4 / 3, 2.0, 8 / 3]) and loss.label == "seed 0"
    loss_steps, _ = finetune_curves(tmp_path, "rmse", None, "seed 0")
    assert loss_steps.x == [2.0, 4.0, 6.0, 8.0]


def test_two_phase_strategy_follows_on(tmp_path):
    header = ["step", "epoch", "split", "name", "value"]
    _write_csv(tmp_path / "probe" / "metrics.csv", header, metrics_rows("roc_auc", epochs=2))
    _write_csv(tmp_path / "full" / "metrics.csv", header, metrics_rows("roc_auc", epochs=3))
    _, valid = finetune_curves(tmp_path, "roc_auc", 3, "seed 0", best_step=3)
    assert valid.x == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert valid.best == (3.0, pytest.approx(0.5))  # step 3 of the last phase, not of the probe
    assert valid.phases == [("probe", 0.0, 2.0), ("full", 2.0, 5.0)]


def test_nan_points_are_left_out(tmp_path):
    path = _write_csv(
        tmp_path / "metrics.csv",
        ["step", "epoch", "split", "name", "value"],
        [[3, 0, "val", "valid/rmse", "nan"], [6, 1, "val", "valid/rmse", 0.5]],
    )
    _, valid = finetune_curves(path.parent, "rmse", 3, "s")
    assert valid.x == [2.0] and valid.y == [0.5]


def test_pretrain_curves_two_objectives(tmp_path):
    summary = pretrain_run(tmp_path)
    curves = pretrain_curves(read_metrics(tmp_path / "metrics.csv"), objective_names(summary))
    labels = [c.label for c in curves]
    assert labels == [
        "total (weighted sum)",
        "attr_mask",
        "graphcl",
        "total (weighted sum) (valid)",
        "attr_mask (valid)",
        "graphcl (valid)",
    ]
    assert curves[1].x == [2.0, 4.0, 6.0, 8.0] and curves[4].x == [4.0, 8.0]


def test_pretrain_one_objective_is_drawn_once():
    rows = [
        MetricRow(5, 0, "train", "loss", 2.0),
        MetricRow(5, 0, "train", "attr_mask/loss", 2.0),
        MetricRow(5, 0, "val", "valid/attr_mask/loss", 2.5),
    ]
    curves = pretrain_curves(rows, ["attr_mask"])
    assert [c.label for c in curves] == ["attr_mask", "attr_mask (valid)"]
    # an older pretrain.json without objectives: they are read from the logged names
    assert [c.label for c in pretrain_curves(rows, [])] == ["attr_mask", "attr_mask (valid)"]
