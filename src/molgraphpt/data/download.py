"""Downloads of the public datasets, verified against pinned checksums before they are used.

Every download goes to a temporary file in the target folder, is checked, and only then renamed
into place (``os.replace``), so an interrupted or damaged download never sits where a loader
would read it. The digests are those in ``molgraphpt/resources/checksums.json`` (its ``comment``
fields say where each came from); they are SHA-256 digests of a file's *content* — for a gzipped
file, of its decompressed bytes (:func:`content_sha256`) — so a verbatim ``.csv.gz`` and a
recompressed copy of the same CSV both verify.

* MoleculeNet CSVs come from chemprop's repository at a fixed commit (:func:`download_moleculenet`);
  all eleven are pinned.
* OGB raw folders come from OGB's server as zip archives (:func:`download_ogb`); the archive is
  extracted to a temporary folder and the files molgraphpt reads (``mapping/mol.csv.gz``,
  ``split/scaffold/*.csv.gz``) are checked before the folder is renamed into place. bbbp, bace,
  esol and freesolv are pinned.

A mismatch is an :class:`~molgraphpt.errors.IntegrityError` (expected and actual digest, URL, what
to do) and the downloaded file is removed. A file with no pinned digest is kept, its SHA-256 is
logged and written beside it as ``<file>.sha256`` (``sha256sum -c`` format), and the log says
plainly that it could not be verified. Nothing is downloaded when the files are already under the
data root: a local copy always works offline, and is not checked.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from molgraphpt._io import make_temp_sibling, write_text_atomic
from molgraphpt.data.tables import DataFileNotFoundError
from molgraphpt.errors import DataFormatError, IntegrityError

__all__ = [
    "content_sha256",
    "download_moleculenet",
    "download_ogb",
    "fetch",
    "pinned_checksums",
]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20


@lru_cache(maxsize=1)
def pinned_checksums() -> dict[str, Any]:
    """The pinned digests and download URLs (``resources/checksums.json``)."""
    text = (resources.files("molgraphpt.resources") / "checksums.json").read_text("utf-8")
    return json.loads(text)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of the bytes of ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def content_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of the content of ``path``: its decompressed bytes if it is gzipped.

    Gzip is recognised by the file's first two bytes, not by its name, and read in 1 MiB blocks.
    """
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if not gzipped:
        return file_sha256(path)
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _record_unverified(target: Path, url: str) -> str:
    """Write ``<target>.sha256`` and warn that ``target`` could not be verified."""
    digest = file_sha256(target)
    record = target.with_name(target.name + ".sha256")
    write_text_atomic(record, f"{digest}  {target.name}\n")
    logger.warning(
        "%s was downloaded from %s but could NOT be verified: no published checksum is known "
        "for it. Its sha256 is %s (written to %s; compare it with a trusted copy)",
        target,
        url,
        digest,
        record,
    )
    return digest


def fetch(
    url: str, target: str | os.PathLike[str], *, expected: str | None, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``target`` through a temporary sibling, verified, then renamed.

    Args:
        url: ``https://``, ``http://`` or ``file://`` URL.
        target: Where the file goes (its folder is created).
        expected: Pinned :func:`content_sha256` of the file, or None when none is known: the
            file is then kept unverified, with its digest logged and written to
            ``<target>.sha256``.
        timeout: Seconds to wait for the server.

    Returns:
        ``target``.

    Raises:
        IntegrityError: The content does not match ``expected`` (nothing is left behind).
        DataFileNotFoundError: The download failed (no network, HTTP error).
    """
    target = Path(target)
    verify = None if expected is None else (lambda tmp: _verify(tmp, expected, url, target))
    _download_atomic(url, target, verify, timeout)
    if expected is None:
        _record_unverified(target, url)
    else:
        logger.info("verified %s (content sha256 %s)", target, expected)
    return target


def _download_atomic(
    url: str, target: Path, verify: Callable[[Path], None] | None, timeout: float = 60.0
) -> None:
    """Download to a temporary sibling of ``target``, run ``verify`` on it, rename it into place.

    The temporary file is removed in every case (a failed check or download leaves nothing).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s -> %s", url, target)
    fd, tmp = make_temp_sibling(target, tag="download.")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, _BLOCK)
            except (urllib.error.URLError, OSError) as err:
                raise DataFileNotFoundError(
                    f"could not download {url} ({err}). Without internet, copy the file to "
                    f"{target} (or point the data root at a folder that has it) and run again"
                ) from err
            out.flush()
            os.fsync(out.fileno())
        if verify is not None:
            verify(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _verify(path: Path, expected: str, url: str, target: Path) -> None:
    actual = content_sha256(path)
    if actual != expected:
        raise IntegrityError(
            url,
            expected=expected,
            actual=actual,
            fix=f"The downloaded bytes do not match the checksum pinned in molgraphpt's "
            f"resources/checksums.json, so nothing was saved to {target}. Retry (a proxy or a cut "
            f"connection can damage a download); if it fails again the file on the server has "
            f"changed: get a copy you trust and put it at {target} yourself.",
        )


def download_moleculenet(
    file: str,
    root: str | os.PathLike[str],
    *,
    url_template: str | None = None,
    checksums: dict[str, str] | None = None,
) -> Path:
    """Download the MoleculeNet CSV ``file`` (chemprop's name) to ``<root>/moleculenet/``.

    Args:
        file: File name in chemprop's ``data/`` folder, e.g. ``"BBBP.csv"``, ``"HIV.csv.gz"``.
        root: The data root.
        url_template: URL with ``{file}`` (default: chemprop at the pinned commit).
        checksums: ``{file: content sha256}`` (default: the pinned ones).

    Raises:
        IntegrityError: The download does not match its pinned digest.
        DataFileNotFoundError: The download failed.
    """
    pins = pinned_checksums()["moleculenet"]
    url = (url_template or pins["url"]).format(file=file)
    expected = (checksums if checksums is not None else pins["files"]).get(file)
    return fetch(url, Path(root) / "moleculenet" / file, expected=expected)


def download_ogb(
    name: str,
    root: str | os.PathLike[str],
    *,
    url_template: str | None = None,
    checksums: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Download and extract OGB's raw folder of ``ogbg-mol<name>`` to ``<root>/ogb/ogbg_mol<name>``.

    The archive ``<root>/ogb/<name>.zip`` is downloaded unless it is already there (then it is
    used as it is). It is extracted to a temporary folder; the pinned files are verified, and only
    then is the folder renamed into place.

    Args:
        name: OGB's short name, e.g. ``"bbbp"``.
        root: The data root.
        url_template: URL with ``{name}`` (default: OGB's server).
        checksums: ``{name: {relative path: content sha256}}`` (default: the pinned ones).

    Returns:
        The extracted folder.

    Raises:
        IntegrityError: An extracted file does not match its pinned digest (the extracted files,
            and the archive if it was downloaded now, are removed).
        DataFormatError: The archive is not a zip of an OGB raw folder, or the target folder
            exists already without ``mapping/mol.csv.gz``.
        DataFileNotFoundError: The download failed.
    """
    pins = pinned_checksums()["ogb"]
    url = (url_template or pins["url"]).format(name=name)
    expected = (checksums if checksums is not None else pins["datasets"]).get(name, {})
    ogb_dir = Path(root) / "ogb"
    target, archive = ogb_dir / f"ogbg_mol{name}", ogb_dir / f"{name}.zip"
    if target.exists():
        raise DataFormatError(
            f"{target} exists but is not an OGB raw folder (no mapping/mol.csv.gz); move it away "
            f"and run again to download it"
        )
    fresh = not archive.exists()
    if fresh:
        _download_atomic(url, archive, None)
    try:
        _extract_verified(archive, target, expected, url if fresh else None)
    except (IntegrityError, DataFormatError):
        if fresh:  # we downloaded it: a damaged archive must not be picked up next time
            archive.unlink(missing_ok=True)
        raise
    if expected:
        logger.info("verified %d files of %s against pinned checksums", len(expected), target)
    elif fresh:
        _record_unverified(archive, url)
    else:
        logger.warning(
            "extracted %s from your %s; no pinned checksum: not verified", target, archive
        )
    return target


def _extract_verified(
    archive: Path, target: Path, expected: dict[str, str], url: str | None
) -> None:
    """Extract ``archive`` to a temporary folder, check ``expected``, rename it to ``target``."""
    tmp = Path(tempfile.mkdtemp(dir=archive.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as err:
            raise DataFormatError(f"{archive} is not a zip archive ({err})") from None
        folder = _raw_folder(tmp, archive)
        origin = f"downloaded from {url}" if url else "yours, kept as it is"
        for rel, digest in sorted(expected.items()):
            member = folder / rel
            actual = content_sha256(member) if member.is_file() else "(file missing)"
            if actual != digest:
                raise IntegrityError(
                    f"{rel} in {archive} ({origin})",
                    expected=digest,
                    actual=actual,
                    fix=f"It does not match the checksum pinned in molgraphpt's "
                    f"resources/checksums.json (content sha256), so nothing was extracted to "
                    f"{target}. Download the archive again; if it still differs, OGB's file has "
                    f"changed: check it and unpack it to {target} yourself.",
                )
        os.replace(folder, target)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)


def _raw_folder(extracted: Path, archive: Path) -> Path:
    """The folder of an extracted OGB archive that holds ``mapping/mol.csv.gz``."""
    candidates = [extracted, *sorted(p for p in extracted.iterdir() if p.is_dir())]
    for folder in candidates:
        if (folder / "mapping" / "mol.csv.gz").is_file():
            return folder
    raise DataFormatError(
        f"{archive} does not hold an OGB raw folder (no <name>/mapping/mol.csv.gz inside)"
    )
