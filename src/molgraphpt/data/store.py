"""Compact, memory-mappable on-disk storage of featurized molecules.

A :class:`GraphStore` is a directory of flat binary arrays described by ``meta.json``. It holds
no pickled Python objects (pickles of PyG ``Data`` break across PyG versions), so any version of
molgraphpt, NumPy or another language can read it. Layout, for ``n`` molecules with ``A`` atoms and
``B`` bonds in all:

=================  ======================  ===============================================
file               shape / dtype           meaning
=================  ======================  ===============================================
``atom_table``     [num_atom_types, 9] u8  distinct OGB atom feature rows (a vocabulary)
``bond_table``     [num_bond_types, 3] u8  distinct OGB bond feature rows
``atom_code``      [A] u16 or u32          row of ``atom_table`` for each atom
``bond_code``      [B] u8 or u16           row of ``bond_table`` for each bond
``bond_atoms``     [B, 2] u8/u16/i32       begin/end atom of each bond, local to its molecule
``atom_ptr``       [n + 1] i32 or i64      atoms of molecule i are ``atom_ptr[i]:atom_ptr[i+1]``
``bond_ptr``       [n + 1] i32 or i64      same for bonds
``rows``           [n] i64                 row of the source file each molecule came from
``labels``         [n, T] f32 (optional)   targets, NaN where missing
``smiles``         bytes + ``smiles_ptr``  the SMILES as given (stripped), UTF-8 (optional)
=================  ======================  ===============================================

Bonds are stored once; directed edges ``(i, j), (j, i)`` are produced on load in OGB's order, so
a decoded graph equals ``ogb.utils.smiles2graph`` exactly. Drug-like molecules take about
100–150 bytes each (deduplicated atom rows, 1-byte local indices), against ~14 KB in memory for
chemprop's cache.

Integrity: ``meta.json`` records ``checksums`` (``{"atom_code.bin": "sha256:<hex>", ...}``, one
per array file) when the store is written, and :meth:`GraphStore.open` re-hashes every file
(streamed in 4 MiB blocks, about 1 GB/s) before using it: damaged bytes raise
:class:`~molgraphpt.errors.IntegrityError`. A structural check always runs, verified or not:
offsets start at 0, never decrease and end at the array lengths, codes index their tables, table
values are within OGB's vocabularies and every bond's atoms lie inside its own molecule, so even a
damaged store opened with ``verify=False`` never yields an ``IndexError`` or an edge between two
molecules. Stores written before checksums existed open with an info log line. Both checks are
:mod:`molgraphpt.data.store_checks`' (:func:`check_structure`, :func:`check_indices` and
:func:`file_checksum` are re-exported here).

A writer builds in ``<name>.tmp-<pid>`` (holding a ``.molgraphpt-temp`` marker with its pid and
host) and renames it into place; when a writer starts, such folders in the same parent whose
marker names this host and a process that no longer runs are removed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt import _io
from molgraphpt.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS

# The integrity half of the format; its public names are re-exported from here.
from molgraphpt.data.store_checks import CHECKSUM_ALGORITHM as CHECKSUM_ALGORITHM
from molgraphpt.data.store_checks import _array_checksum, _fix, _verify_checksums
from molgraphpt.data.store_checks import check_indices as check_indices
from molgraphpt.data.store_checks import check_structure as check_structure
from molgraphpt.data.store_checks import file_checksum as file_checksum
from molgraphpt.errors import CacheError

logger = logging.getLogger(__name__)

FORMAT = "molgraphpt-graphstore"
FORMAT_VERSION = 1
_NUM_ATOM_COLS = len(ATOM_FEATURE_DIMS)
_NUM_BOND_COLS = len(BOND_FEATURE_DIMS)
#: Arrays every store has (``labels``, ``smiles`` and ``smiles_ptr`` are optional).
_REQUIRED_ARRAYS = ("atom_table", "bond_table", "atom_code", "bond_code", "bond_atoms")
_REQUIRED_ARRAYS += ("atom_ptr", "bond_ptr", "rows")
#: Name of a writer's temporary folder: ``<store name>.tmp-<pid>``.
_TEMP_NAME = re.compile(r"(?P<name>.+)\.tmp-(?P<pid>[0-9]+)")


def _smallest_uint(max_value: int, candidates: Iterable[type] = (np.uint8, np.uint16)) -> type:
    for dtype in candidates:
        if max_value <= np.iinfo(dtype).max:
            return dtype
    return np.uint32 if max_value <= np.iinfo(np.uint32).max else np.int64


def _index_dtype(max_value: int) -> type:
    return np.int32 if max_value <= np.iinfo(np.int32).max else np.int64


def remove_stale_temp_dirs(parent: Path, pattern: re.Pattern[str] = _TEMP_NAME) -> list[Path]:
    """Delete store temp folders in ``parent`` left by dead molgraphpt processes (only those)."""
    return _io.remove_stale_temp_dirs(parent, pattern)


class _Vocabulary:
    """Assigns stable integer codes to distinct feature rows (uint8 columns packed as bytes)."""

    def __init__(self, num_cols: int) -> None:
        self.num_cols = num_cols
        self.codes: dict[bytes, int] = {}
        self.rows: list[bytes] = []

    def encode(self, feats: np.ndarray) -> np.ndarray:
        """Codes ``[num_rows]`` (uint32) for feature rows ``[num_rows, num_cols]`` (uint8)."""
        if len(feats) == 0:
            return np.zeros(0, dtype=np.uint32)
        feats = np.ascontiguousarray(feats, dtype=np.uint8)
        keys = feats.view(np.dtype((np.void, self.num_cols))).ravel()
        unique, inverse = np.unique(keys, return_inverse=True)
        mapped = np.empty(len(unique), dtype=np.uint32)
        for i, key in enumerate(unique.tolist()):
            code = self.codes.get(key)
            if code is None:
                code = self.codes[key] = len(self.rows)
                self.rows.append(key)
            mapped[i] = code
        return mapped[inverse.ravel()]

    def table(self) -> np.ndarray:
        """The vocabulary ``[num_codes, num_cols]`` uint8."""
        if not self.rows:
            return np.zeros((0, self.num_cols), dtype=np.uint8)
        return np.frombuffer(b"".join(self.rows), dtype=np.uint8).reshape(-1, self.num_cols)


def check_replaceable_store(directory: Path) -> None:
    """Refuse to replace ``directory`` unless it is absent, empty, or a graph store.

    A store is replaced as a whole when it is rebuilt; anything else there (a user's files, a
    typo'd ``--out``) is never deleted.

    Raises:
        CacheError: ``directory`` is a file, or a non-empty folder that is not a graph store.
    """
    if not directory.exists():
        return
    if not directory.is_dir():
        raise CacheError(
            f"cannot write a graph store to {directory}: it is a file; choose another --out"
        )
    entries = sorted(p.name for p in directory.iterdir())
    if not entries:
        return
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise CacheError(
            f"refusing to write a graph store to {directory}: it is a non-empty folder that is "
            f"not a graph store (it holds {shown}); nothing was deleted. Choose an empty or new "
            "--out folder"
        )


class GraphStoreWriter:
    """Streams featurized chunks into a new store directory.

    Chunks are appended to temporary files as they come, so a corpus of millions of molecules
    never has to be held in memory. :meth:`finish` narrows dtypes, writes ``meta.json`` last and
    renames the temporary directory into place, so a reader never sees a half-written store.

    Args:
        directory: Final location of the store; built in ``directory.tmp-<pid>`` first.
        num_tasks: Number of label columns, or 0 for unlabelled corpora.
        with_smiles: Also store the SMILES strings.
    """

    def __init__(self, directory: str | Path, *, num_tasks: int = 0, with_smiles: bool = True):
        self.directory = Path(directory)
        check_replaceable_store(self.directory)  # before any work: never delete user files
        remove_stale_temp_dirs(self.directory.parent)  # debris of killed writers
        self.tmp = self.directory.with_name(f"{self.directory.name}.tmp-{os.getpid()}")
        if self.tmp.exists():
            if _io.marker_pid(self.tmp) != os.getpid():
                raise CacheError(
                    f"cannot build the store {self.directory}: {self.tmp} is in the way and was "
                    "not made by a molgraphpt store writer; move it away and try again"
                )
            shutil.rmtree(self.tmp)  # an earlier writer of this process that was not aborted
        _io.make_marked_temp_dir(self.tmp, parents=True)
        self.num_tasks = num_tasks
        self.with_smiles = with_smiles
        self.atoms = _Vocabulary(_NUM_ATOM_COLS)
        self.bonds = _Vocabulary(_NUM_BOND_COLS)
        names = ["atom_code", "bond_code", "bond_atoms", "num_atoms", "num_bonds", "rows"]
        names += ["labels"] if num_tasks else []
        names += ["smiles", "smiles_len"] if with_smiles else []
        self._files = {name: open(self.tmp / f"{name}.part", "wb") for name in names}  # noqa: SIM115
        self.num_molecules = 0
        self.max_atoms = 0

    def append(
        self,
        atom_feats: np.ndarray,
        bond_atoms: np.ndarray,
        bond_feats: np.ndarray,
        num_atoms: np.ndarray,
        num_bonds: np.ndarray,
        rows: np.ndarray,
        labels: np.ndarray | None = None,
        smiles: list[str] | None = None,
    ) -> None:
        """Append a chunk of molecules.

        Args:
            atom_feats: ``[chunk_atoms, 9]`` uint8 OGB atom features.
            bond_atoms: ``[chunk_bonds, 2]`` local begin/end atom indices.
            bond_feats: ``[chunk_bonds, 3]`` uint8 OGB bond features.
            num_atoms: ``[chunk_size]`` atoms per molecule.
            num_bonds: ``[chunk_size]`` bonds per molecule.
            rows: ``[chunk_size]`` source rows.
            labels: ``[chunk_size, num_tasks]`` float targets (NaN = missing), if the store has any.
            smiles: ``chunk_size`` SMILES strings if the store keeps them.
        """
        f = self._files
        f["atom_code"].write(self.atoms.encode(atom_feats).tobytes())
        f["bond_code"].write(self.bonds.encode(bond_feats).tobytes())
        f["bond_atoms"].write(np.asarray(bond_atoms, dtype=np.int32).tobytes())
        f["num_atoms"].write(np.asarray(num_atoms, dtype=np.int64).tobytes())
        f["num_bonds"].write(np.asarray(num_bonds, dtype=np.int64).tobytes())
        f["rows"].write(np.asarray(rows, dtype=np.int64).tobytes())
        if self.num_tasks:
            lab = np.asarray(labels, dtype=np.float32).reshape(len(rows), self.num_tasks)
            f["labels"].write(lab.tobytes())
        if self.with_smiles:
            encoded = [s.encode() for s in smiles or []]
            if len(encoded) != len(rows):
                raise CacheError(f"got {len(encoded)} SMILES for {len(rows)} molecules")
            f["smiles"].write(b"".join(encoded))
            f["smiles_len"].write(np.array([len(s) for s in encoded], dtype=np.int64).tobytes())
        self.num_molecules += len(rows)
        if len(num_atoms):
            self.max_atoms = max(self.max_atoms, int(np.max(num_atoms)))

    def _read_part(self, name: str, dtype: type) -> np.ndarray:
        return np.fromfile(self.tmp / f"{name}.part", dtype=dtype)

    def finish(self, meta: dict[str, Any] | None = None) -> GraphStore:
        """Finalize the store, move it into place and return it opened."""
        for handle in self._files.values():
            handle.close()
        arrays: dict[str, np.ndarray] = {
            "atom_table": self.atoms.table(),
            "bond_table": self.bonds.table(),
        }
        n_atom_types, n_bond_types = len(arrays["atom_table"]), len(arrays["bond_table"])
        arrays["atom_code"] = self._read_part("atom_code", np.uint32).astype(
            _smallest_uint(max(n_atom_types - 1, 0), (np.uint16,))
        )
        arrays["bond_code"] = self._read_part("bond_code", np.uint32).astype(
            _smallest_uint(max(n_bond_types - 1, 0))
        )
        arrays["bond_atoms"] = (
            self._read_part("bond_atoms", np.int32)
            .reshape(-1, 2)
            .astype(_smallest_uint(max(self.max_atoms - 1, 0), (np.uint8, np.uint16, np.int32)))
        )
        num_atoms = self._read_part("num_atoms", np.int64)
        num_bonds = self._read_part("num_bonds", np.int64)
        for name, counts in (("atom_ptr", num_atoms), ("bond_ptr", num_bonds)):
            ptr = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=ptr[1:])
            arrays[name] = ptr.astype(_index_dtype(int(ptr[-1])))
        arrays["rows"] = self._read_part("rows", np.int64)
        if self.num_tasks:
            arrays["labels"] = self._read_part("labels", np.float32).reshape(-1, self.num_tasks)
        if self.with_smiles:
            lengths = self._read_part("smiles_len", np.int64)
            ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=ptr[1:])
            arrays["smiles_ptr"] = ptr
            arrays["smiles"] = self._read_part("smiles", np.uint8)
        for part in self.tmp.glob("*.part"):
            part.unlink()
        described, checksums = {}, {}
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            array.tofile(self.tmp / f"{name}.bin")
            described[name] = {"dtype": array.dtype.str, "shape": list(array.shape)}
            checksums[f"{name}.bin"] = _array_checksum(array)
        info = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "num_molecules": self.num_molecules,
            "num_atoms": int(arrays["atom_ptr"][-1]) if self.num_molecules else 0,
            "num_bonds": int(arrays["bond_ptr"][-1]) if self.num_molecules else 0,
            "num_tasks": self.num_tasks,
            "arrays": described,
            **(meta or {}),
            "checksums": checksums,
        }
        (self.tmp / "meta.json").write_text(json.dumps(info, indent=2))
        check_replaceable_store(self.directory)  # it may have appeared while we worked
        if self.directory.exists():
            shutil.rmtree(self.directory)
        os.replace(self.tmp, self.directory)
        (self.directory / _io.TEMP_MARKER).unlink(missing_ok=True)
        return GraphStore.open(self.directory, verify=False)  # just hashed; structure checked

    def abort(self) -> None:
        """Close and delete the temporary directory (after an error)."""
        for handle in self._files.values():
            handle.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class DecodedGraphs:
    """Graphs of several molecules, concatenated, as OGB/PyG expect them.

    Attributes:
        x: ``[num_nodes, 9]`` int64 atom features.
        edge_index: ``[2, num_edges]`` int64, offset per molecule, OGB edge order.
        edge_attr: ``[num_edges, 3]`` int64 bond features.
        num_nodes: ``[num_graphs]`` int64 nodes per molecule.
        num_edges: ``[num_graphs]`` int64 directed edges per molecule.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    num_nodes: np.ndarray
    num_edges: np.ndarray


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c), vectorized: ``[sum(counts)]``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, counts)


class GraphStore:
    """Read access to a store directory (see the module docstring for the layout).

    Arrays are memory-mapped; :meth:`load_into_memory` copies them to RAM for the fastest access.
    """

    def __init__(self, directory: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.directory = directory
        self.meta = meta
        self._arrays = arrays

    @classmethod
    def open(cls, directory: str | Path, *, mmap: bool = True, verify: bool = True) -> GraphStore:
        """Open the store in ``directory``, checking that its bytes are the ones written.

        Args:
            directory: The store folder.
            mmap: Memory-map the arrays (else read them into RAM).
            verify: Re-hash every array file against the checksums in ``meta.json`` (about
                1 GB/s). ``verify=False`` skips this for users who accept the risk; the cheap
                structural check (offsets, codes and bond atoms within bounds) runs anyway.

        Raises:
            CacheError: Not a store, a file missing or truncated, or a structural defect.
            IntegrityError: A file's checksum differs from the one recorded when it was written.
        """
        return cls._open(Path(directory), mmap=mmap, verify=verify, check=True)

    @classmethod
    def _open(cls, directory: Path, *, mmap: bool, verify: bool, check: bool) -> GraphStore:
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as err:
            raise CacheError(f"no readable graph store at {directory} ({err})") from err
        if not isinstance(meta, dict) or not isinstance(meta.get("arrays"), dict):
            raise CacheError(
                f"{meta_path} is not a graph store description; {_fix(directory, meta)}"
            )
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise CacheError(
                f"{directory} holds format {meta.get('format')!r} v{meta.get('format_version')}, "
                f"expected {FORMAT!r} v{FORMAT_VERSION}; delete it to rebuild"
            )
        specs = _array_specs(directory, meta)
        if verify:
            _verify_checksums(directory, meta)
        arrays = {}
        for name, (shape, dtype) in specs.items():
            path = directory / f"{name}.bin"
            if _nbytes(shape, dtype) == 0 or not mmap:
                arrays[name] = np.fromfile(path, dtype=dtype).reshape(shape)
            else:
                arrays[name] = np.memmap(path, dtype=dtype, mode="r", shape=shape)
        if check:
            check_structure(directory, meta, arrays)
        return cls(directory, meta, arrays)

    def load_into_memory(self) -> GraphStore:
        """Copy every array into RAM (returns ``self``)."""
        self._arrays = {k: np.array(v) for k, v in self._arrays.items()}
        return self

    def __len__(self) -> int:
        return int(self.meta["num_molecules"])

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes reopen the memory maps instead of pickling array contents.
        return {"directory": self.directory, "in_memory": not self._is_mmap()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # The process that pickled the store verified and checked these files when it opened
        # them; DataLoader workers reopen them every epoch, so they skip both.
        other = GraphStore._open(Path(state["directory"]), mmap=True, verify=False, check=False)
        if state["in_memory"]:
            other.load_into_memory()
        self.__dict__.update(other.__dict__)

    def _is_mmap(self) -> bool:
        return any(isinstance(a, np.memmap) for a in self._arrays.values())

    @property
    def rows(self) -> np.ndarray:
        """Source-file row of each molecule ``[num_molecules]``."""
        return self._arrays["rows"]

    @property
    def labels(self) -> np.ndarray | None:
        """Targets ``[num_molecules, num_tasks]`` float32 (NaN = missing), or None."""
        return self._arrays.get("labels")

    @property
    def num_nodes(self) -> np.ndarray:
        """Atoms per molecule ``[num_molecules]``."""
        return np.diff(self._arrays["atom_ptr"]).astype(np.int64)

    def smiles(self, index: int) -> str:
        """The SMILES of molecule ``index``."""
        if "smiles" not in self._arrays:
            raise CacheError(f"the store at {self.directory} was built without SMILES")
        ptr = self._arrays["smiles_ptr"]
        return self._decode_text(bytes(self._arrays["smiles"][ptr[index] : ptr[index + 1]]))

    def all_smiles(self) -> list[str]:
        """Every SMILES in store order."""
        ptr = np.asarray(self._arrays["smiles_ptr"])
        blob = bytes(np.asarray(self._arrays["smiles"]))
        return [self._decode_text(blob[ptr[i] : ptr[i + 1]]) for i in range(len(self))]

    def _decode_text(self, raw: bytes) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError as err:
            raise CacheError(
                f"{self.directory / 'smiles.bin'} holds bytes that are not UTF-8 ({err}); "
                f"{_fix(self.directory, self.meta)}"
            ) from err

    def nbytes(self, *, graph_only: bool = False) -> int:
        """Bytes on disk (graph arrays only: tables, codes, bond atoms and pointers)."""
        graph = {"atom_table", "bond_table", "atom_code", "bond_code", "bond_atoms"}
        graph |= {"atom_ptr", "bond_ptr"}
        return sum(int(a.nbytes) for k, a in self._arrays.items() if not graph_only or k in graph)

    def decode(self, indices: np.ndarray | list[int]) -> DecodedGraphs:
        """Decode molecules ``indices`` into one concatenated graph (vectorized, no Python loop).

        Args:
            indices: ``[num_graphs]`` molecule indices into the store.

        Returns:
            The graphs in the order given, node indices offset per graph as in a PyG batch.

        Raises:
            DataFormatError: An index is outside ``[0, len(store))``.
        """
        a = self._arrays
        idx = np.asarray(indices, dtype=np.int64)
        check_indices(idx, len(self), self.directory)
        atom_ptr, bond_ptr = a["atom_ptr"], a["bond_ptr"]
        a0 = np.asarray(atom_ptr[idx], dtype=np.int64)
        num_nodes = np.asarray(atom_ptr[idx + 1], dtype=np.int64) - a0
        b0 = np.asarray(bond_ptr[idx], dtype=np.int64)
        num_bonds = np.asarray(bond_ptr[idx + 1], dtype=np.int64) - b0
        atom_pos = _ranges(a0, num_nodes)
        bond_pos = _ranges(b0, num_bonds)
        x = a["atom_table"][a["atom_code"][atom_pos]].astype(np.int64)
        local = a["bond_atoms"][bond_pos]
        bond_attr = a["bond_table"][a["bond_code"][bond_pos]]
        return assemble_graphs(x, local, bond_attr, num_nodes, num_bonds)


def assemble_graphs(
    atom_feats: np.ndarray,
    bond_atoms: np.ndarray,
    bond_feats: np.ndarray,
    num_nodes: np.ndarray,
    num_bonds: np.ndarray,
) -> DecodedGraphs:
    """Turn per-molecule bond lists into one batch graph with OGB's directed edge order.

    Args:
        atom_feats: ``[num_nodes_total, 9]`` atom features.
        bond_atoms: ``[num_bonds_total, 2]`` begin/end atoms, local to each molecule.
        bond_feats: ``[num_bonds_total, 3]`` bond features.
        num_nodes: ``[num_graphs]`` atoms per molecule.
        num_bonds: ``[num_graphs]`` bonds per molecule.

    Returns:
        Each bond ``(i, j)`` becomes edges ``(i, j), (j, i)``, node indices offset per molecule.
    """
    num_nodes = np.asarray(num_nodes, dtype=np.int64)
    num_bonds = np.asarray(num_bonds, dtype=np.int64)
    local = np.asarray(bond_atoms, dtype=np.int64).reshape(-1, 2)
    shift = np.repeat(np.cumsum(num_nodes) - num_nodes, num_bonds)
    begin, end = local[:, 0] + shift, local[:, 1] + shift
    edge_index = np.empty((2, 2 * len(local)), dtype=np.int64)
    edge_index[0, 0::2], edge_index[1, 0::2] = begin, end
    edge_index[0, 1::2], edge_index[1, 1::2] = end, begin
    edge_attr = np.repeat(np.asarray(bond_feats, dtype=np.int64).reshape(-1, 3), 2, axis=0)
    x = np.asarray(atom_feats, dtype=np.int64)
    return DecodedGraphs(x, edge_index, edge_attr, num_nodes, 2 * num_bonds)


# ------------------------------------------------------------------------------------ integrity


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return int(np.prod(shape)) * dtype.itemsize


def _array_specs(directory: Path, meta: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Shape and dtype of each array of ``meta``, after checking every file has that size.

    Raises:
        CacheError: A required array is not described, a description is malformed, or a file
            is missing or has another size.
    """
    missing = [name for name in _REQUIRED_ARRAYS if name not in meta["arrays"]]
    if missing:
        raise CacheError(
            f"{directory / 'meta.json'} describes no {', '.join(missing)}; {_fix(directory, meta)}"
        )
    specs = {}
    for name, spec in meta["arrays"].items():
        path = directory / f"{name}.bin"
        try:
            shape, dtype = tuple(int(n) for n in spec["shape"]), np.dtype(spec["dtype"])
        except (KeyError, TypeError, ValueError) as err:
            raise CacheError(
                f"{directory / 'meta.json'} describes {name} wrongly ({err!r}); "
                f"{_fix(directory, meta)}"
            ) from err
        if not path.exists() or path.stat().st_size != _nbytes(shape, dtype):
            raise CacheError(f"{path} is missing or truncated; delete {directory} to rebuild")
        specs[name] = (shape, dtype)
    return specs
