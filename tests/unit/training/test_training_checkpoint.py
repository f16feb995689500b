from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from molgraphpt.errors import CheckpointError, IntegrityError
from molgraphpt.training import TrainConfig, build_optimizer, build_scheduler
from molgraphpt.training.checkpoint import (
    capture_rng_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
)
from molgraphpt.training.loggers import CSVLogger


def _save(path, step: int):
    model = nn.Linear(3, 2)
    cfg = TrainConfig()
    opt = build_optimizer(list(model.parameters()), cfg)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    best = {
        "value": 0.5,
        "step": step,
        "epoch": 0,
        "metrics": {"auc": 0.5},
        "bad_evals": 0,
        "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
    }
    return save_training_state(
        path,
        task=model,
        optimizer=opt,
        scheduler=build_scheduler(opt, cfg, 10),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        step=step,
        epoch=0,
        batch_in_epoch=step,
        best=best,
        history=[{"step": step, "auc": 0.5}],
        rng=capture_rng_state(),
    )


def test_round_trip(tmp_path):
    path = _save(tmp_path / "checkpoints" / "last.pt", step=3)
    state = load_training_state(path)  # weights_only=True inside
    assert state["step"] == 3 and state["best"]["metrics"] == {"auc": 0.5}
    assert set(state["model"]) == {"weight", "bias"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_failed_save_keeps_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = _save(tmp_path / "last.pt", step=1)

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"partial checkpoint bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        _save(path, step=2)
    monkeypatch.undo()
    assert load_training_state(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_not_a_training_state(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="not a molgraphpt training state"):
        load_training_state(tmp_path / "x.pt")
    (tmp_path / "y.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_training_state(tmp_path / "y.pt")


def test_rng_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng_state(state)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert expected[:2] == again[:2] and torch.equal(expected[2], again[2])


def test_csv_logger_truncates_on_resume(tmp_path):
    path = tmp_path / "metrics.csv"
    log = CSVLogger(path)
    for step in (1, 2, 3, 4):
        log.log({"loss": float(step)}, step=step, epoch=0, split="train")
    log.close()
    log = CSVLogger(path, resume_step=2)
    log.log({"loss": 30.0}, step=3, epoch=0, split="train")
    log.close()
    lines = path.read_text().splitlines()
    assert lines == [
        "step,epoch,split,name,value",
        "1,0,train,loss,1.0",
        "2,0,train,loss,2.0",
        "3,0,train,loss,30.0",
    ]
    CSVLogger(path).close()  # a fresh run starts a new file
    assert path.read_text().splitlines() == ["step,epoch,split,name,value"]


def test_flipped_bit_is_detected_and_a_kill_between_renames_still_verifies(tmp_path):
    path = _save(tmp_path / "checkpoints" / "last.pt", step=3)
    old = path.read_bytes()
    _save(path, step=4)
    # a kill after the sidecar listed both digests but before the state was renamed: the old
    # state file must still verify (the sidecar is written first with new + old digests)
    from molgraphpt.training.checkpoint import _write_digests, checksum_path, file_checksum

    new_digest = file_checksum(path)
    path.write_bytes(old)
    _write_digests(path, [new_digest, file_checksum(path)])
    assert load_training_state(path)["step"] == 3
    data = bytearray(old)
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"last\.pt is damaged"):
        load_training_state(path)
    checksum_path(path).unlink()  # states written before checksums load (not verified)
    path.write_bytes(old)
    assert load_training_state(path)["step"] == 3


def test_two_kills_in_a_row_between_sidecar_and_rename_still_verify(tmp_path):
    from molgraphpt.training.checkpoint import _recorded_digests, _write_digests, file_checksum

    path = _save(tmp_path / "checkpoints" / "last.pt", step=1)
    on_disk = file_checksum(path)
    # two saves killed after the sidecar was written, before their rename
    for fake in ("sha256:" + "a" * 64, "sha256:" + "b" * 64):
        _write_digests(path, [fake, *_recorded_digests(path)])
    assert load_training_state(path)["step"] == 1
    assert on_disk in _recorded_digests(path)
    _save(path, step=2)  # a completed save resets the list to its own digest
    assert _recorded_digests(path) == [file_checksum(path)]
