"""Checkpoints carry checksums, are readable by colleagues, and leave no debris behind."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
import subprocess
import sys

import pytest
import torch

import molgraphpt
from molgraphpt.errors import IntegrityError
from molgraphpt.models import (
    GraphEncoderConfig,
    PropertyModel,
    PropertyModelConfig,
    build_graph_encoder,
    load_encoder_weights,
    load_graph_encoder,
    load_pretrained,
)
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.pretrained import load
from molgraphpt.models.text import TextEncoderConfig

GRAPH = GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.0)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = PropertyModel(PropertyModelConfig(encoder=GRAPH, num_tasks=2)).eval()
    return model, model.save_pretrained(tmp_path / "ckpt")


def _flip_last_byte(path) -> None:
    """Flip the low bit of the file's last byte: a tensor value changes, the file still parses."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _meta(path) -> dict:
    return json.loads((path / "meta.json").read_text())


def test_meta_records_the_checksums_of_the_weights(saved):
    _, path = saved
    checksums = _meta(path)["checksums"]
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert checksums == {"model.safetensors": f"sha256:{digest}"}
    assert sorted(p.name for p in path.iterdir()) == [
        "config.yaml",
        "meta.json",
        "model.safetensors",
    ]


def test_a_flipped_weight_byte_is_refused_by_every_loader(saved):
    model, path = saved
    weights = path / "model.safetensors"
    _flip_last_byte(weights)
    loaders = [
        lambda **kw: molgraphpt.load(path, **kw),
        lambda **kw: load(path, **kw),
        lambda **kw: PropertyModel.from_pretrained(path, **kw),
        lambda **kw: load_pretrained(path, PropertyModelConfig, PropertyModel, **kw),
        lambda **kw: load_graph_encoder(path, **kw),
        lambda **kw: load_encoder_weights(build_graph_encoder(GRAPH), path, **kw),
    ]
    for loader in loaders:
        with pytest.raises(IntegrityError) as caught:
            loader()
        assert caught.value.path == weights
        message = str(caught.value)
        assert "restore" in message and "re-download the checkpoint" in message
        assert "verify=False" in message
    loaded = load(path, verify=False)  # the escape hatch: the damage is loaded
    changed = [
        k for k, v in model.state_dict().items() if not torch.equal(v, loaded.state_dict()[k])
    ]
    assert len(changed) == 1


def test_a_damaged_text_model_file_is_refused(tmp_path, tiny_text_dir):
    cfg = MolTextConfig(
        graph=GRAPH,
        text=TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=16),
        proj_dim=8,
    )
    path = MolTextModel.build(cfg).save_pretrained(tmp_path / "moltext")
    checksums = _meta(path)["checksums"]
    text_files = sorted(name for name in checksums if name.startswith("text/"))
    assert "model.safetensors" in checksums and text_files
    assert "config.yaml" not in checksums and "meta.json" not in checksums
    damaged = path / text_files[-1]
    _flip_last_byte(damaged)
    with pytest.raises(IntegrityError) as caught:
        molgraphpt.load(path)
    assert caught.value.path == damaged


def test_a_checkpoint_without_checksums_loads_with_an_info_line(saved, caplog):
    model, path = saved
    meta = _meta(path)
    del meta["checksums"]  # as written before checksums existed
    (path / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.INFO, logger="molgraphpt.models.serialization"):
        loaded = molgraphpt.load(path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert "records no checksums" in caplog.text


def test_a_checksum_entry_cannot_point_outside_the_checkpoint(saved):
    _, path = saved
    meta = _meta(path)
    meta["checksums"]["../elsewhere"] = "sha256:00"
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(molgraphpt.errors.CheckpointError, match="malformed checksum entry"):
        molgraphpt.load(path)


def test_checkpoints_get_the_umask_permissions(tmp_path):
    model = PropertyModel(PropertyModelConfig(encoder=GRAPH, num_tasks=2))
    old = os.umask(0o022)
    try:
        path = model.save_pretrained(tmp_path / "run" / "model")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755  # was 0o700 (tempfile.mkdtemp)
    for file in path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o644, file.name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _marked(path, pid: int, host: str | None = None) -> None:
    """A temporary folder as an interrupted save leaves it (marker: pid and host)."""
    path.mkdir()
    (path / "model.safetensors").write_bytes(b"half written")
    marker = {"pid": pid, "host": host or socket.gethostname()}
    (path / ".molgraphpt-temp").write_text(json.dumps(marker))


def test_a_save_removes_only_the_debris_of_dead_saves(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    _marked(tmp_path / f".model.tmp-{dead}-0123abcd", dead)  # a killed save: removed
    _marked(tmp_path / f".model.tmp-{alive}-0123abcd", alive)  # a save still running
    _marked(tmp_path / f".other.tmp-{dead}-0123abcd", dead, host="another-node")
    (tmp_path / f".model.tmp-{dead}-fedcba98").mkdir()  # no marker: not made by molgraphpt
    _marked(tmp_path / f".model.tmp-{dead}-zz", dead)  # not the exact name pattern
    model = PropertyModel(PropertyModelConfig(encoder=GRAPH, num_tasks=2))
    model.save_pretrained(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            "model",
            f".model.tmp-{alive}-0123abcd",
            f".other.tmp-{dead}-0123abcd",
            f".model.tmp-{dead}-fedcba98",
            f".model.tmp-{dead}-zz",
        ]
    )
    assert not (tmp_path / "model" / ".molgraphpt-temp").exists()
