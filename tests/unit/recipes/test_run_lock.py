"""The run-directory lock, between two real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from molgraphpt.errors import RunDirError
from molgraphpt.recipes.run_lock import LOCK_NAME, RunDirLock, lock_holder

ROOT = Path(__file__).resolve().parents[3]

HOLDER = textwrap.dedent(
    """
    import sys
    from molgraphpt.recipes.run_lock import RunDirLock
    lock = RunDirLock(sys.argv[1], command="molgraphpt finetune --run-dir held")
    lock.acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold it until the test closes stdin or kills us
    """
)


def hold_lock(run_dir: Path) -> subprocess.Popen:
    """A second process that takes the lock on ``run_dir`` and keeps it (returns when held)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_at_once_and_told_who_holds_the_lock(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        with pytest.raises(RunDirError) as info:
            RunDirLock(tmp_path, command="second").acquire()
        message = str(info.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message
        assert "molgraphpt finetune --run-dir held" in message and "--run-dir" in message
        assert lock_holder(tmp_path)["pid"] == holder.pid
    finally:
        holder.kill()  # like a crash: no clean release
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays, but the kernel freed the lock
    with RunDirLock(tmp_path, command="third") as lock:
        assert lock.held and lock_holder(tmp_path)["pid"] == os.getpid()
        assert lock_holder(tmp_path)["command"] == "third"
    assert not (tmp_path / LOCK_NAME).exists()  # a clean release deletes it


def test_the_lock_is_held_only_once_and_released_on_exit(tmp_path):
    with RunDirLock(tmp_path) as lock:
        with pytest.raises(RunDirError, match="in use by another run"):
            RunDirLock(tmp_path).acquire()  # even in the same process (another open file)
        assert lock.held
    assert not lock.held
    again = RunDirLock(tmp_path)
    again.acquire()
    again.release()
