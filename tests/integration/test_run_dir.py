"""Run directories with real tiny runs: one config per folder, a lock, no debris, provenance."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig, load_pretrain_config
from molgraphpt.errors import CheckpointError, MolGraphPTError, RunDirError
from molgraphpt.evaluation.metrics import compute_metric
from molgraphpt.recipes.finetune import run_finetune
from molgraphpt.recipes.pretrain import run_pretraining
from tests.unit.recipes.test_run_lock import hold_lock

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "model.encoder.hidden_dim=16",
    "model.encoder.num_layers=1",
    "train.batch_size=32",
    "train.progress=false",
    "data.split=random",
    "train.num_threads=1",  # a tiny model gains nothing from more threads
]


@pytest.fixture
def bbbp_csv(tmp_path, data_dir) -> Path:
    """150 BBBP molecules with their binary label ``p_np`` (a classification CSV)."""
    path = tmp_path / "bbbp150.csv"
    with gzip.open(data_dir / "ogb" / "ogbg_molbbbp" / "mapping" / "mol.csv.gz", "rt") as fin:
        rows = list(csv.DictReader(fin))[:150]
    with open(path, "w", newline="") as fout:
        writer = csv.writer(fout)
        writer.writerow(["smiles", "p_np"])
        writer.writerows([r["smiles"], r["p_np"]] for r in rows)
    return path


def _cfg(run_dir: Path, csv_path: Path, *extra: str) -> FinetuneConfig:
    overrides = [f"run_dir={run_dir}", f"data.dataset={csv_path}", *TINY, *extra]
    return load_config(FinetuneConfig, None, overrides)


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.integration
def test_another_epoch_count_is_refused_until_overwrite(tmp_path, bbbp_csv):
    run = tmp_path / "run"
    first = run_finetune(_cfg(run, bbbp_csv, "train.epochs=1"))
    assert first["epochs_run"] == {"0": 1}
    with pytest.raises(RunDirError) as info:
        run_finetune(_cfg(run, bbbp_csv, "train.epochs=3"))
    assert "train.epochs: 1 → 3" in str(info.value) and "--overwrite" in str(info.value)
    with pytest.raises(RunDirError, match="train.epochs: 1 → 3"):
        run_finetune(_cfg(run, bbbp_csv, "train.epochs=3"), resume=True)
    assert _json(run / "results.json") == first  # nothing was touched
    assert "epochs: 1" in (run / "config.yaml").read_text()

    (run / "notes.md").write_text("my notes")
    again = run_finetune(_cfg(run, bbbp_csv, "train.epochs=3"), overwrite=True)
    assert again["epochs_run"] == {"0": 3} and again["config"]["train"]["epochs"] == 3
    assert again["seeds"][0]["epochs_run"] == 3
    assert (run / "notes.md").read_text() == "my notes"


@pytest.mark.integration
def test_a_classification_rerun_after_a_regression_one_is_refused(tmp_path, bbbp_csv):
    run = tmp_path / "run"
    res = run_finetune(_cfg(run, bbbp_csv, "data.task_type=regression", "train.epochs=1"))
    assert res["metric"] == "rmse"
    with pytest.raises(RunDirError, match='data.task_type: "regression" → "classification"'):
        run_finetune(_cfg(run, bbbp_csv, "data.task_type=classification", "train.epochs=1"))


@pytest.mark.integration
def test_added_seeds_reuse_finished_ones_and_every_seed_writes_predictions(tmp_path, bbbp_csv):
    run = tmp_path / "run"
    first = run_finetune(_cfg(run, bbbp_csv, "train.epochs=1"))
    assert not (run / "seed_0" / "checkpoints").exists()  # last.pt goes once result.json is in
    stale = run / "seed_0" / "checkpoints" / ".last.pt.99999.killed.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"left by a killed save")
    both = run_finetune(_cfg(run, bbbp_csv, "train.epochs=1", "seeds=[0,1]"))
    assert both["seeds"][0] == first["seeds"][0] and both["seeds"][1]["seed"] == 1
    assert not stale.exists()
    assert _json(run / "seed_1" / "result.json")["config_fingerprint"] == both["config_fingerprint"]

    rows = list(csv.DictReader((run / "seed_1" / "test_predictions.csv").open()))
    assert list(rows[0]) == ["row", "smiles", "p_np", "p_np_pred"]
    probs = np.array([float(r["p_np_pred"]) for r in rows])
    assert ((probs > 0) & (probs < 1)).all()
    labels = np.array([[float(r["p_np"]) for r in rows]]).T
    auc = compute_metric("roc_auc", labels, probs[:, None]).value
    assert auc == pytest.approx(both["seeds"][1]["test"]["roc_auc"], abs=1e-6)
    source = list(csv.DictReader(bbbp_csv.open()))
    first_row = int(rows[0]["row"])  # no invalid rows: dataset position = file row
    assert rows[0]["smiles"] == source[first_row]["smiles"]
    valid = list(csv.DictReader((run / "seed_1" / "valid_predictions.csv").open()))
    assert len(valid) + len(rows) < 150 and not {r["row"] for r in valid} & {r["row"] for r in rows}


@pytest.mark.integration
def test_same_config_twice_gives_identical_metrics_and_a_record_to_rerun_it(tmp_path, bbbp_csv):
    a = run_finetune(_cfg(tmp_path / "a", bbbp_csv, "train.epochs=2"))
    b = run_finetune(_cfg(tmp_path / "b", bbbp_csv, "train.epochs=2", "train.log_every=7"))
    for part in ("valid", "test"):
        assert a["seeds"][0][part] == b["seeds"][0][part]
    assert a["config_fingerprint"] == b["config_fingerprint"]  # log_every does not count
    saved = _json(tmp_path / "a" / "results.json")
    digest = hashlib.sha256(bbbp_csv.read_bytes()).hexdigest()
    assert saved["data"] == [{"path": str(bbbp_csv), "sha256": digest}]
    assert saved["config"]["train"]["epochs"] == 2 and saved["epochs_run"] == {"0": 2}
    assert saved["command"] and saved["cwd"] == os.getcwd()
    assert saved["versions"]["torch"] and "git_revision" in saved
    record = _json(tmp_path / "a" / "run.json")
    assert record["config_fingerprint"] == saved["config_fingerprint"]
    assert "seeds" in record["ignored_keys"] and "seeds" not in record["config"]


@pytest.mark.integration
def test_a_run_that_fails_before_training_leaves_nothing(tmp_path, bbbp_csv):
    run = tmp_path / "new" / "run"
    with pytest.raises(MolGraphPTError):
        run_finetune(_cfg(run, bbbp_csv, "data.targets=[no_such_column]"))
    assert not (tmp_path / "new").exists()
    with pytest.raises(CheckpointError):
        run_finetune(_cfg(run, bbbp_csv, f"model.init={tmp_path / 'no_checkpoint'}"))
    assert not (tmp_path / "new").exists()


@pytest.mark.integration
def test_a_run_into_a_folder_in_use_fails_at_once(tmp_path, bbbp_csv):
    run = tmp_path / "run"
    run.mkdir()
    holder = hold_lock(run)
    try:
        with pytest.raises(RunDirError, match=f"in use by another run: pid {holder.pid} on"):
            run_finetune(_cfg(run, bbbp_csv, "train.epochs=1"))
        assert [p.name for p in run.iterdir()] == [".lock"]
    finally:
        holder.kill()
        holder.wait()
    assert run_finetune(_cfg(run, bbbp_csv, "train.epochs=1"))["epochs_run"] == {"0": 1}


@pytest.mark.integration
def test_pretraining_belongs_to_one_config_and_records_how_to_rerun(tmp_path):
    old_umask = os.umask(0o022)
    try:
        common = [
            f"run_dir={tmp_path / 'pre'}",
            f"data.data_root={REPO}",
            "data.exclude=[]",
            "valid_fraction=0.0",
        ]
        tiny = REPO / "configs" / "pretrain" / "tiny.yaml"
        summary = run_pretraining(load_pretrain_config(tiny, [*common, "train.max_steps=2"]))
        ckpt = tmp_path / "pre" / "checkpoints" / "last.pt"
        assert stat.S_IMODE(ckpt.stat().st_mode) == 0o644
        with pytest.raises(RunDirError, match="train.max_steps: 2 → 3"):
            run_pretraining(load_pretrain_config(tiny, [*common, "train.max_steps=3"]))
        # the objective's options left to their defaults (mask_rate 0.15) are the same run
        same = load_pretrain_config(
            tiny,
            [*common, "train.max_steps=2", "train.log_every=1", "objectives=[{name: attr_mask}]"],
        )
        assert (
            run_pretraining(same, resume=True)["config_fingerprint"]
            == (summary["config_fingerprint"])
        )
    finally:
        os.umask(old_umask)
    corpus = REPO / "tests" / "data" / "molecules.csv"
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    saved = _json(tmp_path / "pre" / "pretrain.json")
    assert [d["sha256"] for d in saved["data"]] == [digest]
    assert saved["config"]["train"]["max_steps"] == 2 and saved["command"]
    assert saved["versions"]["torch"] and "git_revision" in saved
    meta = _json(tmp_path / "pre" / "model" / "meta.json")
    assert meta["config_fingerprint"] == saved["config_fingerprint"]
    assert meta["data"] == saved["data"] and meta["command"] == saved["command"]
