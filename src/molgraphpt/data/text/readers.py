"""Reading pair files: :class:`PairTable`, format detection and the CSV / TSV / JSONL reader.

See the :mod:`molgraphpt.data.text` docstring for the file formats and the column guessing.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from molgraphpt.data.tables import check_file, open_text
from molgraphpt.errors import DataFormatError, UnknownNameError

logger = logging.getLogger("molgraphpt.data.text")

__all__ = ["PAIR_FORMATS", "PairTable", "detect_format", "read_pairs"]

#: Formats of pair files (``"auto"`` detects one of the others).
PAIR_FORMATS = ("auto", "csv", "tsv", "jsonl", "lpm24_props")
_SMILES_NAMES = ("smiles", "canonical_smiles", "isosmiles", "mol", "smi")
_TEXT_NAMES = ("text", "description", "caption", "desc")


@dataclass
class PairTable:
    """Molecule–text pairs read from one file.

    Attributes:
        smiles: SMILES as given (stripped), ``[num_pairs]``.
        texts: The text of each pair, ``[num_pairs]``.
        rows: 0-based source row of each pair ``[num_pairs]`` int64 (increasing).
        num_rows: Data rows in the file, blank rows included (defaults to ``rows[-1] + 1``).
        lines: 1-based file line of each pair ``[num_pairs]`` int64 (header = line 1), for
            messages; None means ``rows + 1`` (a file without header, one row a line: JSONL,
            L+M-24 phrases).
    """

    smiles: list[str]
    texts: list[str]
    rows: np.ndarray
    num_rows: int | None = None
    lines: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        if self.lines is not None:
            self.lines = np.asarray(self.lines, dtype=np.int64)
        sizes = {len(self.smiles), len(self.texts), len(self.rows)}
        if len(sizes | ({len(self.lines)} if self.lines is not None else set())) != 1:
            raise DataFormatError(
                f"PairTable needs as many texts, rows and lines as SMILES; got {len(self.smiles)} "
                f"SMILES, {len(self.texts)} texts, {len(self.rows)} rows"
            )
        if self.num_rows is None:
            self.num_rows = int(self.rows[-1]) + 1 if len(self.rows) else 0

    def __len__(self) -> int:
        return len(self.smiles)

    def line_of(self, row: int) -> int:
        """The file line (1-based, header = line 1) of the pair read from data row ``row``."""
        if self.lines is None or not len(self.rows):
            return int(row) + 1
        k = min(int(np.searchsorted(self.rows, row)), len(self.rows) - 1)
        return int(self.lines[k] + (row - self.rows[k]))  # exact for the rows of pairs


def _base_name(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: str | os.PathLike[str]) -> str:
    """``"csv"``, ``"tsv"``, ``"jsonl"``, ``"lpm24_props"`` or ``"smi"`` (one SMILES a line).

    Raises:
        DataFileNotFoundError: No such file.
        DataFormatError: The extension is not one of ``.csv .tsv .txt .smi .smiles .jsonl
            .ndjson`` (each optionally ``.gz``).
    """
    path = check_file(path)
    name = _base_name(path)
    suffix = Path(name).suffix
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if "train_props" in name and suffix in (".txt", ".tsv", ""):
        return "lpm24_props"
    if suffix in (".tsv", ".txt", ".smi", ".smiles"):
        with open_text(path) as handle:
            first = handle.readline().rstrip("\r\n")
        parts = first.split("\t")
        if len(parts) == 2 and parts[1].strip().startswith("{") and parts[1].strip().endswith("}"):
            return "lpm24_props"
        return "tsv" if len(parts) > 1 else "smi"
    raise DataFormatError(
        f"cannot tell the format of {path} from its extension {suffix!r}; use .csv, .tsv, .txt, "
        f".jsonl (optionally .gz) or give the format explicitly (--format csv|tsv|jsonl|"
        f"lpm24_props on the command line, format: ... in a config's pair source)"
    )


def _find_column(
    names: Sequence[str], wanted: str | None, guesses: Sequence[str], what: str, path: Path
) -> str:
    """The name in ``names`` matching ``wanted`` (exactly, then case-insensitively) or a guess."""
    lowered = {n.lower(): n for n in reversed(names)}
    if wanted is not None:
        if wanted in names:
            return wanted
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
        raise UnknownNameError(
            f"{what} column in {path}", wanted, choices=names, hint=f"check --{what}-col"
        )
    for guess in guesses:
        if guess in lowered:
            return lowered[guess]
    raise UnknownNameError(
        f"{what} column in {path}",
        "<not given>",
        choices=names,
        hint=f"name it: --{what}-col NAME on the command line (molgraphpt retrieval), or "
        f"{what}_col: NAME in the pair source of the config (data.pairs)",
    )


def _iter_delimited(path: Path, fmt: str) -> Iterator[tuple[list[str], int, int, list[str]]]:
    """``(header, row, line, cells)`` of a CSV (standard quoting) or TSV (``QUOTE_NONE``) file.

    ``row`` counts data rows from 0 (a blank line is a row of empty cells); ``line`` is the
    1-based file line the row starts on (header = line 1).
    """
    quoting = csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t", quoting=quoting)
        header = _next_row(reader, path)
        if header is None:
            raise DataFormatError(f"{path} is empty; expected a header line")
        row = 0
        while True:
            line = reader.line_num + 1
            cells = _next_row(reader, path)
            if cells is None:
                return
            if len(cells) != len(header):
                if not cells:  # a blank line
                    cells = [""] * len(header)
                else:
                    raise DataFormatError(
                        f"line {line} of {path} has {len(cells)} fields, the header has "
                        f"{len(header)}; check the delimiter and quoting (TSV files are read "
                        f"without quoting: quotes are text)"
                    )
            yield header, row, line, cells
            row += 1


def _next_row(reader: Any, path: Path) -> list[str] | None:
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as err:
        raise DataFormatError(
            f"line {reader.line_num} of {path} cannot be parsed ({err}); check the quoting"
        ) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row, record)`` of a JSONL file; ``row`` is the 0-based line (blank lines skipped)."""
    with open_text(path) as handle:
        for row, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(
                    f"line {row + 1} of {path} is not valid JSON ({err})"
                ) from None
            if not isinstance(record, dict):
                raise DataFormatError(
                    f"line {row + 1} of {path} is a JSON {type(record).__name__}, expected an "
                    f"object with a SMILES and a text key"
                )
            yield row, record


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _pair_cells(
    path: Path, fmt: str, smiles_col: str | None, text_col: str | None
) -> Iterator[tuple[int, int, str, str]]:
    """``(row, line, smiles, text)`` of every data row of a CSV / TSV / JSONL pair file."""
    if fmt == "jsonl":
        keys: tuple[str, str] | None = None
        for row, record in _iter_jsonl(path):
            if keys is None or keys[0] not in record or keys[1] not in record:
                names = list(record)
                keys = (
                    _find_column(names, smiles_col, _SMILES_NAMES, "smiles", path),
                    _find_column(names, text_col, _TEXT_NAMES, "text", path),
                )
            yield row, row + 1, _cell(record.get(keys[0])), _cell(record.get(keys[1]))
        return
    s_idx = t_idx = -1
    for header, row, line, cells in _iter_delimited(path, fmt):
        if s_idx < 0:
            s_idx = header.index(_find_column(header, smiles_col, _SMILES_NAMES, "smiles", path))
            t_idx = header.index(_find_column(header, text_col, _TEXT_NAMES, "text", path))
        yield row, line, cells[s_idx].strip(), cells[t_idx].strip()


def read_pairs(
    path: str | os.PathLike[str],
    *,
    smiles_col: str | None = None,
    text_col: str | None = None,
    format: str = "auto",  # noqa: A002 - the spec key
    on_empty: Literal["skip", "raise"] = "skip",
) -> PairTable:
    """Read a CSV / TSV / JSONL file of SMILES and texts (see :mod:`molgraphpt.data.text`).

    Blank rows (no SMILES and no text) are skipped. A row with a SMILES but an empty text, or a
    text but an empty SMILES, is skipped with ``on_empty="skip"`` (counted: ``num_rows -
    len(table)``) and an error naming its line with ``on_empty="raise"``.

    Args:
        path: The file (``.gz`` allowed).
        smiles_col: SMILES column or key (guessed when None).
        text_col: Text column or key (guessed when None).
        format: ``"auto"``, ``"csv"``, ``"tsv"`` or ``"jsonl"``.
        on_empty: ``"skip"`` or ``"raise"`` on a row with one empty cell.

    Raises:
        DataFileNotFoundError: No such file.
        UnknownNameError: A column is not in the file (the message lists the columns).
        DataFormatError: The file has no data row, is not UTF-8, a row has the wrong number of
            fields or is not JSON, or (``on_empty="raise"``) a cell is empty; naming the line.
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    if fmt not in ("csv", "tsv", "jsonl"):
        raise DataFormatError(
            f"{path} is a {fmt!r} file; read_pairs reads csv, tsv or jsonl pairs"
            + (" (use read_lpm24_props)" if fmt == "lpm24_props" else "")
        )
    smiles: list[str] = []
    texts: list[str] = []
    rows: list[int] = []
    lines: list[int] = []
    num_rows = num_empty = 0
    for row, line, smi, text in _pair_cells(path, fmt, smiles_col, text_col):
        num_rows = row + 1
        if smi and text:
            smiles.append(smi)
            texts.append(text)
            rows.append(row)
            lines.append(line)
        elif smi or text:
            if on_empty == "raise":
                raise DataFormatError(
                    f"line {line} of {path} has an empty {'text' if smi else 'SMILES'}; fill it "
                    f"or delete the row, or skip such rows (config: data.on_invalid=skip; "
                    f"Python: on_invalid='skip')"
                )
            num_empty += 1
    if num_rows == 0:
        raise DataFormatError(f"no data rows in {path}; expected a SMILES and a text per row")
    if num_empty:
        logger.info("%s: skipped %d row(s) with an empty SMILES or text", path, num_empty)
    return PairTable(smiles, texts, np.asarray(rows, dtype=np.int64), num_rows, np.asarray(lines))
