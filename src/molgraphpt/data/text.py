"""Molecule–text pairs: reading pair files, a cached featurized pair dataset and its loader.

Files (``.gz`` allowed for each; the format is taken from a spec's ``format`` or detected):

* **CSV** with a header (standard CSV quoting).
* **TSV** with a header, read with ``csv.QUOTE_NONE``: quote characters are literal text. This is
  how ChEBI-20 (Text2Mol / MolT5: header ``CID<TAB>SMILES<TAB>description``) must be read: its
  descriptions contain quotes such as ``(also known as Teonanacatl or "magic mushrooms")``.
* **JSONL**: one JSON object a line.
* **L+M-24 property phrases** (``lpm24_props``): ``SMILES<TAB>{'phrase', 'phrase', ...}`` (a
  Python set literal) without header, as in ``train_props.txt.gz``. Detected from a file name
  containing ``train_props``, or from a first line of exactly two tab-separated fields whose
  second is ``{...}``.

Columns/keys are matched case-insensitively; when not given they are guessed: SMILES from
``smiles``, ``canonical_smiles``, ``isosmiles``, ``mol``, ``smi``; text from ``text``,
``description``, ``caption``, ``desc``. Rows whose SMILES or text is blank are skipped (they still
count in ``num_rows``). Row numbers are 0-based data rows (header excluded; JSONL: line numbers).

**Texts from L+M-24 phrases.** L+M-24's property lists are keyword phrases (``'antioxidant'``,
``'Energy source'``, ...), not sentences. :func:`read_lpm24_props` turns each list into one
sentence: underscores become spaces, duplicates and blanks are dropped, the phrases are *sorted*
and then shuffled with a generator seeded by ``derive_seed(seed, "lpm24", row)`` (so the text of
a row does not depend on Python's set order, ``PYTHONHASHSEED`` or the other rows), optionally
cut to ``max_phrases``, and put into one of the templates, also picked by that generator.
:data:`DEFAULT_TEMPLATES` are:

0. ``"The molecule is {a_list}."`` -> "The molecule is an antioxidant and a fragrance."
1. ``"This compound is known as {a_list}."`` -> "This compound is known as an antioxidant and a
   fragrance."
2. ``"It has the following properties: {list}."`` -> "It has the following properties:
   antioxidant and fragrance."
3. ``"The molecule is associated with {list}."``
4. ``"This molecule is relevant to {list}."``
5. ``"Known properties and uses of this compound: {list}."``

``{list}`` is the phrases joined as ``"x, y and z"``; ``{a_list}`` the same with an indefinite
article before each phrase (``a``/``an`` by the sound of its first word: ``an antioxidant``,
``a urease inhibitor``, ``an hour``, ``an NMDA antagonist``, ``a CDK inhibitor``). Custom
templates may use either slot.

**The dataset.** :func:`load_pair_dataset` reads every source, drops the molecules whose RDKit
canonical SMILES is in one of the ``exclude`` files (any table with a SMILES column, ChEBI-20 TSV
included, or a pair spec), and featurizes the rest once through the feature cache
(:func:`~molgraphpt.data.cache.cached_store`). Invalid SMILES are skipped and counted. Row numbers
are global over the sources (the second source's rows follow the first's), the store records them
(``store.rows``), and :class:`PairDataset` keeps ``texts[k]`` / ``smiles[k]`` aligned with store
row ``k``. :class:`PairLoader` yields :class:`~molgraphpt.data.batch.MolTextBatch` with the graphs,
the tokenized texts and (optionally) KV-PLM SMILES tokens.
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from molgraphpt.chem.smiles import check_policy
from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.cache import Chunk, cached_store, file_sha256
from molgraphpt.data.corpus import _contains, _Hasher, expand_sources
from molgraphpt.data.loader import GraphLoader
from molgraphpt.data.store import GraphStore
from molgraphpt.data.tables import open_text
from molgraphpt.errors import (
    CacheError,
    ConfigError,
    DataFormatError,
    InvalidSmilesError,
    UnknownNameError,
)
from molgraphpt.seed import derive_seed

__all__ = [
    "DEFAULT_TEMPLATES",
    "PAIR_FORMATS",
    "PairDataset",
    "PairLoader",
    "PairTable",
    "SmilesTokenizer",
    "detect_format",
    "indefinite_article",
    "load_pair_dataset",
    "load_pairs",
    "phrases_to_text",
    "read_lpm24_props",
    "read_pairs",
    "read_smiles",
]

logger = logging.getLogger(__name__)

#: Bump when the way a pair store is built changes (it is part of the cache key).
PAIRS_VERSION = 1
#: Formats of pair files (``"auto"`` detects one of the others).
PAIR_FORMATS = ("auto", "csv", "tsv", "jsonl", "lpm24_props")
#: Templates that turn L+M-24 phrase lists into sentences (see the module docstring).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "The molecule is {a_list}.",
    "This compound is known as {a_list}.",
    "It has the following properties: {list}.",
    "The molecule is associated with {list}.",
    "This molecule is relevant to {list}.",
    "Known properties and uses of this compound: {list}.",
)
_SMILES_NAMES = ("smiles", "canonical_smiles", "isosmiles", "mol", "smi")
_TEXT_NAMES = ("text", "description", "caption", "desc")
_SPEC_KEYS = ("path", "format", "smiles_col", "text_col")
_CHUNK = 50_000


# ------------------------------------------------------------------------------ pair tables


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
    """Read a CSV / TSV / JSONL file of SMILES and texts (see the module docstring).

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


# ------------------------------------------------------------------------ L+M-24 phrases

_AN_LETTERS = set("AEFHILMNORSX")  # letter names that start with a vowel sound ("an NMR")
_A_PREFIXES = ("uni", "use", "usu", "uti", "ure", "uri", "uro", "ubi", "eu", "one", "once")
_AN_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


def indefinite_article(phrase: str) -> str:
    """``"a"`` or ``"an"`` for ``phrase`` by the sound of its first word.

    Vowel letters give ``an`` (``an antioxidant``) except words sounding like "you"/"one"
    (``a urease inhibitor``, ``a European``); a silent h gives ``an hour``; acronyms are read
    letter by letter (``an NMDA antagonist``, ``a CDK inhibitor``); numbers by their sound
    (``an 8-...``, ``an 11-...``, ``an 18-...``).
    """
    words = phrase.strip().split()
    word = words[0].strip("\"'([{") if words else ""
    if not word:
        return "a"
    letters = "".join(c for c in word if c.isalpha())
    if len(letters) >= 2 and letters.isupper():
        return "an" if letters[0] in _AN_LETTERS else "a"
    lower = word.lower()
    if lower[0].isdigit():
        digits = lower[: len(lower) - len(lower.lstrip("0123456789"))]
        return "an" if digits.startswith("8") or digits in ("11", "18") else "a"
    if lower.startswith(_AN_PREFIXES):
        return "an"
    if lower.startswith(_A_PREFIXES):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def phrases_to_text(phrases: Sequence[str], template: str) -> str:
    """Fill ``template``'s ``{list}`` / ``{a_list}`` with ``phrases`` in the given order."""
    return template.format(
        list=_join(phrases), a_list=_join([f"{indefinite_article(p)} {p}" for p in phrases])
    )


def _check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    if isinstance(templates, str) or not templates:
        raise ConfigError(
            "templates", templates, expected="a non-empty list of strings with {list} or {a_list}"
        )
    for template in templates:
        try:
            ok = isinstance(template, str) and ("{list}" in template or "{a_list}" in template)
            ok = ok and bool(template.format(list="x", a_list="a x"))
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(
                "templates",
                template,
                expected="a format string whose only fields are {list} and/or {a_list}",
            )
    return tuple(templates)


def _clean_phrases(value: Any, row: int, path: Path) -> list[str]:
    if not isinstance(value, (set, frozenset, list, tuple)) or not all(
        isinstance(p, str) for p in value
    ):
        raise DataFormatError(
            f"row {row} of {path}: expected a set of phrase strings after the tab, got "
            f"{type(value).__name__}"
        )
    cleaned = {" ".join(p.replace("_", " ").split()) for p in value}
    return sorted(p for p in cleaned if p)


def read_lpm24_props(
    path: str | os.PathLike[str],
    *,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    seed: int = 0,
    max_phrases: int | None = None,
) -> PairTable:
    """Read L+M-24's ``SMILES<TAB>{'phrase', ...}`` file and make one sentence per molecule.

    See the module docstring for the templates and the seeded phrase order. Rows with no phrase
    are skipped.

    Args:
        path: ``train_props.txt(.gz)`` or a file of the same layout.
        templates: Format strings with ``{list}`` and/or ``{a_list}``.
        seed: Seed of the phrase order and template choice (mixed with the row number).
        max_phrases: Keep at most this many phrases (after shuffling); None keeps all.

    Raises:
        ConfigError: A template or ``max_phrases`` is invalid.
        DataFormatError: A line is not ``SMILES<TAB>{...}``.
    """
    path = Path(path)
    templates = _check_templates(templates)
    if max_phrases is not None and (
        isinstance(max_phrases, bool) or not isinstance(max_phrases, int) or max_phrases < 1
    ):
        raise ConfigError("max_phrases", max_phrases, expected="an integer >= 1 or null")
    smiles: list[str] = []
    texts: list[str] = []
    rows: list[int] = []
    num_rows = 0
    with open_text(path) as handle:
        for row, line in enumerate(handle):
            num_rows = row + 1
            if not line.strip():
                continue
            smi, tab, rest = line.rstrip("\r\n").partition("\t")
            try:
                value = ast.literal_eval(rest.strip()) if tab else None
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
            if not tab or value is None:
                raise DataFormatError(
                    f"row {row} of {path} is not 'SMILES<TAB>{{'phrase', ...}}': {line[:120]!r}"
                )
            phrases = _clean_phrases(value, row, path)
            if not smi.strip() or not phrases:
                continue
            rng = np.random.default_rng(derive_seed(seed, "lpm24", row))
            phrases = [phrases[i] for i in rng.permutation(len(phrases))]
            template = templates[int(rng.integers(len(templates)))]
            smiles.append(smi.strip())
            texts.append(phrases_to_text(phrases[:max_phrases], template))
            rows.append(row)
    return PairTable(smiles, texts, np.asarray(rows, dtype=np.int64), num_rows)


# ------------------------------------------------------------------------------ dispatch


def _normalize_spec(spec: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``{path, format, smiles_col, text_col}`` with the format resolved (not ``auto``)."""
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(_SPEC_KEYS)
        if unknown:
            raise UnknownNameError("pair source key", sorted(unknown)[0], choices=_SPEC_KEYS)
        if "path" not in spec:
            raise ConfigError("path", None, expected="a file path in every pair source spec")
        out = {"format": "auto", "smiles_col": None, "text_col": None, **spec}
    elif isinstance(spec, (str, os.PathLike)):
        out = {"path": spec, "format": "auto", "smiles_col": None, "text_col": None}
    else:
        raise ConfigError(
            "sources", spec, expected="a path or a dict {path, format, smiles_col, text_col}"
        )
    out["path"] = str(Path(out["path"]).expanduser())
    out["format"] = out["format"] or "auto"
    if out["format"] not in (*PAIR_FORMATS, "smi"):
        raise UnknownNameError("pair file format", str(out["format"]), choices=PAIR_FORMATS)
    if not Path(out["path"]).is_file():
        raise FileNotFoundError(
            f"pair file {out['path']} does not exist; check the source path or the data root"
        )
    if out["format"] == "auto":
        out["format"] = detect_format(out["path"])
    return out


def load_pairs(
    path_or_spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    seed: int = 0,
    max_phrases: int | None = None,
) -> PairTable:
    """Read one pair source: a path, or a spec ``{path, format, smiles_col, text_col}``.

    ``format`` is ``auto`` (default; see :func:`detect_format`), ``csv``, ``tsv``, ``jsonl`` or
    ``lpm24_props``; ``templates``, ``seed`` and ``max_phrases`` apply to ``lpm24_props`` only.
    """
    spec = _normalize_spec(path_or_spec)
    if spec["format"] == "lpm24_props":
        return read_lpm24_props(
            spec["path"], templates=templates, seed=seed, max_phrases=max_phrases
        )
    return read_pairs(
        spec["path"],
        smiles_col=spec["smiles_col"],
        text_col=spec["text_col"],
        format=spec["format"],
    )


def read_smiles(path_or_spec: str | os.PathLike[str] | Mapping[str, Any]) -> list[str]:
    """Every SMILES of a file of any supported layout, one per data row (blank ones as ``""``).

    Used for exclusion files: a CSV/TSV/JSONL with a SMILES column (guessed unless the spec names
    ``smiles_col``; TSV read without quoting), an L+M-24 phrase file or one SMILES a line.
    """
    spec = _normalize_spec(path_or_spec)
    path, fmt = Path(spec["path"]), spec["format"]
    if fmt in ("smi", "lpm24_props"):
        with open_text(path) as handle:
            split = (lambda s: s.split(None, 1)) if fmt == "smi" else (lambda s: s.split("\t", 1))
            return [(split(line) or [""])[0].strip() for line in handle]
    if fmt == "jsonl":
        out = []
        key = None
        for _, record in _iter_jsonl(path):
            if key is None or key not in record:
                key = _find_column(list(record), spec["smiles_col"], _SMILES_NAMES, "smiles", path)
            out.append(_cell(record.get(key)))
        return out
    out = []
    idx = -1
    for header, _, cells in _iter_delimited(path, fmt):
        if idx < 0:
            idx = header.index(
                _find_column(header, spec["smiles_col"], _SMILES_NAMES, "smiles", path)
            )
        out.append(cells[idx].strip())
    return out


def _exclusion_specs(exclude: Sequence[Any]) -> list[dict[str, Any]]:
    """Exclusion entries as specs; a folder stands for its data files (see ``expand_sources``)."""
    specs = []
    for entry in exclude:
        if isinstance(entry, Mapping):
            specs.append(_normalize_spec(entry))
        elif isinstance(entry, (str, os.PathLike)) and Path(entry).expanduser().is_dir():
            specs += [_normalize_spec(p) for p in expand_sources([entry])]
        else:
            specs.append(_normalize_spec(entry))
    return specs


# ------------------------------------------------------------------------------ the dataset


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
        if isinstance(fraction, bool) or not 0.0 <= fraction < 1.0:
            raise ConfigError("valid_fraction", fraction, expected="a float in [0, 1)")
        n = len(self)
        everything = np.arange(n, dtype=np.int64)
        k = min(int(round(fraction * n)), n - 1) if fraction > 0 else 0
        if k <= 0:
            return everything, everything[:0]
        rng = np.random.default_rng(derive_seed(seed, "pairs-valid"))
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:k]] = True
        return everything[~mask], everything[mask]


@dataclass
class _BuildState:
    meta: dict[str, Any]
    current: tuple[int, int] | None = None  # (source position, row offset) being featurized


def _pair_chunks(
    tables: list[PairTable],
    offsets: list[int],
    exclude_specs: list[dict[str, Any]],
    hasher: Callable[[list[str]], np.ndarray],
    state: _BuildState,
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
    for pos, (table, offset, entry) in enumerate(zip(tables, offsets, state.meta["sources"])):
        state.current = (pos, offset)
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
    sources: Sequence[str | os.PathLike[str] | Mapping[str, Any]],
    *,
    exclude: Sequence[str | os.PathLike[str] | Mapping[str, Any]] = (),
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
        sources: Paths or specs ``{path, format, smiles_col, text_col}`` (see :func:`load_pairs`).
        exclude: Molecules that must not be in the dataset (e.g. the evaluation pairs): paths
            (files or folders), or specs whose ``smiles_col`` / ``format`` say how to read them.
            Compared by RDKit canonical SMILES; their unparsable SMILES are ignored.
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        workers: Processes for canonicalization and featurization (0 = all cores).
        on_invalid: ``"skip"`` (count) or ``"raise"`` on an invalid SMILES.
        unsanitizable: Policy for molecules that fail only RDKit's valence checks.
        name: Prefix of the cache directory.
        templates: L+M-24 sentence templates (lpm24 sources only).
        seed: Seed of the L+M-24 phrase order and template choice.
        max_phrases: Phrases kept per L+M-24 molecule (None = all).
        progress: Show featurization progress bars.

    Raises:
        ConfigError: No source, a source also listed in ``exclude``, or an option out of range.
        FileNotFoundError: A file does not exist.
        InvalidSmilesError: With ``on_invalid="raise"``, naming the source file and its row.
    """
    if isinstance(sources, (str, os.PathLike, Mapping)) or not sources:
        raise ConfigError(
            "sources", sources, expected="a non-empty list of pair files or source specs"
        )
    if on_invalid not in ("raise", "skip"):
        raise ConfigError("on_invalid", on_invalid, expected="'raise' or 'skip'")
    check_policy(unsanitizable)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError("workers", workers, expected="an integer >= 0 (0 = all cores)")
    if isinstance(exclude, (str, os.PathLike, Mapping)):
        exclude = [exclude]
    templates = _check_templates(templates)
    specs = [_normalize_spec(s) for s in sources]
    exclude_specs = _exclusion_specs(exclude)
    overlap = {str(Path(s["path"]).resolve()) for s in specs} & {
        str(Path(e["path"]).resolve()) for e in exclude_specs
    }
    if overlap:
        raise ConfigError("exclude", sorted(overlap), expected="files that are not also sources")
    started = time.perf_counter()
    tables = [load_pairs(s, templates=templates, seed=seed, max_phrases=max_phrases) for s in specs]
    offsets = [int(x) for x in np.cumsum([0] + [int(t.num_rows or 0) for t in tables])]
    described = [
        {**s, "sha256": file_sha256(s["path"]), "row_start": lo, "row_stop": hi}
        for s, lo, hi in zip(specs, offsets, offsets[1:])
    ]
    excl = [{**e, "sha256": file_sha256(e["path"])} for e in exclude_specs]
    uses_templates = any(s["format"] == "lpm24_props" for s in specs)
    key = {
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
    state = _BuildState(
        {
            "sources": [{"sha256": s["sha256"]} for s in described],
            "exclusion": {"files": [{"sha256": e["sha256"]} for e in excl]},
        }
    )
    hasher = _Hasher(workers, unsanitizable)
    try:
        store = cached_store(
            name.replace("/", "_"),
            key,
            _pair_chunks(tables, offsets, exclude_specs, hasher, state),
            cache_dir=cache_dir,
            workers=workers,
            on_invalid=on_invalid,
            unsanitizable=unsanitizable,
            source=f"{len(specs)} pair file(s)",
            progress=progress,
            meta={"pairs": state.meta},
        )
    except InvalidSmilesError as err:
        if state.current is None or err.row is None:
            raise
        pos, offset = state.current
        raise err.at(row=err.row - offset, source=specs[pos]["path"]) from None
    finally:
        hasher.close()
    return _assemble(store, tables, offsets, described, excl, started)


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


# ------------------------------------------------------------------------------ the loader


class PairLoader(GraphLoader):
    """Batches of molecules with their tokenized texts (and optionally SMILES tokens).

    Same order, resume (``iter_epoch(epoch, start)``), DDP sharding and worker behaviour as
    :class:`~molgraphpt.data.loader.GraphLoader`.

    Args:
        dataset: The pairs.
        indices: Positions in ``dataset`` to iterate over (all when None).
        tokenizer: Text tokenizer: any Hugging Face tokenizer (called with ``padding=True,
            truncation=True, max_length=..., return_tensors="pt"``), or None for no text tokens.
        max_length: Longest tokenized text.
        smiles_tokenizer: KV-PLM SMILES tokenizer; adds ``smiles_input_ids`` and
            ``smiles_attention_mask`` to ``batch.text``.
        smiles_max_length: Longest SMILES token row (``[CLS]`` and ``[SEP]`` included).
        batch_size, shuffle, seed, drop_last, num_workers, rank, world_size: As for
            :class:`~molgraphpt.data.loader.GraphLoader`.

    Each batch is a :class:`MolTextBatch` with ``graph``, ``text`` = ``{"input_ids",
    "attention_mask"}`` ``[B, L]`` int64 (plus ``"smiles_input_ids"``,
    ``"smiles_attention_mask"`` ``[B, Ls]``), ``index`` ``[B]`` (dataset positions) and
    ``meta["texts"]`` (the raw texts, in batch order).
    """

    def __init__(
        self,
        dataset: PairDataset,
        indices: np.ndarray | None = None,
        *,
        tokenizer: Any,
        max_length: int = 128,
        smiles_tokenizer: SmilesTokenizer | None = None,
        smiles_max_length: int = 64,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(
            dataset.store,
            indices,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            num_workers=num_workers,
            with_labels=False,
            rank=rank,
            world_size=world_size,
        )
        if tokenizer is None and smiles_tokenizer is None:
            logger.warning(
                "PairLoader without tokenizer and smiles_tokenizer: batches carry no text"
            )
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ConfigError("max_length", max_length, expected="an integer >= 2")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(dataset)):
            raise ConfigError(
                "indices", "out of range", expected=f"positions in [0, {len(dataset)})"
            )
        self.dataset = dataset
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.smiles_tokenizer = smiles_tokenizer
        self.smiles_max_length = smiles_max_length

    def collate(self, index: np.ndarray) -> MolTextBatch:
        """The batch of dataset positions ``index`` ``[batch_size]``."""
        batch = super().collate(index)
        texts = [self.dataset.texts[int(i)] for i in index]
        text: dict[str, torch.Tensor] = {}
        if self.tokenizer is not None:
            enc = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            text["input_ids"] = torch.as_tensor(enc["input_ids"], dtype=torch.long)
            text["attention_mask"] = torch.as_tensor(enc["attention_mask"], dtype=torch.long)
        if self.smiles_tokenizer is not None:
            smiles = [self.dataset.smiles[int(i)] for i in index]
            enc = self.smiles_tokenizer.encode_batch(smiles, max_length=self.smiles_max_length)
            text["smiles_input_ids"] = torch.from_numpy(enc["input_ids"])
            text["smiles_attention_mask"] = torch.from_numpy(enc["attention_mask"])
        batch.text = text or None
        batch.meta["texts"] = texts
        return batch

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[MolTextBatch]:
        """Yield the batches of ``epoch``, skipping the first ``start``."""
        if self.num_workers > 0:
            # Forked workers must not use the Rust tokenizer's thread pool (HF's own advice).
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        return super().iter_epoch(epoch, start)
