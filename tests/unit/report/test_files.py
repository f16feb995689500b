"""Reading run directories: typed errors that name the path, what is missing and the fix."""

from __future__ import annotations

import json
import os
import stat

import pytest

from molgraphpt.errors import DataFormatError, RunDirError
from molgraphpt.report.files import read_csv, read_metrics, read_run, write_atomic
from tests.unit.report.run_dirs import finetune_run, pretrain_run


def test_missing_run_dir_names_the_path(tmp_path):
    with pytest.raises(RunDirError, match="does not exist") as err:
        read_run(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "--run-dir" in str(err.value)


def test_foreign_dir_names_both_summary_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    with pytest.raises(RunDirError) as err:
        read_run(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "results.json" in msg and "pretrain.json" in msg


def test_interrupted_run_points_to_resume(tmp_path):
    (tmp_path / "seed_0").mkdir()
    with pytest.raises(RunDirError, match="--resume"):
        read_run(tmp_path)


def test_damaged_json_names_file_and_line(tmp_path):
    (tmp_path / "results.json").write_text('{\n  "metric": "rmse",\n  "seeds": [\n')
    with pytest.raises(DataFormatError, match=r"results.json is not valid JSON \(line 4"):
        read_run(tmp_path)


def test_results_json_of_another_tool_is_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"accuracy": 0.9}))
    with pytest.raises(DataFormatError, match="lacks 'metric', 'seeds'"):
        read_run(tmp_path)


def test_reads_both_run_kinds(tmp_path):
    finetune_run(tmp_path / "ft")
    pretrain_run(tmp_path / "pre")
    ft, pre = read_run(tmp_path / "ft"), read_run(tmp_path / "pre")
    assert (ft.kind, pre.kind) == ("finetune", "pretrain")
    assert ft.summary["metric"] == "roc_auc" and ft.config_text.startswith("run_dir:")
    assert pre.summary["steps"] == 8


def test_csv_rows_carry_the_editor_line(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('step,epoch,split,name,value\n1,0,train,loss,0.5\n\n2,0,train,"lo\nss",x\n')
    header, rows = read_csv(path)
    assert header == ["step", "epoch", "split", "name", "value"]
    assert [line for line, _ in rows] == [2, 4]
    with pytest.raises(DataFormatError, match=r"m.csv, line 4, column 'value': 'x'"):
        read_metrics(path)


def test_metrics_missing_column_is_named(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,split,name,value\n1,train,loss,0.5\n")
    with pytest.raises(DataFormatError, match="line 1: missing column.*epoch"):
        read_metrics(path)


def test_metrics_rows_are_typed(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,epoch,split,name,value\n26,0,val,valid/roc_auc,0.88\n")
    (row,) = read_metrics(path)
    assert (row.step, row.epoch, row.split, row.name, row.value) == (
        26,
        0,
        "val",
        "valid/roc_auc",
        0.88,
    )


def test_write_atomic_replaces_and_follows_the_umask(tmp_path):
    path = tmp_path / "sub" / "a.png"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temporary file left
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
