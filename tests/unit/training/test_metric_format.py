"""Log lines show metrics at 4 significant digits, losses at 3, throughput as whole numbers."""

from __future__ import annotations

import logging

from molgraphpt.training import TrainConfig, train
from molgraphpt.training.loggers import format_metrics
from tests.unit.training.test_training_loop import TensorSource, make_data, make_task


def test_format_metrics():
    metrics = {"loss": 0.693147, "attr_mask/loss": 1.23456, "roc_auc": 0.712345}
    metrics |= {"lr": 0.001, "graphs_per_s": 1234.56, "grad_norm": 12.3456}
    assert format_metrics(metrics) == (
        "loss=0.693 attr_mask/loss=1.23 roc_auc=0.7123 lr=0.001 graphs_per_s=1235 grad_norm=12.35"
    )


def test_training_log_lines_are_rounded(tmp_path, caplog):
    cfg = TrainConfig(epochs=1, log_every=5, progress=False, num_threads=1)
    data = TensorSource(*make_data(40), batch_size=4)
    with caplog.at_level(logging.INFO, logger="molgraphpt"):
        train(make_task(), data, cfg, run_dir=tmp_path, evaluate=lambda t: {"m": 1 / 3})
    lines = [r.getMessage() for r in caplog.records]
    step = next(line for line in lines if line.startswith("step 5/10 "))
    loss = step.split("loss=")[1].split()[0]
    assert len(loss.replace(".", "").lstrip("0")) <= 3, step
    assert any(line.endswith("eval: m=0.3333") for line in lines), lines
