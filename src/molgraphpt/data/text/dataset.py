"""The featurized pair dataset: :class:`PairDataset` and :func:`load_pair_dataset` (cached).

:func:`load_pairs_from_config` loads the pairs of a
:class:`~molgraphpt.data.config.CorpusConfig` and :func:`select_pairs` picks the positions a run
uses.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from molgraphpt.data.cache import Chunk, file_sha256
from molgraphpt.data.config import CorpusConfig, PairSourceConfig
from molgraphpt.data.corpus import (
    BuildState,
    _contains,
    _Hasher,
    build_excluding,
    check_build_options,
    holdout_split,
    select_subset,
)
from molgraphpt.data.store import GraphStore
from molgraphpt.data.text.readers import PairTable
from molgraphpt.data.text.sources import (
    PairSpec,
    _exclusion_specs,
    _normalize_spec,
    load_pairs,
    read_smiles,
)
from molgraphpt.data.text.templates import DEFAULT_TEMPLATES, _check_templates
from molgraphpt.errors import CacheError, ConfigError, InvalidSmilesError

__all__ = [
    "PAIRS_VERSION",
    "PairDataset",
    "load_pair_dataset",
    "load_pairs_from_config",
    "select_pairs",
]

# The package's name, not this module's: log records keep the logger they had before the split.
logger = logging.getLogger("molgraphpt.data.text")

#: Bump when the way a pair store is built changes (it is part of the cache key).
PAIRS_VERSION = 1
_CHUNK = 50_000


@dataclass
class PairDataset:
    """Featurized molecules and their texts: store row ``k`` <-> ``texts[k]``, ``smiles[k]``.

    Attributes:
        store: The kept molecules of every source, in source order (no labels).
        texts: Text of each store row ``[len(store)]``.
        smiles: SMILES of each store row ``[len(store)]``.
        info: ``num_rows``, ``num_blank``, ``num_invalid``, ``num_excluded``, ``num_pairs``,
            ``sources`` (per source: path, sha256, format, row range, counts) and ``exclusion``.
        source_ids: Which source (position in ``sources``) each store row came from ``[n]``.
    """

    store: GraphStore
    texts: list[str]
    smiles: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    source_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.texts)

    def holdout(self, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Split ``range(len(self))`` into ``(train, valid)`` positions, both sorted.

        Args:
            fraction: Share held out, in ``[0, 1)``; 0 gives an empty validation set. At least
                one pair stays in training.
            seed: Seed of the permutation.
        """
        everything = np.arange(len(self), dtype=np.int64)
        return holdout_split(everything, fraction, seed, tag="pairs-valid")


def _pair_chunks(
    tables: list[PairTable],
    paths: list[str],
    offsets: list[int],
    exclude_specs: list[dict[str, Any]],
    hasher: Callable[[list[str]], np.ndarray],
    state: BuildState,
) -> Iterator[Chunk]:
    """Rows of all tables with global row numbers, excluded molecules dropped (counted)."""
    parts = []
    for spec, entry in zip(exclude_specs, state.meta["exclusion"]["files"]):
        smiles = read_smiles(spec)
        hashes = hasher([s for s in smiles if s])
        entry.update(
            num_rows=len(smiles),
            num_blank=len(smiles) - len(hashes),
            num_unparsable=int((hashes == 0).sum()),
        )
        parts.append(hashes[hashes != 0])
    excluded = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    state.meta["exclusion"]["num_molecules"] = int(len(excluded))
    for table, path, offset, entry in zip(tables, paths, offsets, state.meta["sources"]):
        state.current = (path, offset)
        num_excluded = 0
        for start in range(0, len(table), _CHUNK):
            smiles = table.smiles[start : start + _CHUNK]
            rows = table.rows[start : start + _CHUNK] + offset
            if len(excluded):
                hit = _contains(excluded, hasher(smiles))
                num_excluded += int(hit.sum())
                kept = np.flatnonzero(~hit)
                smiles, rows = [smiles[i] for i in kept], rows[kept]
            if len(rows):
                yield Chunk(rows=rows, smiles=smiles)
        entry["num_excluded"] = num_excluded
    state.current = None


def load_pair_dataset(
    sources: Sequence[PairSpec],
    *,
    exclude: PairSpec | Sequence[PairSpec] = (),
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    on_invalid: Literal["raise", "skip"] = "skip",
    unsanitizable: Literal["partial", "invalid"] = "partial",
    name: str = "pairs",
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    seed: int = 0,
    max_phrases: int | None = None,
    progress: bool = False,
) -> PairDataset:
    """Read pair sources, drop excluded molecules and featurize the rest once (cached).

    Args:
        sources: Paths or :class:`~molgraphpt.data.config.PairSourceConfig` (format and
            columns; their ``max_pairs`` is applied by :func:`select_pairs`, not here). Dict
            specs ``{path, format, smiles_col, text_col}`` still work but are deprecated.
        exclude: Molecules that must not be in the dataset (e.g. the evaluation pairs): paths
            (files or folders), or ``PairSourceConfig`` whose ``smiles_col`` / ``format`` say how
            to read them. Compared by RDKit canonical SMILES; their unparsable SMILES are ignored.
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        workers: Processes for canonicalization and featurization (0 = all cores).
        on_invalid: ``"skip"`` (count) or ``"raise"`` on an invalid SMILES, and on a row of a
            CSV / TSV / JSONL source whose SMILES or text is empty (blank rows are always
            skipped).
        unsanitizable: Policy for molecules that fail only RDKit's valence checks.
        name: Prefix of the cache directory.
        templates: L+M-24 sentence templates (lpm24 sources only).
        seed: Seed of the L+M-24 phrase order and template choice.
        max_phrases: Phrases kept per L+M-24 molecule (None = all).
        progress: Show featurization progress bars.

    Raises:
        ConfigError: No source, a source also listed in ``exclude``, or an option out of range.
        DataFileNotFoundError: A file does not exist.
        DataFormatError: A source cannot be read, or (``on_invalid="raise"``) has a row with an
            empty SMILES or text; naming the file line.
        InvalidSmilesError: With ``on_invalid="raise"``, naming the source file and its line.
    """
    exclude = _check_sources(sources, exclude)
    check_build_options(on_invalid, unsanitizable, workers)
    templates = _check_templates(templates)
    specs, exclude_specs = _source_specs(sources, exclude)
    started = time.perf_counter()
    tables = [
        load_pairs(s, templates=templates, seed=seed, max_phrases=max_phrases, on_empty=on_invalid)
        for s in specs
    ]
    offsets, described = _describe_sources(specs, tables)
    excl = [{**e, "sha256": file_sha256(e["path"])} for e in exclude_specs]
    key = _pairs_key(described, excl, templates, seed, max_phrases, on_invalid, unsanitizable)
    state = _build_state(described, excl)
    hasher = _Hasher(workers, unsanitizable)
    paths = [s["path"] for s in specs]
    try:
        store = build_excluding(
            name.replace("/", "_"),
            key,
            _pair_chunks(tables, paths, offsets, exclude_specs, hasher, state),
            state,
            hasher,
            cache_dir=cache_dir,
            workers=workers,
            on_invalid=on_invalid,
            unsanitizable=unsanitizable,
            source=f"{len(specs)} pair file(s)",
            progress=progress,
            meta={"pairs": state.meta},
        )
    except InvalidSmilesError as err:
        raise _at_file_line(err, paths, tables) from None
    return _assemble(store, tables, offsets, described, excl, started)


def _describe_sources(
    specs: list[dict[str, Any]], tables: list[PairTable]
) -> tuple[list[int], list[dict[str, Any]]]:
    """Row offsets of the sources in the joined table, and each spec with its hash and rows.

    ``offsets[i]:offsets[i + 1]`` are the data rows of source ``i``; each described spec gains
    ``sha256``, ``row_start`` and ``row_stop``.
    """
    offsets = [int(x) for x in np.cumsum([0] + [int(t.num_rows or 0) for t in tables])]
    described = [
        {**s, "sha256": file_sha256(s["path"]), "row_start": lo, "row_stop": hi}
        for s, lo, hi in zip(specs, offsets, offsets[1:])
    ]
    return offsets, described


def _build_state(described: list[dict[str, Any]], excl: list[dict[str, Any]]) -> BuildState:
    """The build state of a pair dataset, starting from the hashes of its sources and exclusions."""
    return BuildState(
        {
            "sources": [{"sha256": s["sha256"]} for s in described],
            "exclusion": {"files": [{"sha256": e["sha256"]} for e in excl]},
        }
    )


def _at_file_line(
    err: InvalidSmilesError, paths: list[str], tables: list[PairTable]
) -> InvalidSmilesError:
    """``err`` naming the file line of its row (stores count data rows, users count lines)."""
    if err.line is None and err.row is not None and err.source in paths:
        return err.at(line=tables[paths.index(err.source)].line_of(err.row))
    return err


def _pairs_key(
    described: list[dict[str, Any]],
    excl: list[dict[str, Any]],
    templates: Sequence[str],
    seed: int,
    max_phrases: int | None,
    on_invalid: str,
    unsanitizable: str,
) -> dict[str, Any]:
    """The cache key of a pair store (its directory is named after its fingerprint).

    Source files count by content and order (sha256, format, columns), exclusion files as a set;
    the L+M-24 text options only when a source is an ``lpm24_props`` file.
    """
    uses_templates = any(s["format"] == "lpm24_props" for s in described)
    return {
        "kind": "pairs",
        "pairs_version": PAIRS_VERSION,
        "sources": [[s["sha256"], s["format"], s["smiles_col"], s["text_col"]] for s in described],
        "exclude": sorted({f"{e['sha256']}:{e['format']}:{e['smiles_col']}" for e in excl}),
        "templates": list(templates) if uses_templates else None,
        "seed": seed if uses_templates else None,
        "max_phrases": max_phrases if uses_templates else None,
        "on_invalid": on_invalid,
        "unsanitizable": unsanitizable,
    }


def _check_sources(
    sources: Sequence[PairSpec], exclude: PairSpec | Sequence[PairSpec]
) -> list[PairSpec]:
    """Check that ``sources`` is a non-empty list; ``exclude`` as a list.

    Raises:
        ConfigError: ``sources`` is empty or a single entry, or an entry is a dict spec (the
            form before the architecture step): the message names ``PairSourceConfig``.
    """
    if isinstance(sources, (str, os.PathLike, Mapping, PairSourceConfig)) or not sources:
        raise ConfigError(
            "sources", sources, expected="a non-empty list of pair files or source specs"
        )
    if isinstance(exclude, (str, os.PathLike, Mapping, PairSourceConfig)):
        exclude = [exclude]
    for entry in [*sources, *exclude]:
        if isinstance(entry, Mapping):
            raise ConfigError(
                "sources",
                dict(entry),
                expected="a path or a molgraphpt.data.config.PairSourceConfig",
                hint="dict source specs were replaced by PairSourceConfig(path=..., format=..., "
                "smiles_col=..., text_col=...); or call load_pairs_from_config(CorpusConfig)",
            )
    return list(exclude)


def _source_specs(
    sources: Sequence[PairSpec], exclude: Sequence[PairSpec]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Normalized specs of the sources and of the exclusion files (folders expanded).

    Raises:
        ConfigError: A file is both a source and an exclusion file.
        FileNotFoundError: A file does not exist.
    """
    specs = [_normalize_spec(s) for s in sources]
    exclude_specs = _exclusion_specs(exclude)
    overlap = {str(Path(s["path"]).resolve()) for s in specs} & {
        str(Path(e["path"]).resolve()) for e in exclude_specs
    }
    if overlap:
        raise ConfigError("exclude", sorted(overlap), expected="files that are not also sources")
    return specs, exclude_specs


def load_pairs_from_config(cfg: CorpusConfig, *, progress: bool = False) -> PairDataset:
    """Load the molecule–text pairs ``cfg.pairs`` describes, minus ``cfg.exclude``.

    Relative source and exclusion paths are resolved against ``cfg.root()``. Every pair of
    every source is featurized (cached); :func:`select_pairs` then picks the pairs a run uses
    (``max_pairs``, ``fraction``, ``max_molecules``).

    Args:
        cfg: The data section of a molecule–text pretraining config.
        progress: Show featurization progress bars.

    Raises:
        ConfigError, FileNotFoundError, InvalidSmilesError: As :func:`load_pair_dataset`.
    """
    return load_pair_dataset(
        [replace(src, path=str(cfg.resolve(src.path))) for src in cfg.pairs],
        exclude=[cfg.resolve(p) for p in cfg.exclude],
        cache_dir=cfg.cache_dir,
        workers=cfg.workers,
        on_invalid=cfg.on_invalid,
        unsanitizable=cfg.unsanitizable,
        progress=progress,
    )


def select_pairs(pairs: PairDataset, cfg: CorpusConfig) -> np.ndarray:
    """Sorted positions ``[k]`` (int64) of the pairs a run uses.

    Each source (``pairs.source_ids == i`` for ``cfg.pairs[i]``) is first capped at its
    ``max_pairs`` (a subset seeded by ``subset_seed + i``), then ``fraction`` /
    ``max_molecules`` apply to the rest (seeded by ``subset_seed``); see
    :func:`~molgraphpt.data.corpus.select_subset`.

    Args:
        pairs: The dataset :func:`load_pairs_from_config` loaded for ``cfg``.
        cfg: Its data section.
    """
    everything = np.arange(len(pairs), dtype=np.int64)
    parts = []
    for i, src in enumerate(cfg.pairs):
        rows = everything[pairs.source_ids == i]
        if src.max_pairs is not None and src.max_pairs < len(rows):
            rows = rows[
                select_subset(len(rows), max_molecules=src.max_pairs, seed=cfg.subset_seed + i)
            ]
        parts.append(rows)
    keep = np.sort(np.concatenate(parts))
    chosen = select_subset(
        len(keep),
        fraction=cfg.fraction,
        max_molecules=cfg.max_molecules,
        seed=cfg.subset_seed,
    )
    return keep[chosen]


def _assemble(
    store: GraphStore,
    tables: list[PairTable],
    offsets: list[int],
    described: list[dict[str, Any]],
    excl: list[dict[str, Any]],
    started: float,
) -> PairDataset:
    """Align texts with the store rows and gather the counts."""
    all_rows = np.concatenate([t.rows + o for t, o in zip(tables, offsets)] or [np.zeros(0)])
    all_rows = all_rows.astype(np.int64)
    texts_all = [x for t in tables for x in t.texts]
    smiles_all = [x for t in tables for x in t.smiles]
    rows = np.asarray(store.rows, dtype=np.int64)
    pos = np.searchsorted(all_rows, rows)
    if len(rows) and (pos.max() >= len(all_rows) or not np.array_equal(all_rows[pos], rows)):
        raise CacheError(
            f"the pair store {store.directory} holds rows that are not in its sources; delete it "
            f"to rebuild"
        )
    built = store.meta.get("pairs", {})
    recorded = built.get("sources", [{}] * len(described))
    out_sources = []
    for i, (entry, table) in enumerate(zip(described, tables)):
        lo, hi = np.searchsorted(rows, [entry["row_start"], entry["row_stop"]])
        num_excluded = int(recorded[i].get("num_excluded", 0))
        num_pairs = int(hi - lo)
        out_sources.append(
            {
                **entry,
                "num_rows": int(table.num_rows or 0),
                "num_blank": int(table.num_rows or 0) - len(table),
                "num_excluded": num_excluded,
                "num_invalid": len(table) - num_excluded - num_pairs,
                "num_pairs": num_pairs,
            }
        )
    exclusion = dict(built.get("exclusion", {}))
    exclusion["files"] = [
        {**r, **c} for c, r in zip(excl, exclusion.get("files", [{}] * len(excl)))
    ]
    info = {
        "num_rows": sum(s["num_rows"] for s in out_sources),
        "num_blank": sum(s["num_blank"] for s in out_sources),
        "num_invalid": sum(s["num_invalid"] for s in out_sources),
        "num_partial": int(store.meta.get("num_partial", 0)),
        "num_excluded": sum(s["num_excluded"] for s in out_sources),
        "num_pairs": len(store),
        "store": str(store.directory),
        "sources": out_sources,
        "exclusion": exclusion,
        "seconds": round(time.perf_counter() - started, 3),
    }
    logger.info(
        "pairs: %d from %d rows of %d file(s) (%d excluded, %d invalid, %d blank)",
        len(store),
        info["num_rows"],
        len(out_sources),
        info["num_excluded"],
        info["num_invalid"],
        info["num_blank"],
    )
    bounds = np.asarray([s["row_stop"] for s in described], dtype=np.int64)
    return PairDataset(
        store=store,
        texts=[texts_all[i] for i in pos],
        smiles=[smiles_all[i] for i in pos],
        info=info,
        source_ids=np.searchsorted(bounds, rows, side="right").astype(np.int64),
    )
