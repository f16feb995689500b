"""Checksums of checkpoint files: what ``save_pretrained`` records and loading re-checks.

``meta.json`` of a checkpoint holds ``checksums`` (:data:`CHECKSUMS_KEY`):
``{"model.safetensors": "sha256:<hex>", ...}`` for every file written except ``config.yaml``
(plain text, read by a strict loader) and ``meta.json`` itself (:func:`_checked_files`).
:func:`verify_checkpoint` re-hashes the files (streamed in 4 MiB blocks, about 1 GB/s) and
raises :class:`~molgraphpt.errors.IntegrityError` on a mismatch; checkpoints written before
checksums existed pass with an info log line.

The rest of the checkpoint format (writing, reading, migrating) is
:mod:`molgraphpt.models.serialization`, which re-exports the public names of this module. That
module imports this one, so the few names of it used here are imported where they are used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any

from molgraphpt import _io
from molgraphpt.errors import CheckpointError, IntegrityError

__all__ = ["CHECKSUMS_KEY", "CHECKSUM_ALGORITHM", "file_checksum", "verify_checkpoint"]

# The serialization module's logger: log records keep the logger they had before the split.
logger = logging.getLogger("molgraphpt.models.serialization")

#: ``meta.json`` key of the files' checksums, and the algorithm written (any hashlib name reads).
CHECKSUMS_KEY = "checksums"
CHECKSUM_ALGORITHM = "sha256"


def file_checksum(path: str | os.PathLike[str], algorithm: str = CHECKSUM_ALGORITHM) -> str:
    """``"<algorithm>:<hex digest>"`` of a file (:func:`molgraphpt._io.file_checksum`).

    Raises:
        CheckpointError: ``algorithm`` is not one :mod:`hashlib` knows.
    """
    try:
        return _io.file_checksum(path, algorithm)
    except ValueError as err:
        raise CheckpointError(
            f"cannot check {path}: unknown checksum algorithm {algorithm!r}"
        ) from err


def _checked_files(directory: Path) -> list[str]:
    """Paths (relative, POSIX) of the files of ``directory`` that checksums cover.

    Not covered: the human-readable config (strictly parsed), ``meta.json`` itself and the
    marker of a temporary folder.
    """
    from molgraphpt.models.serialization import CONFIG_NAME, META_NAME

    unchecked = frozenset({CONFIG_NAME, META_NAME})
    names = (p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return sorted(name for name in names if name not in unchecked and name != _io.TEMP_MARKER)


def verify_checkpoint(
    directory: str | os.PathLike[str], names: tuple[str, ...] | None = None
) -> None:
    """Re-hash a checkpoint's files and compare them with the checksums in its ``meta.json``.

    A checkpoint written before checksums were recorded passes with an info log line.

    Args:
        directory: Checkpoint directory.
        names: Only these files (relative paths, e.g. ``("model.safetensors",)``); default: every
            file the checksums list.

    Raises:
        IntegrityError: A file's bytes differ from those written (the message names the file,
            both checksums, and says to restore or re-download it).
        CheckpointError: ``meta.json`` is unreadable, or a listed file is missing.
    """
    from molgraphpt.models.serialization import load_meta

    path = Path(directory)
    checksums = load_meta(path).get(CHECKSUMS_KEY)
    if not checksums or not isinstance(checksums, dict):
        logger.info(
            "checkpoint %s records no checksums (written before molgraphpt recorded "
            "them); its files are not verified",
            path,
        )
        return
    for name in sorted(checksums) if names is None else names:
        expected = checksums.get(name)
        if expected is None:
            logger.info("checkpoint %s records no checksum for %s; it is not verified", path, name)
            continue
        file = _checked_path(path, name, expected)
        actual = file_checksum(file, expected.split(":", 1)[0])
        if actual != expected:
            raise IntegrityError(
                file,
                expected=expected,
                actual=actual,
                fix=f"The file was damaged after the checkpoint was saved: restore {file} from "
                f"a backup or re-download the checkpoint {path}. To load it anyway at your own "
                "risk, pass verify=False.",
            )


def _checked_path(directory: Path, name: str, expected: Any) -> Path:
    """The file ``name`` of the checksum map, which must stay inside ``directory`` and exist."""
    from molgraphpt.models.serialization import META_NAME

    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or not isinstance(expected, str):
        raise CheckpointError(
            f"{directory / META_NAME} has a malformed checksum entry {name!r}: {expected!r}"
        )
    file = directory / relative
    if not file.is_file():
        raise CheckpointError(
            f"checkpoint {directory} is missing {name}, which was saved with it; restore it "
            "from a backup or re-download the checkpoint"
        )
    return file
