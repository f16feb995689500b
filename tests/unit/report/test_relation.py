"""write_report on hand-written relation-extraction run directories."""

from __future__ import annotations

import json

import numpy as np
import pytest

from molgraphpt.errors import DataFormatError
from molgraphpt.report import write_report
from molgraphpt.report.curves import finetune_curves
from molgraphpt.report.files import is_relation_summary, read_run
from molgraphpt.report.relation import (
    confusion_counts,
    read_relation_predictions,
    steps_per_epoch,
)
from tests.unit.report.run_dirs import REVISION, finetune_run, relation_run
from tests.unit.report.test_write_report import assert_png


def test_relation_runs_are_told_by_task_type(tmp_path):
    relation_run(tmp_path / "rel")
    finetune_run(tmp_path / "prop")
    assert read_run(tmp_path / "rel").kind == "relation"
    assert read_run(tmp_path / "prop").kind == "finetune"
    # a micro_f1 metric alone does not make a relation run; a config with task: relation does
    assert not is_relation_summary({"task_type": "classification", "metric": "micro_f1"})
    assert is_relation_summary({"metric": "micro_f1", "config": {"task": "relation"}})
    assert not is_relation_summary({"metric": "micro_f1", "config": {}})


def test_relation_report(tmp_path):
    res = relation_run(tmp_path)
    md = write_report(tmp_path).read_text()
    assert md.startswith("# Relation-extraction report: chemprot_toy")
    assert "| run kind | relation-extraction fine-tuning |" in md and REVISION in md
    assert "| config fingerprint | `" + "f0" * 32 + "` |" in md
    # data: labels, negative label, sizes, skipped rows, hashes with their split, label counts
    assert "- labels: `CPR:3`, `CPR:4`, `false`" in md
    assert "- negative (no relation) label: `false`" in md
    assert "- sentences train / dev / test = 24 / 6 / 6" in md
    assert "- rows skipped: train: no entity 2" in md
    assert "train 1 of 24 truncated" in md
    assert "| train | `/abs/d/train.jsonl` | `" + "0a" * 32 + "` |" in md
    assert "| test | `/abs/d/test.jsonl` | `" + "2a" * 32 + "` |" in md
    assert "| `CPR:4` | 8 | 2 | 2 |" in md
    # per-seed tables with every metric, positive-only ones included
    head = "| seed | model selected at | epochs run | micro-F1 | macro-F1 | accuracy | "
    assert head + "micro-F1 (positive labels) | macro-F1 (positive labels) |" in md
    assert "| 0 | epoch 3 (step 9) | 3 | 0.8 | 0.7 | 0.8 | 0.78 | 0.68 |" in md  # valid
    assert "| 1 | epoch 3 (step 9) | 3 | 0.65 | 0.6 | 0.65 | 0.63 | 0.58 |" in md  # test
    test = res["test"]
    assert f"| **mean ± std** |  |  | {test['mean']:.4g} ± {test['std']:.4g} | " in md
    # macro_f1_positive is not in results.json: mean ± std from the seeds (population std)
    assert "| 0.63 ± 0.05 |" in md.split("### Test\n")[1]
    # per-label test scores
    assert "| `false` (negative) | 0.7 | 0.6 | 0.55 | 2 |" in md
    assert "| `CPR:3` | 0.5 | 0.6 | 0.55 | 2 |" in md
    # figures
    assert "](report/training_curves.png)" in md and "](report/test_confusion.png)" in md
    assert "summed over 2 seeds" in md and "```yaml\ntask: relation" in md
    assert_png(tmp_path / "report" / "training_curves.png")
    assert_png(tmp_path / "report" / "test_confusion.png")
    assert not (tmp_path / "report" / "test_roc.png").exists()


def test_no_negative_label_and_one_seed(tmp_path):
    relation_run(tmp_path, seeds=(4,), negative=None)
    md = write_report(tmp_path).read_text()
    assert "positive labels" not in md and "none declared" in md
    assert "| 4 | epoch 3 (step 9) | 3 | 0.4 | 0.3 | 0.4 |" in md
    assert "test sentences (seed 4)" in md and "are those of seed 4" in md
    assert_png(tmp_path / "report" / "test_confusion.png")


def test_missing_predictions_are_said_not_drawn(tmp_path):
    relation_run(tmp_path, predictions=False)
    md = write_report(tmp_path).read_text()
    assert "`seed_0/test_predictions.csv`, `seed_1/test_predictions.csv`" in md
    assert "_No confusion matrix: no seed has test predictions._" in md
    assert not (tmp_path / "report" / "test_confusion.png").exists()
    assert_png(tmp_path / "report" / "training_curves.png")


def test_confusion_counts_sum_over_seeds(tmp_path):
    relation_run(tmp_path)
    preds = [
        read_relation_predictions(tmp_path / f"seed_{s}" / "test_predictions.csv") for s in (0, 1)
    ]
    assert preds[0].labels == ["CPR:3", "CPR:4", "false"]
    names, counts, unlabelled = confusion_counts(preds, ["CPR:3", "CPR:4", "false"])
    assert names == ["CPR:3", "CPR:4", "false"] and unlabelled == 0
    # seed 0 mislabels sentence 1 (CPR:3 -> false); seed 1 sentences 1-2 (CPR:3 -> false)
    np.testing.assert_array_equal(counts, [[1, 0, 3], [0, 4, 0], [0, 0, 4]])
    assert counts.sum() == 12


def test_unknown_and_missing_gold_labels(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "line,text,label,predicted,p_A,p_B\n1,t,A,B,0.1,0.9\n2,t,,A,0.9,0.1\n3,t,C,A,1,0\n"
    )
    names, counts, unlabelled = confusion_counts([read_relation_predictions(path)], ["A", "B"])
    assert names == ["A", "B", "C"] and unlabelled == 1
    assert counts[0, 1] == 1 and counts[2, 0] == 1


def test_prediction_file_without_label_columns_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("row,smiles,y,y_pred\n0,C,1,0.5\n")
    with pytest.raises(DataFormatError, match="missing column\\(s\\) label, predicted"):
        read_relation_predictions(path)


def test_steps_per_epoch_keeps_the_last_short_batch():
    summary = {"data_info": {"sizes": {"train": 25}}, "config": {"train": {"batch_size": 8}}}
    assert steps_per_epoch(summary) == 4  # 8 + 8 + 8 + 1: the relation loader merges nothing
    summary["config"]["train"]["grad_accum"] = 3
    assert steps_per_epoch(summary) == 2
    assert steps_per_epoch({"data_info": {}}) is None


def test_training_curves_are_in_epochs(tmp_path):
    relation_run(tmp_path, seeds=(0,))
    res = json.loads((tmp_path / "results.json").read_text())
    loss, valid = finetune_curves(tmp_path / "seed_0", "micro_f1", steps_per_epoch(res), "s", 9)
    assert valid.x == [1.0, 2.0, 3.0] and valid.best == (3.0, pytest.approx(0.7))
    assert len(loss.x) == 9
