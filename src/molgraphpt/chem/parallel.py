"""Featurize many SMILES at once, in order, optionally in worker processes.

:func:`featurize_smiles` returns one :class:`FeaturizedChunk`: the compact arrays of
:func:`~molgraphpt.chem.graph.mol_to_arrays` for every valid molecule, concatenated, plus which
input rows were kept, partially sanitized or invalid. This is what the on-disk feature cache
stores; :meth:`FeaturizedChunk.graph` expands one molecule back into a
:class:`~molgraphpt.chem.graph.MolGraph`.

Worker processes are started with the ``spawn`` method (safe with torch and CUDA in the parent),
so a script that calls this with ``workers != 1`` needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from molgraphpt._logging import get_logger, rdkit_log_capture
from molgraphpt.chem.graph import MolGraph, _columns, arrays_to_graph, may_have_stereo_bonds
from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH, check_limits
from molgraphpt.chem.smiles import Unsanitizable, _parse, check_policy
from molgraphpt.errors import ConfigError, InvalidSmilesError

__all__ = ["FeaturizedChunk", "featurize_smiles"]

logger = get_logger(__name__)

#: How many skipped SMILES a chunk keeps as examples (row, SMILES, reason).
MAX_INVALID_EXAMPLES = 10
_INT = np.int64


@dataclass(frozen=True)
class FeaturizedChunk:
    """Features of many molecules, concatenated in input order.

    Attributes:
        atom_feats: uint8 ``[total_atoms, 9]`` OGB atom features of all kept molecules.
        bond_atoms: int64 ``[total_bonds, 2]`` bond endpoints, local to each molecule.
        bond_feats: uint8 ``[total_bonds, 3]`` OGB bond features.
        num_atoms: int64 ``[num_kept]`` atoms per kept molecule.
        num_bonds: int64 ``[num_kept]`` bonds per kept molecule.
        rows: int64 ``[num_kept]`` input position of each kept molecule.
        partial_rows: int64 input positions that needed partial sanitization (kept).
        invalid_rows: int64 input positions that were skipped as invalid.
        invalid_examples: ``(row, smiles, reason)`` of the first skipped ones (at most 10).
    """

    atom_feats: np.ndarray
    bond_atoms: np.ndarray
    bond_feats: np.ndarray
    num_atoms: np.ndarray
    num_bonds: np.ndarray
    rows: np.ndarray
    partial_rows: np.ndarray
    invalid_rows: np.ndarray
    invalid_examples: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def num_molecules(self) -> int:
        """Number of kept molecules."""
        return len(self.rows)

    @classmethod
    def empty(cls) -> FeaturizedChunk:
        """A chunk with no molecules."""
        none = np.zeros(0, dtype=_INT)
        return cls(
            atom_feats=np.zeros((0, 9), dtype=np.uint8),
            bond_atoms=np.zeros((0, 2), dtype=_INT),
            bond_feats=np.zeros((0, 3), dtype=np.uint8),
            num_atoms=none,
            num_bonds=none.copy(),
            rows=none.copy(),
            partial_rows=none.copy(),
            invalid_rows=none.copy(),
        )

    @classmethod
    def concat(cls, chunks: Iterable[FeaturizedChunk]) -> FeaturizedChunk:
        """Concatenate chunks in the order given (their ``rows`` are kept as they are).

        Args:
            chunks: Chunks of consecutive parts of one input, e.g. from streaming a big file.

        Returns:
            One chunk; ``invalid_examples`` keeps the first 10 over all chunks.
        """
        chunks = list(chunks)
        if not chunks:
            return cls.empty()
        if len(chunks) == 1:
            return chunks[0]
        names = ("atom_feats", "bond_atoms", "bond_feats", "num_atoms", "num_bonds", "rows")
        names += ("partial_rows", "invalid_rows")
        arrays = {n: np.concatenate([getattr(c, n) for c in chunks]) for n in names}
        examples = [e for c in chunks for e in c.invalid_examples][:MAX_INVALID_EXAMPLES]
        return cls(**arrays, invalid_examples=examples)

    def graph(self, index: int) -> MolGraph:
        """Expand the ``index``-th kept molecule (not the input row) into a :class:`MolGraph`.

        Costs a pass over ``num_atoms``/``num_bonds``; for bulk access keep the offsets yourself.
        """
        if not -self.num_molecules <= index < self.num_molecules:
            raise IndexError(f"molecule {index} out of range ({self.num_molecules} molecules)")
        index %= self.num_molecules
        a0, b0 = int(self.num_atoms[:index].sum()), int(self.num_bonds[:index].sum())
        a1, b1 = a0 + int(self.num_atoms[index]), b0 + int(self.num_bonds[index])
        return arrays_to_graph(
            self.atom_feats[a0:a1], self.bond_atoms[b0:b1], self.bond_feats[b0:b1]
        )


def featurize_smiles(
    smiles: Sequence[str],
    *,
    workers: int | None = 1,
    on_invalid: Literal["raise", "skip"] = "raise",
    unsanitizable: Unsanitizable = "partial",
    source: str | None = None,
    progress: bool = False,
    chunk_size: int = 1024,
    row_offset: int = 0,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> FeaturizedChunk:
    """Featurize SMILES with :func:`~molgraphpt.chem.graph.mol_to_arrays`, keeping input order.

    Args:
        smiles: The SMILES strings.
        workers: Processes to use; 1 featurizes in this process, 0 or None uses every core.
        on_invalid: ``"raise"`` raises on the first invalid SMILES; ``"skip"`` drops invalid
            ones, counts them in ``invalid_rows`` and logs a warning.
        unsanitizable: Policy for molecules that fail RDKit's valence checks; see
            :mod:`molgraphpt.chem.smiles`.
        source: Where the SMILES come from (a file name), named in errors and warnings.
        progress: Show a tqdm progress bar.
        chunk_size: SMILES per task sent to a worker.
        row_offset: Added to every reported row: the position of ``smiles[0]`` in the whole
            input when it is featurized part by part (then join the parts with
            :meth:`FeaturizedChunk.concat`).
        max_smiles_length: Longest accepted SMILES in characters; a longer one is invalid
            before RDKit sees it (see :mod:`molgraphpt.chem.guards`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The concatenated features; ``rows`` are 0-based positions in ``smiles`` (plus
        ``row_offset``).

    Raises:
        InvalidSmilesError: With ``on_invalid="raise"``, for the first invalid SMILES (anything
            :func:`~molgraphpt.chem.smiles.parse_smiles` rejects, non-strings included); it names
            its row and ``source``. With ``"skip"`` nothing about a SMILES raises.
        ConfigError: For an unknown ``on_invalid`` or ``unsanitizable``, or a bad ``workers``,
            ``chunk_size`` or limit.
        TypeError: If ``smiles`` is a single string.
    """
    if isinstance(smiles, str):
        raise TypeError(f"expected a sequence of SMILES, got one string: {smiles[:80]!r}")
    _check_arguments(
        workers, on_invalid, unsanitizable, chunk_size, max_smiles_length, max_heavy_atoms
    )
    smiles = list(smiles)
    n_workers = workers or os.cpu_count() or 1
    starts = range(0, len(smiles), chunk_size)
    tasks = ((row_offset + i, smiles[i : i + chunk_size]) for i in starts)
    stop = on_invalid == "raise"
    limits = (max_smiles_length, max_heavy_atoms)
    task = partial(
        _featurize_task, unsanitizable=unsanitizable, stop_at_invalid=stop, limits=limits
    )
    parts = []
    with tqdm(total=len(smiles), disable=not progress, unit="mol", desc=source) as bar:
        for part in _run(task, tasks, min(n_workers, len(starts))):
            if on_invalid == "raise" and len(part.invalid_rows):
                row, smi, reason = part.invalid_examples[0]
                raise InvalidSmilesError(smi, reason).at(row=row, source=source)
            parts.append(part)
            bar.update(part.num_molecules + len(part.invalid_rows))
    out = FeaturizedChunk.concat(parts)
    _log_outcome(out, len(smiles), source)
    return out


def _check_arguments(
    workers: int | None,
    on_invalid: str,
    unsanitizable: Unsanitizable,
    chunk_size: int,
    max_smiles_length: int,
    max_heavy_atoms: int,
) -> None:
    """Refuse the bad options of :func:`featurize_smiles` with a :class:`ConfigError`."""
    check_policy(unsanitizable)
    check_limits(max_smiles_length, max_heavy_atoms)
    if on_invalid not in ("raise", "skip"):
        raise ConfigError("on_invalid", on_invalid, expected="'raise' or 'skip'")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError("chunk_size", chunk_size, expected="a positive integer")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise ConfigError("workers", workers, expected="a non-negative integer, or None")


def _log_outcome(out: FeaturizedChunk, num_smiles: int, source: str | None) -> None:
    """Warn about the skipped SMILES of ``out`` and note the partially sanitized ones."""
    if len(out.invalid_rows):
        row, smi, reason = out.invalid_examples[0]
        logger.warning(
            "skipped %d invalid SMILES of %d%s; the first, at row %d: %r (%s)",
            len(out.invalid_rows),
            num_smiles,
            f" in {source}" if source else "",
            row,
            smi,
            reason,
        )
    if len(out.partial_rows):
        logger.info(
            "%d SMILES%s fail RDKit's valence checks and were partially sanitized",
            len(out.partial_rows),
            f" in {source}" if source else "",
        )


def _run(
    task: Callable[[tuple[int, list[str]]], FeaturizedChunk],
    tasks: Iterable[tuple[int, list[str]]],
    processes: int,
) -> Iterator[FeaturizedChunk]:
    """Yield ``task(t)`` for each of ``tasks`` in order, in a spawn pool if ``processes > 1``."""
    if processes <= 1:
        yield from map(task, tasks)
        return
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        yield from pool.imap(task, tasks)


def _featurize_task(
    task: tuple[int, list[str]],
    *,
    unsanitizable: str,
    stop_at_invalid: bool,
    limits: tuple[int, int] = (MAX_SMILES_LENGTH, MAX_HEAVY_ATOMS),
) -> FeaturizedChunk:
    """Featurize ``task = (first row, SMILES)``; runs in a worker process (picklable).

    ``limits`` is ``(max_smiles_length, max_heavy_atoms)``. An invalid SMILES is recorded with
    the form its error shows (an over-long one shortened, a non-string as its ``repr``).
    """
    start, smiles = task
    cols = [bytearray() for _ in range(12)]
    begin: list[int] = []
    end: list[int] = []
    num_atoms: list[int] = []
    num_bonds: list[int] = []
    rows: list[int] = []
    partial_rows: list[int] = []
    invalid_rows: list[int] = []
    examples: list[tuple[int, str, str]] = []
    with rdkit_log_capture():
        for row, smi in enumerate(smiles, start):
            try:
                mol, partial_ = _parse(smi, unsanitizable, *limits)
            except InvalidSmilesError as err:
                invalid_rows.append(row)
                if len(examples) < MAX_INVALID_EXAMPLES:
                    examples.append((row, str(err.smiles), err.reason))
                if stop_at_invalid:
                    break
                continue
            mol_cols, mol_begin, mol_end = _columns(mol, may_have_stereo_bonds(smi))
            for acc, col in zip(cols, mol_cols):
                acc += col
            begin += mol_begin
            end += mol_end
            num_atoms.append(len(mol_cols[0]))
            num_bonds.append(len(mol_begin))
            rows.append(row)
            if partial_:
                partial_rows.append(row)
    total_atoms, total_bonds = len(cols[0]), len(begin)
    atoms = np.frombuffer(b"".join(cols[:9]), dtype=np.uint8).reshape(9, total_atoms)
    bonds = np.frombuffer(b"".join(cols[9:]), dtype=np.uint8).reshape(3, total_bonds)
    return FeaturizedChunk(
        atom_feats=atoms.T.copy(),
        bond_atoms=np.array([begin, end], dtype=_INT).reshape(2, total_bonds).T.copy(),
        bond_feats=bonds.T.copy(),
        num_atoms=np.array(num_atoms, dtype=_INT),
        num_bonds=np.array(num_bonds, dtype=_INT),
        rows=np.array(rows, dtype=_INT),
        partial_rows=np.array(partial_rows, dtype=_INT),
        invalid_rows=np.array(invalid_rows, dtype=_INT),
        invalid_examples=examples,
    )
