"""Integrity checks of a :class:`~molgraphpt.data.store.GraphStore`: checksums and structure.

:func:`_verify_checksums` re-hashes every array file of a store against the ``checksums`` of its
``meta.json`` (written with :func:`_array_checksum`), so damaged bytes raise
:class:`~molgraphpt.errors.IntegrityError`. :func:`check_structure` is the cheap check every
opened store passes, verified or not: offsets start at 0, never decrease and end at the array
lengths, codes index their tables, table values are within OGB's vocabularies and every bond's
atoms lie inside its own molecule, so decoding never raises an ``IndexError`` or joins two
molecules. :func:`check_indices` refuses molecule indices outside a store.

The store format itself is :mod:`molgraphpt.data.store`, which re-exports the public names of
this module.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from molgraphpt import _io
from molgraphpt.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS
from molgraphpt.errors import CacheError, DataFormatError, IntegrityError

__all__ = ["CHECKSUM_ALGORITHM", "check_indices", "check_structure", "file_checksum"]

# The store module's logger: log records keep the logger they had before the split.
logger = logging.getLogger("molgraphpt.data.store")

#: Algorithm of the checksums written into ``meta.json`` (any :mod:`hashlib` name is read).
CHECKSUM_ALGORITHM = "sha256"


def file_checksum(path: str | os.PathLike[str], algorithm: str = CHECKSUM_ALGORITHM) -> str:
    """``"<algorithm>:<hex digest>"`` of a file (:func:`molgraphpt._io.file_checksum`).

    Raises:
        CacheError: ``algorithm`` is not one :mod:`hashlib` knows.
    """
    try:
        return _io.file_checksum(path, algorithm)
    except ValueError as err:
        raise CacheError(f"cannot check {path}: unknown checksum algorithm {algorithm!r}") from err


def _array_checksum(array: np.ndarray) -> str:
    """Checksum of a C-contiguous array's bytes, equal to :func:`file_checksum` of its file."""
    digest = hashlib.new(CHECKSUM_ALGORITHM)
    digest.update(array.reshape(-1).view(np.uint8))
    return f"{CHECKSUM_ALGORITHM}:{digest.hexdigest()}"


def _fix(directory: Path, meta: Any) -> str:
    """How to rebuild the store at ``directory``: the featurize command, or the cache rule."""
    meta = meta if isinstance(meta, dict) else {}
    if "fingerprint" in meta:
        return (
            f"it is an automatic feature cache: delete {directory} and it is rebuilt from its "
            "source the next time it is used"
        )
    source = meta.get("source")
    if source and isinstance(meta.get("smiles_col"), str):
        targets = ",".join(str(t) for t in meta.get("targets") or [])
        extra = f" --targets {targets}" if targets else ""
        return (
            f"rebuild it: molgraphpt featurize {source} --out {directory} "
            f"--smiles-col {meta['smiles_col']}{extra}"
        )
    return f"rebuild it from its source (e.g. molgraphpt featurize SOURCE --out {directory})"


def check_indices(indices: np.ndarray, size: int, directory: Path) -> None:
    """Refuse molecule ``indices`` ``[k]`` outside ``[0, size)`` of the store at ``directory``.

    Raises:
        DataFormatError: Naming the first bad index.
    """
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= size):
        bad = int(indices[(indices < 0) | (indices >= size)][0])
        raise DataFormatError(
            f"molecule index {bad} is outside the store at {directory}, which holds {size} "
            f"molecules (valid: 0..{size - 1}); check the split or index file it came from"
        )


def check_structure(directory: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The cheap check every opened store passes: decoding it can never index out of bounds.

    Offsets start at 0, never decrease and end at the lengths of what they index; codes index
    their tables; table values lie inside OGB's vocabularies; every bond's two atoms belong to
    its own molecule. Arrays are scanned in blocks, so memory stays flat on huge stores.

    Args:
        directory: The store folder (for messages).
        meta: Its ``meta.json``.
        arrays: The arrays, by name (memory-mapped or in RAM).

    Raises:
        CacheError: Naming the array, the first bad position and how to rebuild the store.
    """
    a = arrays
    n = meta.get("num_molecules")
    fail = _Failure(directory, meta)
    if not isinstance(n, int) or n < 0:
        fail("meta.json", f"num_molecules is {n!r}")
    _check_table(a["atom_table"], ATOM_FEATURE_DIMS, "atom_table", fail)
    _check_table(a["bond_table"], BOND_FEATURE_DIMS, "bond_table", fail)
    if a["bond_atoms"].ndim != 2 or a["bond_atoms"].shape[1:] != (2,):
        fail("bond_atoms", f"shape {list(a['bond_atoms'].shape)} is not [num_bonds, 2]")
    _check_ptr(a["atom_ptr"], n, len(a["atom_code"]), "atom_ptr", fail)
    _check_ptr(a["bond_ptr"], n, len(a["bond_code"]), "bond_ptr", fail)
    if len(a["bond_atoms"]) != len(a["bond_code"]):
        fail("bond_atoms", f"{len(a['bond_atoms'])} rows for {len(a['bond_code'])} bonds")
    _check_codes(a["atom_code"], len(a["atom_table"]), "atom_code", fail)
    _check_codes(a["bond_code"], len(a["bond_table"]), "bond_code", fail)
    if len(a["rows"]) != n:
        fail("rows", f"{len(a['rows'])} entries for {n} molecules")
    _check_bond_atoms(a["bond_atoms"], a["atom_ptr"], a["bond_ptr"], a["rows"], fail)
    if "labels" in a and len(a["labels"]) != n:
        fail("labels", f"{len(a['labels'])} rows for {n} molecules")
    if "smiles" in a or "smiles_ptr" in a:
        if "smiles" not in a or "smiles_ptr" not in a:
            fail("smiles", "only one of smiles and smiles_ptr is stored")
        _check_ptr(a["smiles_ptr"], n, len(a["smiles"]), "smiles_ptr", fail)


class _Failure:
    """Raises the :class:`CacheError` of a structural defect in one array of a store."""

    def __init__(self, directory: Path, meta: dict[str, Any]) -> None:
        self.directory, self.meta = directory, meta

    def __call__(self, name: str, problem: str) -> NoReturn:
        path = self.directory / (name if name.endswith(".json") else f"{name}.bin")
        raise CacheError(
            f"{path} is damaged: {problem}, so its graphs cannot be decoded safely; "
            f"{_fix(self.directory, self.meta)}"
        )


def _blocks(length: int, size: int = 1 << 20) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks covering ``range(length)``."""
    for start in range(0, length, size):
        yield start, min(start + size, length)


def _check_table(table: np.ndarray, dims: tuple[int, ...], name: str, fail: _Failure) -> None:
    """Every column ``c`` of ``table`` ``[num_rows, len(dims)]`` is below ``dims[c]``."""
    if table.ndim != 2 or table.shape[1] != len(dims):
        fail(name, f"shape {list(table.shape)} is not [num_rows, {len(dims)}]")
    if len(table) == 0:
        return
    bad = np.asarray(table).astype(np.int64) >= np.asarray(dims, dtype=np.int64)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        fail(name, f"row {row} column {col} is {int(table[row, col])}, not below {dims[col]}")


def _check_ptr(ptr: np.ndarray, n: int, total: int, name: str, fail: _Failure) -> None:
    """``ptr`` ``[n + 1]`` starts at 0, never decreases and ends at ``total``."""
    if ptr.ndim != 1 or len(ptr) != n + 1:
        fail(name, f"shape {list(ptr.shape)} is not [{n + 1}] for {n} molecules")
    if int(ptr[0]) != 0 or int(ptr[-1]) != total:
        fail(name, f"runs from {int(ptr[0])} to {int(ptr[-1])}, not from 0 to {total}")
    for start, stop in _blocks(n):
        step = np.diff(np.asarray(ptr[start : stop + 1], dtype=np.int64))
        if (step < 0).any():
            i = start + int(np.argmax(step < 0))
            fail(name, f"decreases after molecule {i} ({int(ptr[i])} -> {int(ptr[i + 1])})")


def _check_codes(codes: np.ndarray, table_size: int, name: str, fail: _Failure) -> None:
    """Every code ``[num_items]`` is a row of a table with ``table_size`` rows."""
    for start, stop in _blocks(len(codes), 1 << 24):
        block = np.asarray(codes[start:stop])
        if len(block) and int(block.max()) >= table_size:
            i = start + int(np.argmax(block >= table_size))
            fail(name, f"entry {i} is {int(codes[i])}, but the table has {table_size} rows")


def _check_bond_atoms(
    bond_atoms: np.ndarray,
    atom_ptr: np.ndarray,
    bond_ptr: np.ndarray,
    rows: np.ndarray,
    fail: _Failure,
) -> None:
    """Both atoms ``[num_bonds, 2]`` of every bond are atoms of the bond's own molecule."""
    n = len(atom_ptr) - 1
    for start, stop in _blocks(n, 1 << 16):
        b0, b1 = int(bond_ptr[start]), int(bond_ptr[stop])
        num_atoms = np.diff(np.asarray(atom_ptr[start : stop + 1], dtype=np.int64))
        num_bonds = np.diff(np.asarray(bond_ptr[start : stop + 1], dtype=np.int64))
        local = np.asarray(bond_atoms[b0:b1])
        limit = np.repeat(num_atoms, num_bonds)
        bad = (local[:, 0] >= limit) | (local[:, 1] >= limit)  # column-wise: 20x faster
        if local.dtype.kind == "i":
            bad |= (local[:, 0] < 0) | (local[:, 1] < 0)
        if bad.any():
            bond = int(np.argmax(bad))
            mol = start + int(np.searchsorted(np.cumsum(num_bonds), bond, side="right"))
            fail(
                "bond_atoms",
                f"bond {b0 + bond} joins atoms {local[bond].tolist()} of molecule {mol} (source "
                f"row {int(rows[mol])}), which has {int(num_atoms[mol - start])} atoms",
            )


def _verify_checksums(directory: Path, meta: dict[str, Any]) -> None:
    """Re-hash every array file and compare with ``meta["checksums"]``.

    Raises:
        IntegrityError: A file's bytes changed since the store was written.
        CacheError: The checksums do not cover an array file.
    """
    checksums = meta.get("checksums")
    if not checksums:
        logger.info(
            "graph store %s records no checksums (written before molgraphpt "
            "recorded them); its bytes are not verified",
            directory,
        )
        return
    for name in meta["arrays"]:
        filename = f"{name}.bin"
        expected = checksums.get(filename) if isinstance(checksums, dict) else None
        if not isinstance(expected, str) or ":" not in expected:
            raise CacheError(
                f"{directory / 'meta.json'} records no checksum for {filename}; "
                f"{_fix(directory, meta)}"
            )
        actual = file_checksum(directory / filename, expected.split(":", 1)[0])
        if actual != expected:
            raise IntegrityError(
                directory / filename,
                expected=expected,
                actual=actual,
                fix=f"The store was damaged on disk; {_fix(directory, meta)}. To use it anyway "
                "at your own risk, open it with GraphStore.open(..., verify=False).",
            )
