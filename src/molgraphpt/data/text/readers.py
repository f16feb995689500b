"""Reading pair files: :class:`PairTable`, format detection and the CSV / TSV / JSONL reader.

See the :mod:`molgraphpt.data.text` docstring for the file formats and the column guessing.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt.data.tables import open_text
from molgraphpt.errors import DataFormatError, UnknownNameError

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
    """

    smiles: list[str]
    texts: list[str]
    rows: np.ndarray
    num_rows: int | None = None

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)
        if not len(self.smiles) == len(self.texts) == len(self.rows):
            raise DataFormatError(
                f"PairTable needs as many texts and rows as SMILES; got {len(self.smiles)} "
                f"SMILES, {len(self.texts)} texts, {len(self.rows)} rows"
            )
        if self.num_rows is None:
            self.num_rows = int(self.rows[-1]) + 1 if len(self.rows) else 0

    def __len__(self) -> int:
        return len(self.smiles)


def _base_name(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def detect_format(path: str | os.PathLike[str]) -> str:
    """``"csv"``, ``"tsv"``, ``"jsonl"``, ``"lpm24_props"`` or ``"smi"`` (one SMILES a line).

    Raises:
        FileNotFoundError: No such file.
        DataFormatError: The extension is not one of ``.csv .tsv .txt .smi .smiles .jsonl
            .ndjson`` (each optionally ``.gz``).
    """
    path = Path(path)
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
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist")
    raise DataFormatError(
        f"cannot tell the format of {path} from its extension {suffix!r}; use .csv, .tsv, .txt, "
        f".jsonl (optionally .gz) or give the format explicitly (format: csv|tsv|jsonl|lpm24_props)"
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
        raise UnknownNameError(f"{what} column in {path}", wanted, choices=names)
    for guess in guesses:
        if guess in lowered:
            return lowered[guess]
    raise UnknownNameError(
        f"{what} column in {path}",
        "<not given>",
        choices=names,
        hint=f"name it in the source spec ({what}_col: NAME)",
    )


def _iter_delimited(path: Path, fmt: str) -> Iterator[tuple[list[str], int, list[str]]]:
    """``(header, row, cells)`` of a CSV (standard quoting) or TSV (``QUOTE_NONE``) file."""
    quoting = csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t", quoting=quoting)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path} is empty; expected a header line")
        for row, cells in enumerate(reader):
            if len(cells) != len(header):
                if not cells:  # a blank line
                    cells = [""] * len(header)
                else:
                    raise DataFormatError(
                        f"row {row} of {path} has {len(cells)} fields, the header has "
                        f"{len(header)}; check the delimiter and quoting (TSV files are read "
                        f"without quoting: quotes are text)"
                    )
            yield header, row, cells


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path) as handle:
        for row, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"line {row} of {path} is not valid JSON ({err})") from None
            if not isinstance(record, dict):
                raise DataFormatError(
                    f"line {row} of {path} is a JSON {type(record).__name__}, expected an object "
                    f"with a SMILES and a text key"
                )
            yield row, record


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def read_pairs(
    path: str | os.PathLike[str],
    *,
    smiles_col: str | None = None,
    text_col: str | None = None,
    format: str = "auto",  # noqa: A002 - the spec key
) -> PairTable:
    """Read a CSV / TSV / JSONL file of SMILES and texts (see :mod:`molgraphpt.data.text`).

    Args:
        path: The file (``.gz`` allowed).
        smiles_col: SMILES column or key (guessed when None).
        text_col: Text column or key (guessed when None).
        format: ``"auto"``, ``"csv"``, ``"tsv"`` or ``"jsonl"``.

    Raises:
        FileNotFoundError: No such file.
        UnknownNameError: A column is not in the file (the message lists the columns).
        DataFormatError: A row has the wrong number of fields or is not JSON.
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
    num_rows = 0
    if fmt == "jsonl":
        keys: tuple[str, str] | None = None
        for row, record in _iter_jsonl(path):
            num_rows = row + 1
            names = list(record)
            if keys is None or keys[0] not in record or keys[1] not in record:
                keys = (
                    _find_column(names, smiles_col, _SMILES_NAMES, "smiles", path),
                    _find_column(names, text_col, _TEXT_NAMES, "text", path),
                )
            smi, text = _cell(record.get(keys[0])), _cell(record.get(keys[1]))
            if smi and text:
                smiles.append(smi)
                texts.append(text)
                rows.append(row)
    else:
        s_idx = t_idx = -1
        for header, row, cells in _iter_delimited(path, fmt):
            if s_idx < 0:
                s_idx = header.index(
                    _find_column(header, smiles_col, _SMILES_NAMES, "smiles", path)
                )
                t_idx = header.index(_find_column(header, text_col, _TEXT_NAMES, "text", path))
            num_rows = row + 1
            smi, text = cells[s_idx].strip(), cells[t_idx].strip()
            if smi and text:
                smiles.append(smi)
                texts.append(text)
                rows.append(row)
    return PairTable(smiles, texts, np.asarray(rows, dtype=np.int64), num_rows)
