"""Unlabelled pretraining corpora: many SMILES files → one cached :class:`GraphStore` + a subset.

:func:`load_corpus` streams every row of every source file, in order, through ONE feature cache
(:func:`~molgraphpt.data.cache.cached_store`). Molecules of the *exclusion* files (the downstream
evaluation sets) are dropped before featurization, by RDKit canonical SMILES, so test molecules
never leak into pretraining. The subset used for training (``fraction`` / ``max_molecules``) is a
seeded permutation of the store, sorted, so it is the same on every machine and smaller subsets of
one seed are contained in larger ones.

Sources. A path may be a file (CSV/TSV with a header, or one SMILES a line; ``.gz`` allowed; see
:mod:`molgraphpt.data.tables`) or a folder: an OGB raw folder stands for its
``mapping/mol.csv.gz``; any other folder for all its data files, sorted by name.

Row numbers are global: the rows of the second file follow those of the first, and so on. The
store's ``meta.json`` records each file's ``[row_start, row_stop)`` range, so
``store.rows`` tells which file (and line) every molecule came from.

Scale. Nothing holds a Python object per molecule beyond one chunk (50k rows): the exclusion set
is a sorted ``uint64`` array of 64-bit hashes of canonical SMILES (a false match needs a hash
collision, probability about ``n_corpus * n_excluded / 2**64``, i.e. below 1e-8 for 1e6 x 1e5),
and features are streamed to disk by :class:`~molgraphpt.data.store.GraphStoreWriter`.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH
from molgraphpt.chem.smiles import canonical_smiles, check_policy
from molgraphpt.data.cache import Chunk, cached_store, file_sha256
from molgraphpt.data.config import CorpusConfig
from molgraphpt.data.store import GraphStore
from molgraphpt.data.tables import iter_chunks, sniff_format
from molgraphpt.errors import ConfigError, DataFormatError, InvalidSmilesError
from molgraphpt.seed import derive_seed

__all__ = [
    "Corpus",
    "check_build_options",
    "expand_sources",
    "holdout_split",
    "load_corpus",
    "load_corpus_from_config",
    "select_subset",
]

logger = logging.getLogger(__name__)

#: Bump when the way a corpus store is built changes (it is part of the cache key).
CORPUS_VERSION = 1
#: File name endings read from a folder (each also with ``.gz``).
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".smi", ".smiles")
_HASH_BATCH = 2048


@dataclass
class Corpus:
    """A featurized unlabelled corpus and the subset of it to train on.

    Attributes:
        store: Every kept molecule of every source file (no labels).
        indices: Positions in ``store`` selected by ``fraction`` / ``max_molecules``, sorted
            ``[num_selected]`` int64.
        info: Counts and provenance: ``num_rows``, ``num_molecules``, ``num_selected``,
            ``num_invalid``, ``num_excluded``, ``num_blank``, ``sources`` (per file: path, sha256,
            row range, counts) and ``exclusion`` (files, sha256, molecules in the exclusion set).
    """

    store: GraphStore
    indices: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)

    def holdout(self, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Split :attr:`indices` into ``(train, valid)`` with a seeded permutation (both sorted).

        Args:
            fraction: Share of the selected molecules held out, in ``[0, 1)``; 0 gives an empty
                validation set. At least one molecule stays in training.
            seed: Seed of the permutation.
        """
        return holdout_split(self.indices, fraction, seed, tag="corpus-valid")


def holdout_split(
    indices: np.ndarray, fraction: float, seed: int = 0, *, tag: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into ``(train, valid)`` with a seeded permutation (order kept).

    Args:
        indices: Positions to split ``[n]``.
        fraction: Share held out, in ``[0, 1)``; 0 gives an empty validation set. At least one
            position stays in training.
        seed: Seed of the permutation.
        tag: Names the stream the permutation's seed is derived from (``derive_seed(seed, tag)``),
            so different datasets split independently.

    Raises:
        ConfigError: ``fraction`` is not in ``[0, 1)``.
    """
    if isinstance(fraction, bool) or not 0.0 <= fraction < 1.0:
        raise ConfigError("valid_fraction", fraction, expected="a float in [0, 1)")
    n = len(indices)
    k = min(int(round(fraction * n)), n - 1) if fraction > 0 else 0
    if k <= 0:
        return indices, indices[:0]
    rng = np.random.default_rng(derive_seed(seed, tag))
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:k]] = True
    return indices[~mask], indices[mask]


def select_subset(
    n: int, *, fraction: float = 1.0, max_molecules: int | None = None, seed: int = 0
) -> np.ndarray:
    """Positions ``[k]`` (sorted int64) of a seeded random subset of ``range(n)``.

    ``k = round(fraction * n)`` (at least 1 when ``n > 0``), capped at ``max_molecules``. The
    subset is a prefix of one seeded permutation, so for a given seed a smaller subset is always
    contained in a larger one; when everything is selected the result is ``arange(n)``.

    Raises:
        ConfigError: ``fraction`` is not in ``(0, 1]`` or ``max_molecules`` is below 1.
    """
    if isinstance(fraction, bool) or not 0.0 < fraction <= 1.0:
        raise ConfigError("data.fraction", fraction, expected="a float in (0, 1]")
    if max_molecules is not None and (
        isinstance(max_molecules, bool) or not isinstance(max_molecules, int) or max_molecules < 1
    ):
        raise ConfigError("data.max_molecules", max_molecules, expected="an integer >= 1 or null")
    k = n if fraction >= 1.0 else max(1, int(round(fraction * n))) if n else 0
    if max_molecules is not None:
        k = min(k, max_molecules)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    order = np.random.default_rng(derive_seed(seed, "corpus-subset")).permutation(n)
    return np.sort(order[:k]).astype(np.int64)


def _is_data_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and not path.name.startswith(".") and name.endswith(DATA_SUFFIXES)


def expand_sources(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The data files ``paths`` stand for, in order (folders expanded, duplicates dropped).

    Raises:
        FileNotFoundError: A path does not exist.
        DataFormatError: A folder holds no data file.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            mapping = path / "mapping" / "mol.csv.gz"
            found = (
                [mapping] if mapping.is_file() else sorted(filter(_is_data_file, path.iterdir()))
            )
            if not found:
                raise DataFormatError(
                    f"folder {path} holds no SMILES file (looked for "
                    f"{', '.join('*' + s for s in DATA_SUFFIXES)}, optionally .gz, or an OGB "
                    f"mapping/mol.csv.gz)"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(
                f"corpus file {path} does not exist; check data.paths / data.exclude, or the data "
                f"root (data.data_root, --data-root or $MOLGRAPHPT_DATA)"
            )
    unique: dict[Path, Path] = {}
    for path in files:
        if path.resolve() in unique:
            logger.warning("%s is listed twice; reading it once", path)
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


# ------------------------------------------------------------------ canonical-SMILES hashing


_LIMITS = (MAX_SMILES_LENGTH, MAX_HEAVY_ATOMS)


def _hash_one(smiles: str, unsanitizable: str, limits: tuple[int, int] = _LIMITS) -> int:
    """64-bit hash of the canonical SMILES, or 0 when it is invalid.

    Invalid means anything :func:`~molgraphpt.chem.smiles.parse_smiles` rejects: every such
    SMILES (a non-string, non-ASCII text, one over the ``(max_smiles_length, max_heavy_atoms)``
    ``limits``, an impossible valence, ...) raises :class:`InvalidSmilesError`, so this never
    raises for a SMILES.
    """
    try:
        canon = canonical_smiles(
            smiles,
            unsanitizable=unsanitizable,  # type: ignore[arg-type]
            max_smiles_length=limits[0],
            max_heavy_atoms=limits[1],
        )
    except InvalidSmilesError:
        return 0
    value = int.from_bytes(hashlib.blake2b(canon.encode(), digest_size=8).digest(), "little")
    return value or 1  # 0 marks "unparsable"


def _hash_task(
    smiles: list[str], unsanitizable: str, limits: tuple[int, int] = _LIMITS
) -> np.ndarray:
    """Hashes ``[len(smiles)]`` uint64 (picklable: runs in worker processes)."""
    return np.fromiter(
        (_hash_one(s, unsanitizable, limits) for s in smiles), dtype=np.uint64, count=len(smiles)
    )


class _Hasher:
    """Canonical-SMILES hashing in this process or a lazily started spawn pool.

    ``limits`` is ``(max_smiles_length, max_heavy_atoms)``, as the store is featurized with.
    """

    def __init__(self, workers: int, unsanitizable: str, limits: tuple[int, int] = _LIMITS) -> None:
        self.processes = workers or os.cpu_count() or 1
        self.task = partial(_hash_task, unsanitizable=unsanitizable, limits=limits)
        self._pool: Any = None

    def __call__(self, smiles: list[str]) -> np.ndarray:
        if self.processes <= 1 or len(smiles) <= _HASH_BATCH:
            return self.task(smiles)
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(self.processes)
        parts = [smiles[i : i + _HASH_BATCH] for i in range(0, len(smiles), _HASH_BATCH)]
        return np.concatenate(self._pool.map(self.task, parts))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


def _exclusion_hashes(
    files: list[Path], hasher: Callable[[list[str]], np.ndarray], report: list[dict[str, Any]]
) -> np.ndarray:
    """Sorted unique hashes of every parsable molecule in ``files`` (fills ``report``)."""
    parts = []
    for path, entry in zip(files, report):
        start = time.perf_counter()
        num_rows = unparsable = 0
        for chunk in iter_chunks(path):
            hashes = hasher(chunk.smiles)
            num_rows += len(hashes)
            unparsable += int((hashes == 0).sum())
            parts.append(hashes[hashes != 0])
        entry.update(num_rows=num_rows, num_unparsable=unparsable)
        logger.info(
            "exclusion file %s: %d rows (%d unparsable, ignored) in %.1fs",
            path,
            num_rows,
            unparsable,
            time.perf_counter() - start,
        )
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def _not_blank(smiles: object) -> bool:
    """False for an empty or whitespace-only string (a non-string is left to featurization)."""
    return not isinstance(smiles, str) or bool(smiles.strip())


def _contains(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[i] in sorted_set`` for each i, ``[len(values)]`` bool."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.searchsorted(sorted_set, values).clip(max=len(sorted_set) - 1)
    return sorted_set[pos] == values


# ----------------------------------------------------------------------------- the build


@dataclass
class BuildState:
    """Filled in while the chunks are consumed; written into the store's ``meta.json``."""

    meta: dict[str, Any]
    current: tuple[str, int] | None = None  # (file, row offset) being read


def build_excluding(
    name: str,
    key: dict[str, Any],
    chunks: Iterator[Chunk],
    state: BuildState,
    hasher: _Hasher,
    **cached_store_kwargs: Any,
) -> GraphStore:
    """:func:`cached_store` over ``chunks`` that read ``state.current`` files through ``hasher``.

    Closes ``hasher`` in every case, and turns the global row number of an
    :class:`InvalidSmilesError` into the row of the file being read (``state.current``).
    """
    try:
        return cached_store(name, key, chunks, **cached_store_kwargs)
    except InvalidSmilesError as err:
        if state.current is None or err.row is None:
            raise
        path, offset = state.current
        raise err.at(row=err.row - offset, source=path) from None
    finally:
        hasher.close()


def _corpus_chunks(
    files: list[Path],
    smiles_col: str | None,
    exclude_files: list[Path],
    hasher: Callable[[list[str]], np.ndarray],
    state: BuildState,
) -> Iterator[Chunk]:
    """Rows of all ``files`` with global row numbers, excluded and blank rows filtered out."""
    excluded = _exclusion_hashes(exclude_files, hasher, state.meta["exclusion"]["files"])
    state.meta["exclusion"]["num_molecules"] = int(len(excluded))
    offset = 0
    for path, entry in zip(files, state.meta["sources"]):
        state.current = (str(path), offset)
        num_rows = num_excluded = num_blank = 0
        col = None if sniff_format(path) == "smi" else smiles_col
        for chunk in iter_chunks(path, smiles_col=col):
            num_rows += len(chunk.rows)
            keep = np.fromiter(map(_not_blank, chunk.smiles), bool, len(chunk.smiles))
            num_blank += int((~keep).sum())
            if len(excluded):
                hit = _contains(excluded, hasher(chunk.smiles)) & keep
                num_excluded += int(hit.sum())
                keep &= ~hit
            if keep.any():
                kept = np.flatnonzero(keep)
                smiles = [chunk.smiles[i] for i in kept]
                yield Chunk(rows=chunk.rows[kept] + offset, smiles=smiles)
        entry.update(
            row_start=offset,
            row_stop=offset + num_rows,
            num_rows=num_rows,
            num_excluded=num_excluded,
            num_blank=num_blank,
        )
        logger.info("%s: %d rows, %d excluded, %d blank", path, num_rows, num_excluded, num_blank)
        offset += num_rows
    state.current = None


def check_build_options(
    on_invalid: str, unsanitizable: str, workers: object, *, prefix: str = ""
) -> None:
    """Check the featurization options of a store build; ``prefix`` starts the config keys.

    Raises:
        ConfigError: ``on_invalid``, ``unsanitizable`` or ``workers`` is out of range.
    """
    if on_invalid not in ("raise", "skip"):
        raise ConfigError(f"{prefix}on_invalid", on_invalid, expected="'raise' or 'skip'")
    check_policy(unsanitizable)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"{prefix}workers", workers, expected="an integer >= 0 (0 = all cores)")


def load_corpus(
    paths: Sequence[str | os.PathLike[str]],
    *,
    smiles_col: str | None = None,
    exclude: Sequence[str | os.PathLike[str]] = (),
    max_molecules: int | None = None,
    fraction: float = 1.0,
    subset_seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    on_invalid: Literal["raise", "skip"] = "skip",
    unsanitizable: Literal["partial", "invalid"] = "partial",
    progress: bool = False,
) -> Corpus:
    """Featurize (once, cached) the molecules of ``paths`` that are not in ``exclude``.

    Args:
        paths: Source files or folders, read in this order (see the module docstring).
        smiles_col: SMILES column of the CSV/TSV sources (guessed per file from common names when
            None; ignored for one-SMILES-a-line files).
        exclude: Files or folders of molecules that must not be in the corpus (e.g. every
            downstream benchmark set). They are compared by RDKit canonical SMILES; their
            unparsable SMILES are ignored. Their SMILES column is guessed.
        max_molecules: Cap on the number of selected molecules.
        fraction: Share of the corpus selected, in ``(0, 1]``.
        subset_seed: Seed of the subset permutation.
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        workers: Processes for canonicalization and featurization (0 = all cores).
        on_invalid: ``"skip"`` (count) or ``"raise"`` on an invalid corpus SMILES.
        unsanitizable: Policy for molecules failing only RDKit's valence check (also used to
            canonicalize for exclusion).
        progress: Show featurization progress bars.

    Returns:
        The :class:`Corpus`.

    Raises:
        ConfigError: No path given, or an option is out of range.
        FileNotFoundError: A path does not exist.
        InvalidSmilesError: With ``on_invalid="raise"``, naming the file and its row.
    """
    if not paths:
        raise ConfigError("data.paths", list(paths), expected="at least one SMILES file or folder")
    check_build_options(on_invalid, unsanitizable, workers, prefix="data.")
    files, exclude_files = _source_and_exclusion_files(paths, exclude)
    sources = [{"path": str(p), "sha256": file_sha256(p)} for p in files]
    excl = [{"path": str(p), "sha256": file_sha256(p)} for p in exclude_files]
    started = time.perf_counter()
    store = _build_corpus_store(
        files,
        exclude_files,
        sources,
        excl,
        smiles_col=smiles_col,
        cache_dir=cache_dir,
        workers=workers,
        on_invalid=on_invalid,
        unsanitizable=unsanitizable,
        progress=progress,
    )
    info = _corpus_info(store, sources, excl)
    indices = select_subset(
        len(store), fraction=fraction, max_molecules=max_molecules, seed=subset_seed
    )
    info.update(num_selected=int(len(indices)), seconds=round(time.perf_counter() - started, 3))
    logger.info(
        "corpus: %d molecules from %d rows of %d file(s) (%d excluded, %d invalid); %d selected",
        len(store),
        info["num_rows"],
        len(files),
        info["num_excluded"],
        info["num_invalid"],
        len(indices),
    )
    return Corpus(store=store, indices=indices, info=info)


def load_corpus_from_config(cfg: CorpusConfig, *, progress: bool = False) -> Corpus:
    """Load the corpus ``cfg`` describes (relative paths resolved against ``cfg.root()``).

    Args:
        cfg: The corpus section of a pretraining config (``cfg.paths``, not ``cfg.pairs``).
        progress: Show featurization progress bars.

    Raises:
        ConfigError, FileNotFoundError, InvalidSmilesError: As :func:`load_corpus`.
    """
    return load_corpus(
        [cfg.resolve(p) for p in cfg.paths],
        smiles_col=cfg.smiles_col,
        exclude=[cfg.resolve(p) for p in cfg.exclude],
        max_molecules=cfg.max_molecules,
        fraction=cfg.fraction,
        subset_seed=cfg.subset_seed,
        cache_dir=cfg.cache_dir,
        workers=cfg.workers,
        on_invalid=cfg.on_invalid,
        unsanitizable=cfg.unsanitizable,
        progress=progress,
    )


def _source_and_exclusion_files(
    paths: Sequence[str | os.PathLike[str]], exclude: Sequence[str | os.PathLike[str]]
) -> tuple[list[Path], list[Path]]:
    """The data files of ``paths`` and of ``exclude`` (see :func:`expand_sources`), disjoint.

    Raises:
        ConfigError: A file is both a source and an exclusion file.
        FileNotFoundError, DataFormatError: As :func:`expand_sources`.
    """
    files, exclude_files = expand_sources(paths), expand_sources(exclude)
    overlap = {p.resolve() for p in files} & {p.resolve() for p in exclude_files}
    if overlap:
        raise ConfigError(
            "data.exclude", sorted(map(str, overlap)), expected="files that are not also sources"
        )
    return files, exclude_files


def _build_corpus_store(
    files: list[Path],
    exclude_files: list[Path],
    sources: list[dict[str, Any]],
    excl: list[dict[str, Any]],
    *,
    smiles_col: str | None,
    cache_dir: str | os.PathLike[str] | None,
    workers: int,
    on_invalid: Literal["raise", "skip"],
    unsanitizable: Literal["partial", "invalid"],
    progress: bool,
) -> GraphStore:
    """The cached corpus store of ``files`` minus ``exclude_files`` (built when absent).

    ``sources`` / ``excl`` are the ``{path, sha256}`` entries of ``files`` / ``exclude_files``;
    their hashes and the options that change the content make the cache key.
    """
    key = {
        "kind": "corpus",
        "corpus_version": CORPUS_VERSION,
        "sources": [s["sha256"] for s in sources],
        "smiles_col": smiles_col,
        "exclude": sorted({e["sha256"] for e in excl}),
        "on_invalid": on_invalid,
        "unsanitizable": unsanitizable,
    }
    # The generator fills these dicts while the store is built; build_store writes them into
    # meta.json after the last chunk (cached_store copies the outer dict only).
    state = BuildState(
        {"sources": [dict(s) for s in sources], "exclusion": {"files": [dict(e) for e in excl]}}
    )
    hasher = _Hasher(workers, unsanitizable)
    return build_excluding(
        "corpus",
        key,
        _corpus_chunks(files, smiles_col, exclude_files, hasher, state),
        state,
        hasher,
        cache_dir=cache_dir,
        workers=workers,
        on_invalid=on_invalid,
        unsanitizable=unsanitizable,
        source=f"corpus of {len(files)} file(s)",
        progress=progress,
        meta={"corpus": state.meta},
    )


def _corpus_info(
    store: GraphStore, sources: list[dict[str, Any]], excl: list[dict[str, Any]]
) -> dict[str, Any]:
    """Counts per file and in total, from the store's meta and its ``rows`` array."""
    built = store.meta.get("corpus", {})
    rows = np.asarray(store.rows)
    out_sources = []
    for current, recorded in zip(sources, built.get("sources", [{}] * len(sources))):
        entry = {**recorded, **current}  # the paths of this call, the counts of the build
        if "row_start" in entry:
            lo, hi = np.searchsorted(rows, [entry["row_start"], entry["row_stop"]])
            entry["num_molecules"] = int(hi - lo)
            dropped = entry["num_excluded"] + entry["num_blank"] + entry["num_molecules"]
            entry["num_invalid"] = entry["num_rows"] - dropped
        out_sources.append(entry)
    exclusion = dict(built.get("exclusion", {}))
    exclusion["files"] = [
        {**r, **c} for c, r in zip(excl, exclusion.get("files", [{}] * len(excl)))
    ]
    total = sum(int(s.get("num_rows", 0)) for s in out_sources)
    return {
        "num_rows": total,
        "num_molecules": len(store),
        "num_invalid": int(store.meta.get("num_invalid", 0)),
        "num_partial": int(store.meta.get("num_partial", 0)),
        "num_excluded": sum(int(s.get("num_excluded", 0)) for s in out_sources),
        "num_blank": sum(int(s.get("num_blank", 0)) for s in out_sources),
        "build_seconds": store.meta.get("build_seconds"),
        "store": str(store.directory),
        "sources": out_sources,
        "exclusion": exclusion,
    }
