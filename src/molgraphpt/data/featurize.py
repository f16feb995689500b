"""Featurize a SMILES file into a store directory (``molgraphpt featurize``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from molgraphpt.data.cache import BuildReport, build_store, file_sha256
from molgraphpt.data.store import GraphStore
from molgraphpt.data.tables import check_not_empty, guess_smiles_column, iter_chunks, read_header


def featurize_file(
    path: str | Path,
    out_dir: str | Path,
    *,
    smiles_col: str | None = None,
    targets: Sequence[str] = (),
    workers: int = 1,
    on_invalid: Literal["raise", "skip"] = "raise",
    unsanitizable: Literal["partial", "invalid"] = "partial",
    progress: bool = False,
    chunk_size: int = 50_000,
) -> tuple[GraphStore, BuildReport]:
    """Featurize every SMILES of ``path`` into a :class:`GraphStore` at ``out_dir``.

    Args:
        path: CSV/TSV/SMILES file (optionally gzipped).
        out_dir: Store directory to create (replaced atomically if it exists).
        smiles_col: SMILES column (guessed when None).
        targets: Label columns to store alongside.
        workers: Featurization processes (0 = all cores).
        on_invalid: ``raise`` or ``skip`` invalid SMILES.
        unsanitizable: Policy for molecules that fail only RDKit's valence check.
        progress: Show a progress bar.
        chunk_size: Rows read and featurized at a time (bounds memory).

    Raises:
        DataFormatError: No row of ``path`` holds a valid SMILES (the empty store is left at
            ``out_dir`` for inspection; its ``meta.json`` lists the first invalid rows).
    """
    path = Path(path)
    if smiles_col is None:
        smiles_col = guess_smiles_column(read_header(path), path)
    chunks = iter_chunks(path, smiles_col=smiles_col, target_cols=targets, chunk_size=chunk_size)
    meta = {"source_sha256": file_sha256(path), "smiles_col": smiles_col, "targets": list(targets)}
    store, report = build_store(
        chunks,
        out_dir,
        num_tasks=len(targets),
        workers=workers,
        on_invalid=on_invalid,
        unsanitizable=unsanitizable,
        source=str(path),
        progress=progress,
        meta=meta,
    )
    check_not_empty(store, path)
    return store, report
