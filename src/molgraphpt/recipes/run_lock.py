"""An exclusive lock on a run directory, held for a run's whole life (``RUN_DIR/.lock``).

The lock is an ``fcntl.flock`` on ``RUN_DIR/.lock``, taken without waiting: a second run into
the same folder fails at once with a :class:`~molgraphpt.errors.RunDirError` that names the
holder (pid, host, start time and command line, which the holder writes into the file). The
kernel releases the lock when the holder exits, however it exits (a crash or ``kill -9``
included), so a stale lock file never blocks a later run. A clean release also deletes the file.

This module imports only the standard library, so a process that only locks starts fast.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

from molgraphpt._io import file_mode
from molgraphpt.errors import RunDirError

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunDirLock", "lock_holder"]

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"
_ATTEMPTS = 5  # the holder may delete the file between our open and our flock: try again


def lock_holder(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What the holder of ``run_dir``'s lock wrote about itself, or None if unreadable."""
    try:
        info = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


class RunDirLock:
    """``with RunDirLock(run_dir, command=...):`` — the run directory is this process's.

    Args:
        run_dir: The run directory (must exist).
        command: The command line of this run, recorded for whoever finds the folder locked.

    Raises:
        RunDirError: (on entering / :meth:`acquire`) another process holds the lock.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, command: str = "") -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting and record this process in the lock file."""
        if self._fd is not None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            logger.warning("file locks are not available here: %s is not locked", self.run_dir)
            return
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise RunDirError(self._held_message()) from err
            if _is_current(fd, self.path):
                self._fd = fd
                self._record()
                return
            os.close(fd)  # locked a file its previous holder had just deleted
        raise RunDirError(
            f"could not lock {self.path}: it was replaced {_ATTEMPTS} times while locking; "
            "is another run starting in the same folder? Retry, or pass another --run-dir."
        )

    def release(self) -> None:
        """Delete the lock file and release the lock (the kernel does it too when we exit)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # still locked: a newcomer that opened it retries on a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _record(self) -> None:
        assert self._fd is not None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": self.command,
        }
        data = json.dumps(info).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def _held_message(self) -> str:
        info = lock_holder(self.run_dir)
        if info:
            who = (
                f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}"
                f" ({info.get('command') or 'command unknown'})"
            )
        else:
            who = "a process that has not recorded itself yet"
        return (
            f"{self.run_dir} is in use by another run: {who}. Two runs in one folder would "
            f"overwrite each other's files. Wait for it to finish (or stop it), or pass another "
            f"--run-dir. The lock ({self.path}) is released when that process exits."
        )


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not one deleted since it was opened)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
