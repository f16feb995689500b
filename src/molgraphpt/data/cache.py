"""Feature caches: build a :class:`GraphStore` once per (source, featurizer, RDKit), then reuse it.

The cache directory of a source is named after a fingerprint of everything that determines its
contents: the source file's SHA-256, the columns read, the invalid-SMILES policies, the featurizer
version and the RDKit version. A store whose fingerprint differs is never reused: it is rebuilt.
The cache root is, in order: the ``cache_dir`` argument, ``$MOLGRAPHPT_CACHE``,
``~/.cache/molgraphpt``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from molgraphpt._io import cache_root as cache_root  # re-exported: it was defined here
from molgraphpt.chem.features import FEATURIZER_VERSION
from molgraphpt.chem.parallel import featurize_smiles
from molgraphpt.data.store import FORMAT_VERSION, GraphStore, GraphStoreWriter
from molgraphpt.errors import CacheError, IntegrityError, InvalidSmilesError

logger = logging.getLogger(__name__)


def file_sha256(path: str | Path, *, block: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    """Hex digest of the cache key ``parts`` plus featurizer, RDKit and store format versions."""
    from rdkit import __version__ as rdkit_version

    key = {
        **parts,
        "featurizer": FEATURIZER_VERSION,
        "rdkit": rdkit_version,
        "store_format": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Chunk:
    """Rows read from a source.

    Attributes:
        rows: ``[k]`` int64, 0-based data-row numbers in the source.
        smiles: The ``k`` SMILES.
        labels: ``[k, num_tasks]`` float labels, or None.
        lines: ``[k]`` int64, the 1-based file line of each row (header = line 1), when known.
    """

    rows: np.ndarray
    smiles: list[str]
    labels: np.ndarray | None = None
    lines: np.ndarray | None = None


@dataclass
class BuildReport:
    """What happened while featurizing a source."""

    num_rows: int = 0
    num_molecules: int = 0
    num_invalid: int = 0
    num_partial: int = 0
    invalid_examples: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    seconds: float = 0.0


def build_store(
    chunks: Iterable[Chunk],
    directory: str | Path,
    *,
    num_tasks: int = 0,
    workers: int = 1,
    on_invalid: Literal["raise", "skip"] = "raise",
    unsanitizable: Literal["partial", "invalid"] = "partial",
    source: str | None = None,
    progress: bool = False,
    meta: dict[str, Any] | None = None,
) -> tuple[GraphStore, BuildReport]:
    """Featurize ``chunks`` into a new store at ``directory`` (written atomically).

    Args:
        chunks: Rows of the source, in order.
        directory: Where the store goes.
        num_tasks: Label columns per row (0 for unlabelled data).
        workers: Featurization processes (0 = all cores).
        on_invalid: ``"raise"`` on the first invalid SMILES, or ``"skip"`` and count it.
        unsanitizable: Policy for molecules RDKit parses only without valence checks.
        source: Name of the source file, for error messages.
        progress: Show a progress bar.
        meta: Extra entries for ``meta.json``.
    """
    start = time.perf_counter()
    report = BuildReport()
    writer = GraphStoreWriter(directory, num_tasks=num_tasks)
    options = _FeaturizeOptions(workers, on_invalid, unsanitizable, source, progress)
    try:
        for chunk in chunks:
            _append_chunk(writer, chunk, report, num_tasks, options)
        report.num_molecules = writer.num_molecules
        report.seconds = time.perf_counter() - start
        info = {
            "source": source,
            "num_rows": report.num_rows,
            "num_invalid": report.num_invalid,
            "num_partial": report.num_partial,
            "invalid_examples": report.invalid_examples,
            "build_seconds": round(report.seconds, 3),
            **(meta or {}),
        }
        store = writer.finish(info)
    except BaseException:
        writer.abort()
        raise
    _log_report(report, source)
    return store, report


@dataclass(frozen=True)
class _FeaturizeOptions:
    """The :func:`~molgraphpt.chem.parallel.featurize_smiles` options of one store build."""

    workers: int
    on_invalid: Literal["raise", "skip"]
    unsanitizable: Literal["partial", "invalid"]
    source: str | None
    progress: bool


def _append_chunk(
    writer: GraphStoreWriter,
    chunk: Chunk,
    report: BuildReport,
    num_tasks: int,
    options: _FeaturizeOptions,
) -> None:
    """Featurize one chunk, append its valid molecules to ``writer`` and count into ``report``.

    Args:
        writer: The store being written.
        chunk: Rows of the source.
        report: Counts so far (updated).
        num_tasks: Label columns per row (0: the chunk's labels are ignored).
        options: Featurization options (``source`` names the file in errors).

    Raises:
        InvalidSmilesError: With ``on_invalid="raise"``, naming the source row.
    """
    try:
        feats = featurize_smiles(
            chunk.smiles,
            workers=options.workers,
            on_invalid=options.on_invalid,
            unsanitizable=options.unsanitizable,
            source=options.source,
            progress=options.progress,
        )
    except InvalidSmilesError as err:
        # Positions inside the chunk -> rows of the source file.
        row = int(chunk.rows[err.row]) if err.row is not None else None
        line = _line_of(chunk, err.row)
        raise err.at(row=row, line=line, source=options.source) from None
    kept = np.asarray(feats.rows, dtype=np.int64)
    writer.append(
        feats.atom_feats,
        feats.bond_atoms,
        feats.bond_feats,
        feats.num_atoms,
        feats.num_bonds,
        chunk.rows[kept],
        labels=chunk.labels[kept] if num_tasks else None,
        smiles=[chunk.smiles[i].strip() for i in kept],
    )
    report.num_rows += len(chunk.rows)
    report.num_invalid += len(feats.invalid_rows)
    report.num_partial += len(feats.partial_rows)
    for row, smi, reason in feats.invalid_examples:
        if len(report.invalid_examples) < 10:
            line = _line_of(chunk, row)
            report.invalid_examples.append((int(chunk.rows[row]), smi, reason, line))


def _line_of(chunk: Chunk, position: int | None) -> int | None:
    """The file line of the row at ``position`` inside ``chunk`` (None when unknown)."""
    if position is None or chunk.lines is None:
        return None
    return int(chunk.lines[position])


def _log_report(report: BuildReport, source: str | None) -> None:
    """Warn about skipped invalid SMILES; note partially sanitized molecules."""
    if report.num_invalid:
        row, smiles, _, line = report.invalid_examples[0]
        where = f"line {line}" if line is not None else f"row {row}"
        logger.warning(
            "skipped %d of %d rows with invalid SMILES in %s (e.g. %s: %r)",
            report.num_invalid,
            report.num_rows,
            source,
            where,
            smiles,
        )
    if report.num_partial:
        logger.info(
            "%d molecules of %s needed partial sanitization (unsanitizable='partial')",
            report.num_partial,
            source,
        )


def cached_store(
    name: str,
    key: dict[str, Any],
    chunks: Iterator[Chunk] | Iterable[Chunk],
    *,
    cache_dir: str | Path | None = None,
    rebuild: bool = False,
    **build_kwargs: Any,
) -> GraphStore:
    """Open the cached store for ``key``, building it from ``chunks`` if absent, stale or damaged.

    Opening verifies the store's checksums and structure (:meth:`GraphStore.open`); a cache
    entry whose bytes changed on disk is rebuilt with a warning, never used.

    Args:
        name: Human-readable prefix of the cache directory.
        key: Everything that determines the content (source hash, columns, policies).
        chunks: Source rows; consumed only when the store has to be built.
        cache_dir: Cache root (see :func:`cache_root`).
        rebuild: Build even if a valid store exists.
        **build_kwargs: Passed to :func:`build_store`.
    """
    digest = fingerprint(key)
    directory = cache_root(cache_dir) / f"{name}-{digest[:16]}"
    if directory.exists() and not rebuild:
        try:
            store = GraphStore.open(directory)
            if store.meta.get("fingerprint") == digest:
                return store
            logger.warning("cache %s has a different fingerprint: rebuilding", directory)
        except IntegrityError as err:
            logger.warning(
                "cache %s is damaged (%s): rebuilding it from its source", directory, err.path
            )
        except CacheError as err:
            logger.warning("cache %s is unusable (%s): rebuilding", directory, err)
    directory.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fingerprint": digest, "key": key, **build_kwargs.pop("meta", {})}
    store, _ = build_store(chunks, directory, meta=meta, **build_kwargs)
    return store
