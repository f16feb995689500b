"""Reading SMILES (and targets) from CSV, TSV and plain SMILES files, plain or gzipped, in chunks.

Formats, by file name (a trailing ``.gz`` is allowed):

* ``.csv`` — comma-separated with a header; ``.tsv`` / ``.txt`` with a header line that contains a
  tab — tab-separated with a header.
* ``.smi`` / ``.txt`` without tabs in the first line — one SMILES per line, no header (anything
  after the first whitespace is ignored, as in SMILES files with names).

Text is UTF-8 (a byte-order mark at the start is accepted and dropped); CRLF line endings
work. A file that is not UTF-8 is a :class:`~molgraphpt.errors.DataFormatError` naming the line,
the byte offset and the bytes, and how to convert it. Empty target cells (or ``nan``) are
missing labels (NaN). Blank lines of CSV/TSV files are not data rows.

**Rows and lines.** ``row`` numbers are 0-based indices among the data rows (what stores record in
``store.rows`` and what OGB split files index). Messages name the ``line`` instead: the 1-based
line of the file as an editor counts it, the header being line 1 (so data row 0 of a file with a
header is line 2, of a SMILES file without header line 1). The reader computes the line of every
row once and hands it down in :attr:`TableChunk.lines`; :func:`data_lines` recomputes it for an
existing store (error and log paths only).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt._io import write_json_atomic
from molgraphpt.chem.smiles import canonical_smiles
from molgraphpt.data.cache import Chunk
from molgraphpt.data.store import GraphStore
from molgraphpt.errors import DataFormatError, InvalidSmilesError, UnknownNameError

logger = logging.getLogger(__name__)

_SMILES_COLUMN_GUESSES = ("smiles", "SMILES", "Smiles", "mol", "canonical_smiles")
_GZIP_MAGIC = b"\x1f\x8b"
#: File name endings that make a dataset name a path (``finetune --csv my.csv``).
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".smi", ".smiles", ".gz", ".jsonl", ".ndjson")


class DataFileNotFoundError(DataFormatError, FileNotFoundError):
    """A data file named by the user does not exist (also a ``FileNotFoundError``)."""


def missing_file(
    path: str | Path, *, what: str = "data file", data_root: Path | None = None, hint: str = ""
) -> DataFileNotFoundError:
    """The error for a data file that does not exist, saying where a relative path was looked for.

    Args:
        path: The path as the user gave it.
        what: What the file is (``"data file"``, ``"pairs file"``...).
        data_root: The data root a relative path was also looked for under, if any.
        hint: How to fix it (a generic hint when empty).
    """
    path = Path(path)
    msg = f"{what} {str(path)!r} does not exist"
    if not path.is_absolute():
        msg += f" (a relative path: looked for it in the current directory {Path.cwd()}"
        if data_root is not None:
            msg += f" and under the data root {data_root.expanduser().absolute()}"
        msg += ")"
    return DataFileNotFoundError(
        f"{msg}. {hint or 'Check the spelling, or give the absolute path of the file.'}"
    )


def check_file(path: str | Path, *, what: str = "data file", hint: str = "") -> Path:
    """``path`` as a :class:`~pathlib.Path` after checking that it is an existing file.

    Raises:
        DataFileNotFoundError: It does not exist (``hint`` says how to fix it).
        DataFormatError: It is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise DataFormatError(f"{what} {str(path)!r} is a folder; expected a file")
    if not path.exists():
        raise missing_file(path, what=what, hint=hint)
    return path


class TextFile:
    """A data file opened as UTF-8 text (``*.gz`` gunzipped), for reading lines.

    A byte-order mark at the start is dropped and line endings are left as they are
    (``newline=""``, what :mod:`csv` needs). Bytes that are not UTF-8 raise a
    :class:`~molgraphpt.errors.DataFormatError` naming the file, the line, the byte offset and
    the bad bytes (see :func:`decode_error`) instead of a bare ``UnicodeDecodeError``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = check_file(path)
        self._gz = self.path.suffix == ".gz"
        raw = gzip.open(self.path, "rb") if self._gz else open(self.path, "rb")  # noqa: SIM115
        self._text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def __enter__(self) -> TextFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._text.close()

    def __iter__(self) -> TextFile:
        return self

    def __next__(self) -> str:
        try:
            return next(self._text)
        except UnicodeDecodeError:
            raise decode_error(self.path) from None
        except (EOFError, OSError, zlib.error) as err:
            raise _gzip_error(self.path, err) if self._gz else err from None

    def readline(self) -> str:
        """The next line (``""`` at the end)."""
        try:
            return self._text.readline()
        except UnicodeDecodeError:
            raise decode_error(self.path) from None
        except (EOFError, OSError, zlib.error) as err:
            raise _gzip_error(self.path, err) if self._gz else err from None

    def read(self) -> str:
        """The rest of the file."""
        return "".join(self)


def open_text(path: str | Path) -> TextFile:
    """Open a data file as UTF-8 text, transparently gunzipping ``*.gz`` (see :class:`TextFile`).

    Raises:
        DataFileNotFoundError: No such file (the message says where a relative path was looked
            for).
    """
    return TextFile(path)


def _raw_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        yield from handle


def decode_error(path: str | Path) -> DataFormatError:
    """The error for a file that is not valid UTF-8: the first bad line, byte offset and bytes.

    Scans the raw bytes line by line (a UTF-8 sequence never spans a newline), so the line is the
    one an editor shows; the byte offset counts from the start of the (decompressed) file.
    """
    path = Path(path)
    gz = path.suffix == ".gz"
    offset = 0
    for number, raw in enumerate(_raw_lines(path), start=1):
        body = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as err:
            start = offset + len(raw) - len(body) + err.start
            return _decode_message(path, number, start, body[err.start : err.end], gz, body)
        offset += len(raw)
    return DataFormatError(f"{path} is not valid UTF-8 text; re-save it as UTF-8")


def _decode_message(
    path: Path, line: int, offset: int, bad: bytes, gz: bool, body: bytes
) -> DataFormatError:
    if line == 1 and body.startswith(_GZIP_MAGIC):
        return DataFormatError(
            f"{path} is gzip-compressed but its name does not end in .gz: rename it to "
            f"{path.name}.gz (or gunzip it)"
        )
    shown = body.decode("utf-8", errors="replace").rstrip("\r\n")[:80]
    where = "decompressed " if gz else ""
    convert = (
        f"gunzip -c {path.name} | iconv -f latin1 -t utf-8 | gzip > utf8_{path.name}"
        if gz
        else f"iconv -f latin1 -t utf-8 {path.name} > utf8_{path.name}"
    )
    return DataFormatError(
        f"{path} is not UTF-8 text: line {line} has the byte(s) {bad!r} at byte offset "
        f"{offset} of the {where}file ({shown!r}). Re-save the file as UTF-8 (e.g. `{convert}` "
        f"for a Latin-1 file; in Excel: 'CSV UTF-8')"
    )


def _gzip_error(path: Path, err: Exception) -> DataFormatError:
    return DataFormatError(
        f"{path} cannot be decompressed ({type(err).__name__}: {err}): the .gz file is "
        f"truncated or not gzip. Download or copy it again (`gzip -t {path.name}` checks it)"
    )


def _base_suffix(path: Path) -> str:
    return Path(path.stem).suffix.lower() if path.suffix == ".gz" else path.suffix.lower()


def sniff_format(path: str | Path) -> str:
    """Return ``"csv"``, ``"tsv"`` or ``"smi"`` for ``path``.

    Raises:
        DataFileNotFoundError: No such file.
        DataFormatError: The extension is not one of the supported ones.
    """
    path = check_file(path)
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


def _reader(handle: TextFile, fmt: str) -> Any:
    return csv.reader(handle, delimiter="," if fmt == "csv" else "\t")


def _next_record(reader: Any, path: Path) -> tuple[int, list[str]] | None:
    """``(first line, cells)`` of the next non-blank record of ``reader``, None at the end."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return None
        except csv.Error as err:
            raise DataFormatError(
                f"line {reader.line_num} of {path} cannot be parsed as CSV ({err}); check the "
                f"quoting (an unclosed quote?) and that the file is text"
            ) from None
        if len(cells) > 1 or (cells and cells[0].strip()):
            return line, cells


def read_header(path: str | Path) -> list[str]:
    """Column names of a CSV/TSV file (``["smiles"]`` for a plain SMILES file)."""
    path = Path(path)
    fmt = sniff_format(path)
    if fmt == "smi":
        return ["smiles"]
    with open_text(path) as handle:
        reader = _reader(handle, fmt)
        first = _next_record(reader, path)
        return first[1] if first else []


def guess_smiles_column(columns: Sequence[str], path: str | Path) -> str:
    """The SMILES column among ``columns`` by common names, or a clear error."""
    for name in _SMILES_COLUMN_GUESSES:
        if name in columns:
            return name
    raise UnknownNameError(
        f"SMILES column in {path}",
        "<not given>",
        choices=columns,
        hint="pass the SMILES column explicitly (CLI: --smiles-col NAME; config: data.smiles_col)",
    )


def _parse_label(cell: str, *, line: int, column: str, path: Path) -> float:
    cell = cell.strip()
    if cell == "":
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        value = None
    if value is None or math.isinf(value):
        raise DataFormatError(
            f"target {column!r} on line {line} of {path} is {cell!r}, not a finite number; use "
            f"an empty cell for a missing label"
        )
    return value


@dataclass
class TableChunk(Chunk):
    """A :class:`~molgraphpt.data.cache.Chunk` that also knows its file lines.

    Attributes:
        lines: ``[k]`` int64, the 1-based line of the file each row starts on (header = line 1).
    """

    lines: np.ndarray | None = None


@dataclass(frozen=True)
class _Layout:
    """Where the SMILES and targets of a table are (checked before any row is read)."""

    path: Path
    fmt: str
    width: int
    smiles_index: int
    target_index: tuple[int, ...]
    target_names: tuple[str, ...]


def _layout(path: Path, smiles_col: str | None, target_cols: Sequence[str]) -> _Layout:
    """Check the file, its header and that it has a data row; where the columns are.

    Raises:
        DataFileNotFoundError: No such file.
        UnknownNameError: A named column is not in the header.
        DataFormatError: The file is empty, has only a header, or a SMILES file is given targets.
    """
    fmt = sniff_format(path)
    if fmt == "smi":
        if target_cols:
            raise DataFormatError(f"{path} is a plain SMILES file; it has no target columns")
        with open_text(path) as handle:
            if not any(line.strip() for line in handle):
                raise DataFormatError(f"no data rows in {path}: the file is empty")
        return _Layout(path, fmt, 1, 0, (), ())
    with open_text(path) as handle:
        reader = _reader(handle, fmt)
        first = _next_record(reader, path)
        if first is None:
            raise DataFormatError(f"{path} is empty; expected a header line and data rows")
        header = first[1]
        smiles_col = smiles_col or guess_smiles_column(header, path)
        flags = ("--smiles-col / data.smiles_col", "--targets / data.targets")
        for k, col in enumerate((smiles_col, *target_cols)):
            if col not in header:
                raise UnknownNameError(
                    f"column in {path}", col, choices=header, hint=f"check {flags[min(k, 1)]}"
                )
        if _next_record(reader, path) is None:
            raise DataFormatError(
                f"no data rows in {path}: it has only the header (line {first[0]}); add rows "
                f"below the header"
            )
    index = tuple(header.index(c) for c in target_cols)
    return _Layout(path, fmt, len(header), header.index(smiles_col), index, tuple(target_cols))


def _records(layout: _Layout) -> Iterator[tuple[int, str, tuple[float, ...]]]:
    """``(line, smiles, labels)`` of every data row of ``layout.path``, in order."""
    path = layout.path
    with open_text(path) as handle:
        if layout.fmt == "smi":
            for line, text in enumerate(handle, start=1):
                yield line, (text.split(None, 1)[0] if text.strip() else ""), ()
            return
        reader = _reader(handle, layout.fmt)
        _next_record(reader, path)  # the header
        targets = tuple(zip(layout.target_index, layout.target_names))
        while (record := _next_record(reader, path)) is not None:
            line, cells = record
            if len(cells) != layout.width:
                raise DataFormatError(
                    f"line {line} of {path} has {len(cells)} fields, the header has "
                    f"{layout.width}; check quoting and the delimiter"
                )
            labels = tuple(
                _parse_label(cells[i], line=line, column=c, path=path) for i, c in targets
            )
            yield line, cells[layout.smiles_index], labels


def iter_chunks(
    path: str | Path,
    *,
    smiles_col: str | None = None,
    target_cols: Sequence[str] = (),
    chunk_size: int = 50_000,
) -> Iterator[TableChunk]:
    """The rows of ``path`` in chunks (``rows`` 0-based among data rows, ``lines`` 1-based).

    The file, its columns and that it has a data row are checked when this is called (not when
    the first chunk is asked for); the rows are read lazily.

    Args:
        path: CSV/TSV/SMILES file, optionally gzipped.
        smiles_col: SMILES column (guessed from common names when None).
        target_cols: Target columns (none for unlabelled corpora).
        chunk_size: Rows per chunk.

    Raises:
        DataFileNotFoundError: No such file.
        UnknownNameError: A named column is not in the header (the message lists the columns).
        DataFormatError: The file has no data row, is not UTF-8, a row has the wrong number of
            fields or a target cell is not a number (naming the line).
    """
    layout = _layout(Path(path), smiles_col, target_cols)
    return _chunked(_records(layout), chunk_size, len(layout.target_index))


def data_lines(path: str | Path) -> np.ndarray:
    """The file line ``[num_rows]`` int64 of every data row of ``path`` (1-based, header = 1).

    Reads the whole file: meant for messages about rows of an existing store.
    """
    path = Path(path)
    layout = _Layout(path, sniff_format(path), 0, 0, (), ())
    if layout.fmt == "smi":
        with open_text(path) as handle:
            return np.arange(1, sum(1 for _ in handle) + 1, dtype=np.int64)
    lines = []
    with open_text(path) as handle:
        reader = _reader(handle, layout.fmt)
        _next_record(reader, path)
        while (record := _next_record(reader, path)) is not None:
            lines.append(record[0])
    return np.asarray(lines, dtype=np.int64)


def _chunked(
    records: Iterator[tuple[int, str, tuple[float, ...]]], chunk_size: int, num_tasks: int
) -> Iterator[TableChunk]:
    row = 0
    lines: list[int] = []
    smiles: list[str] = []
    labels: list[tuple[float, ...]] = []
    for line, smi, lab in records:
        lines.append(line)
        smiles.append(smi)
        labels.append(lab)
        if len(lines) == chunk_size:
            yield _make_chunk(row, lines, smiles, labels, num_tasks)
            row += len(lines)
            lines, smiles, labels = [], [], []
    if lines:
        yield _make_chunk(row, lines, smiles, labels, num_tasks)


def _make_chunk(
    first_row: int,
    lines: list[int],
    smiles: list[str],
    labels: list[tuple[float, ...]],
    num_tasks: int,
) -> TableChunk:
    n = len(lines)
    lab = np.asarray(labels, dtype=np.float32).reshape(n, num_tasks) if num_tasks else None
    return TableChunk(
        rows=np.arange(first_row, first_row + n, dtype=np.int64),
        smiles=smiles,
        labels=lab,
        lines=np.asarray(lines, dtype=np.int64),
    )


def read_split_file(path: Path, num_rows: int) -> np.ndarray:
    """The row indices ``[k]`` of an OGB split file (one 0-based index a line, no header)."""
    out = []
    with open_text(path) as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                index = int(text)
            except ValueError:
                index = -1
            if not 0 <= index < num_rows:
                raise DataFormatError(
                    f"line {line} of the split file {path} is {text.strip()!r}; expected a row "
                    f"index in [0, {num_rows}) of mapping/mol.csv.gz"
                )
            out.append(index)
    return np.asarray(out, dtype=np.int64)


def check_not_empty(store: GraphStore, path: Path) -> None:
    """Refuse a store without molecules: no row of ``path`` had a valid SMILES.

    Raises:
        DataFormatError: Naming the number of rows and the first invalid one (file line).
    """
    if len(store):
        return
    examples = store.meta.get("invalid_examples") or []
    example = ""
    if examples:
        row, smiles, reason = examples[0][:3]
        example = f" (e.g. line {int(data_lines(path)[int(row)])}: {smiles!r}: {reason})"
    raise DataFormatError(
        f"no valid SMILES in {path}: none of its {store.meta.get('num_rows', 0)} data rows gave a "
        f"molecule{example}. Check that the SMILES column (--smiles-col / data.smiles_col) holds "
        f"SMILES"
    )


def check_labels(store: GraphStore, path: Path, targets: tuple[str, ...], task_type: str) -> None:
    """Check the labels ``[num_molecules, num_tasks]`` of ``store`` read from ``path``.

    Raises:
        DataFormatError: A target column has no label at all, or a classification target has
            values other than 0 and 1 (naming the values and their file lines).
    """
    labels = np.asarray(store.labels)
    empty = [t for t, none in zip(targets, np.isnan(labels).all(axis=0)) if none]
    if empty:
        raise DataFormatError(
            f"target column(s) {', '.join(map(repr, empty))} of {path} have no label in any of "
            f"the {len(store)} rows with a valid SMILES (every cell empty); leave them out of "
            f"--targets / data.targets or fill them"
        )
    if task_type != "classification":
        return
    bad = ~np.isnan(labels) & (labels != 0) & (labels != 1)
    if not bad.any():
        return
    positions, cols = np.nonzero(bad)
    lines = data_lines(path)[np.asarray(store.rows)[positions]]
    shown = [
        f"{labels[p, c]:g} in {targets[c]!r} on line {line}"
        for p, c, line in list(zip(positions, cols, lines))[:5]
    ]
    raise DataFormatError(
        f"classification targets of {path} must be 0 or 1 (or empty); {len(positions)} cell(s) "
        f"are not: {'; '.join(shown)}{' ...' if len(positions) > 5 else ''}. Use "
        f"task_type='regression' (CLI: --task regression) for continuous targets."
    )


def count_duplicates(store: GraphStore, path: Path) -> int:
    """Molecules of ``store`` whose canonical SMILES an earlier row already had; logged, kept.

    Computed once per store (RDKit canonical SMILES; about 0.2 ms a molecule) and remembered
    beside it in ``duplicates.json``.
    """
    record = store.directory / "duplicates.json"
    if record.exists():
        found = json.loads(record.read_text())
    else:
        first: dict[str, int] = {}
        pairs = []
        for k, smiles in enumerate(store.all_smiles()):
            try:
                key = canonical_smiles(smiles)
            except InvalidSmilesError:  # featurized, so it parses; a stricter check: as written
                key = smiles
            if key in first:
                pairs.append((first[key], k))
            else:
                first[key] = k
        lines = None
        if pairs:
            lines = data_lines(path)[np.asarray(store.rows)[list(pairs[0])]].tolist()
        found = {"count": len(pairs), "example_lines": lines}
        with contextlib.suppress(OSError):  # a read-only cache still loads
            write_json_atomic(record, found)
    if found["count"]:
        logger.info(
            "%s: %d molecule(s) repeat an earlier row's molecule (same canonical SMILES, e.g. "
            "lines %d and %d); kept as they are",
            path,
            found["count"],
            *found["example_lines"],
        )
    return int(found["count"])
