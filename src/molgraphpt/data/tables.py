"""Reading SMILES (and targets) from CSV, TSV and plain SMILES files, plain or gzipped, in chunks.

Formats, by file name (a trailing ``.gz`` is allowed):

* ``.csv`` — comma-separated with a header; ``.tsv`` / ``.txt`` with a header line that contains a
  tab — tab-separated with a header.
* ``.smi`` / ``.txt`` without tabs in the first line — one SMILES per line, no header (anything
  after the first whitespace is ignored, as in SMILES files with names).

Empty target cells are missing labels (NaN).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from molgraphpt.data.cache import Chunk
from molgraphpt.errors import DataFormatError, UnknownNameError

_SMILES_COLUMN_GUESSES = ("smiles", "SMILES", "Smiles", "mol", "canonical_smiles")


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a text file, transparently gunzipping ``*.gz``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist; check the path or --data-root")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115


def _base_suffix(path: Path) -> str:
    return Path(path.stem).suffix.lower() if path.suffix == ".gz" else path.suffix.lower()


def sniff_format(path: str | Path) -> str:
    """Return ``"csv"``, ``"tsv"`` or ``"smi"`` for ``path``."""
    path = Path(path)
    suffix = _base_suffix(path)
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".txt", ".smi", ".smiles"):
        with open_text(path) as handle:
            first = handle.readline()
        return "tsv" if "\t" in first else "smi"
    raise DataFormatError(
        f"cannot tell the format of {path} from its extension {suffix!r}; use .csv, .tsv, .txt "
        f"or .smi (optionally .gz)"
    )


def read_header(path: str | Path) -> list[str]:
    """Column names of a CSV/TSV file (``["smiles"]`` for a plain SMILES file)."""
    fmt = sniff_format(path)
    if fmt == "smi":
        return ["smiles"]
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t")
        return next(reader, [])


def guess_smiles_column(columns: Sequence[str], path: str | Path) -> str:
    """The SMILES column among ``columns`` by common names, or a clear error."""
    for name in _SMILES_COLUMN_GUESSES:
        if name in columns:
            return name
    raise UnknownNameError(
        f"SMILES column in {path}",
        "<not given>",
        choices=columns,
        hint="pass the SMILES column explicitly (CLI: --smiles-col NAME)",
    )


def _parse_label(cell: str, *, row: int, column: str, path: Path) -> float:
    cell = cell.strip()
    if cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise DataFormatError(
            f"target {column!r} at row {row} of {path} is {cell!r}, not a number; use an empty "
            f"cell for a missing label"
        ) from None


def iter_chunks(
    path: str | Path,
    *,
    smiles_col: str | None = None,
    target_cols: Sequence[str] = (),
    chunk_size: int = 50_000,
) -> Iterator[Chunk]:
    """Yield the rows of ``path`` in chunks (row numbers are 0-based data rows, header excluded).

    Args:
        path: CSV/TSV/SMILES file, optionally gzipped.
        smiles_col: SMILES column (guessed from common names when None).
        target_cols: Target columns (none for unlabelled corpora).
        chunk_size: Rows per chunk.

    Raises:
        UnknownNameError: A named column is not in the header (the message lists the columns).
        DataFormatError: A target cell is not a number.
    """
    path = Path(path)
    fmt = sniff_format(path)
    with open_text(path) as handle:
        if fmt == "smi":
            if target_cols:
                raise DataFormatError(f"{path} is a plain SMILES file; it has no target columns")
            lines = (line.split(None, 1)[0] if line.strip() else "" for line in handle)
            yield from _chunked(((row, smi, ()) for row, smi in enumerate(lines)), chunk_size, 0)
            return
        reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t")
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path} is empty; expected a header line")
        smiles_col = smiles_col or guess_smiles_column(header, path)
        for col in (smiles_col, *target_cols):
            if col not in header:
                raise UnknownNameError(f"column in {path}", col, choices=header)
        s_idx = header.index(smiles_col)
        t_idx = [header.index(c) for c in target_cols]

        def records() -> Iterator[tuple[int, str, tuple[float, ...]]]:
            for row, cells in enumerate(reader):
                if len(cells) != len(header):
                    raise DataFormatError(
                        f"row {row} of {path} has {len(cells)} fields, the header has "
                        f"{len(header)}; check quoting and the delimiter"
                    )
                labels = tuple(
                    _parse_label(cells[i], row=row, column=header[i], path=path) for i in t_idx
                )
                yield row, cells[s_idx], labels

        yield from _chunked(records(), chunk_size, len(target_cols))


def _chunked(
    records: Iterator[tuple[int, str, tuple[float, ...]]], chunk_size: int, num_tasks: int
) -> Iterator[Chunk]:
    rows: list[int] = []
    smiles: list[str] = []
    labels: list[tuple[float, ...]] = []
    for row, smi, lab in records:
        rows.append(row)
        smiles.append(smi)
        labels.append(lab)
        if len(rows) == chunk_size:
            yield _make_chunk(rows, smiles, labels, num_tasks)
            rows, smiles, labels = [], [], []
    if rows:
        yield _make_chunk(rows, smiles, labels, num_tasks)


def _make_chunk(
    rows: list[int], smiles: list[str], labels: list[tuple[float, ...]], num_tasks: int
) -> Chunk:
    lab = np.asarray(labels, dtype=np.float32).reshape(len(rows), num_tasks) if num_tasks else None
    return Chunk(rows=np.asarray(rows, dtype=np.int64), smiles=smiles, labels=lab)
