"""Small file helpers shared by every layer."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("molgraphpt")

HASH_BLOCK = 1 << 22
"""Bytes read at a time when hashing a file (4 MiB: memory stays flat)."""

TEMP_MARKER = ".molgraphpt-temp"
"""File inside every temporary folder molgraphpt makes, naming the process and host."""


def umask() -> int:
    """The process's file-creation mask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and restoring it
    (not thread-safe, but the value is the same before and after).
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give a new file (``0o644`` under umask 022)."""
    return 0o666 & ~umask()


def make_temp_sibling(path: str | os.PathLike[str], *, tag: str = "") -> tuple[int, Path]:
    """A new temporary file next to ``path`` named ``.<name>.<tag><random>.tmp``, mode per umask.

    :func:`tempfile.mkstemp` creates files readable by their owner only (0600); the file is
    given the mode a normal write would, so the renamed result is like any other output.

    Returns:
        ``(open file descriptor, temporary path)``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{tag}", suffix=".tmp")
    with contextlib.suppress(OSError):  # e.g. a file system without POSIX modes
        os.fchmod(fd, file_mode())
    return fd, Path(tmp)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a fsynced temporary sibling and a rename.

    A reader never sees a half-written file, and an interrupted write leaves the previous file
    intact (and no temporary file, unless the process itself is killed mid-write).
    """
    path = Path(path)
    fd, tmp = make_temp_sibling(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`write_bytes_atomic` of ``text`` encoded as UTF-8."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves the previous file
    intact. ``default`` is :func:`json.dumps`'s (e.g. ``str`` for paths and numpy scalars).
    """
    return write_text_atomic(path, json.dumps(data, indent=2, default=default))


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The directory caches live in (argument, then ``$MOLGRAPHPT_CACHE``, then ``~/.cache``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MOLGRAPHPT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "molgraphpt"


def file_checksum(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex digest>"`` of a file, read in 4 MiB blocks (memory stays flat).

    Raises:
        ValueError: ``algorithm`` is not one :mod:`hashlib` knows (callers turn it into their
            typed error).
    """
    digest = hashlib.new(algorithm)
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return f"{algorithm}:{digest.hexdigest()}"


def make_marked_temp_dir(path: Path, *, parents: bool = False) -> Path:
    """Create ``path`` (mode from the umask) with a marker naming this process and host."""
    path.mkdir(parents=parents)  # 0o777 & ~umask, readable by colleagues unlike mkdtemp's 0o700
    marker = {"pid": os.getpid(), "host": socket.gethostname()}
    (path / TEMP_MARKER).write_text(json.dumps(marker))
    return path


def marker_pid(directory: Path) -> int | None:
    """The pid in ``directory``'s temp marker if it was written on this host, else None."""
    try:
        info = json.loads((directory / TEMP_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("host") != socket.gethostname():
        return None
    pid = info.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` (> 0) exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists but belongs to someone else
        return True
    return True


def remove_stale_temp_dirs(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Delete the temporary folders in ``parent`` left by molgraphpt processes that died.

    A folder is removed only if its name fully matches ``pattern`` (with a ``pid`` group), it
    holds the marker molgraphpt writes into its temporary folders, the marker names this host
    and the pattern's pid, and no process with that pid runs. Nothing else is ever touched.

    Returns:
        The folders removed.
    """
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid = int(match["pid"])
        if marker_pid(entry) != pid or process_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        logger.info("removed %s, left by molgraphpt process %d, which no longer runs", entry, pid)
        removed.append(entry)
    return removed
