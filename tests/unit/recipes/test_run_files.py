"""Files a run writes: training state and JSON follow the umask; killed saves can be swept."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from molgraphpt._io import file_mode, umask, write_json_atomic, write_text_atomic
from molgraphpt.training import checkpoint
from molgraphpt.training.checkpoint import atomic_torch_save, remove_stale_temp_files


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_the_umask(tmp_path, umask_022):
    assert umask() == 0o022 and file_mode() == 0o644
    assert _mode(atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "last.pt")) == 0o644
    assert _mode(write_json_atomic(tmp_path / "r.json", {"a": 1})) == 0o644
    assert _mode(write_text_atomic(tmp_path / "p.csv", "row\n")) == 0o644
    os.umask(0o077)
    assert _mode(atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "private.pt")) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last.pt",
        "last.pt.sha256",
        "p.csv",
        "private.pt",
        "private.pt.sha256",
        "r.json",
    ]


def test_temporary_checkpoints_carry_the_pid_and_leftovers_are_swept(tmp_path, monkeypatch):
    seen = []
    real = checkpoint.make_temp_sibling

    def spy(path, **kwargs):
        fd, tmp = real(path, **kwargs)
        seen.append(tmp.name)
        return fd, tmp

    monkeypatch.setattr(checkpoint, "make_temp_sibling", spy)
    atomic_torch_save({"w": torch.zeros(1)}, tmp_path / "last.pt")
    assert seen[0].startswith(f".last.pt.{os.getpid()}.") and seen[0].endswith(".tmp")
    (tmp_path / ".last.pt.12345.abcd.tmp").write_bytes(b"killed mid-write")
    (tmp_path / ".other.pt.1.tmp").write_bytes(b"not a last.pt leftover")
    assert [p.name for p in remove_stale_temp_files(tmp_path)] == [".last.pt.12345.abcd.tmp"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".other.pt.1.tmp", "last.pt", "last.pt.sha256"]
    assert remove_stale_temp_files(tmp_path / "missing") == []
