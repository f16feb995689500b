"""Relation-extraction sentences: JSONL / CSV / TSV files (optionally ``.gz``) with two entities.

Every row becomes a :class:`RelationExample`: the sentence with the entity markers removed
(``clean``), the character spans of the head and the tail entity in it, and the label. Three
ways of giving the entities are read (``RelationDataConfig.entities``):

* ``markers``: the entities are wrapped in marker pairs inside the text, e.g. SciBERT's ChemProt
  files ``<< Epidermal growth factor receptor >> inhibitors ... [[ gefitinib ]]``. A marker
  counts where it stands apart from the words (``"<< "`` opening, ``" >>"`` closing); only when
  a text has no such occurrence is a bare one used, so chemical names like ``[[2-hydroxy...`` or
  ``sulprostone>>PG`` are not taken for markers.
* ``placeholders``: the entities were replaced by tokens such as ``@CHEMICAL$`` / ``@GENE$``
  (BLURB); a row needs exactly two, the first is the head.
* ``offsets``: character offsets (end exclusive) in four columns.

Rows are numbered as an editor counts lines: JSONL line N is the N-th line, in a CSV/TSV the
header is line 1. The label vocabulary comes from the training file (sorted; a declared negative
label first); an unknown label in the dev or test file is an error. With ``on_invalid="skip"``
bad rows are counted per reason instead (:attr:`RelationSplit.skipped`).

Nothing here imports torch.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from molgraphpt.data.relation_config import RelationDataConfig
from molgraphpt.data.tables import check_file, missing_file, open_text
from molgraphpt.errors import DataFormatError

__all__ = [
    "LabelVocab",
    "RelationData",
    "RelationExample",
    "RelationSplit",
    "build_label_vocab",
    "load_relation_data",
    "parse_entities",
    "read_relation_file",
    "relation_files",
]

_TEXT_COLS = ("text", "sentence")
_SPLITS = {"train": ("train",), "dev": ("dev", "valid", "validation"), "test": ("test",)}
_ENDINGS = (".txt", ".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class RelationExample:
    """One sentence with two entities.

    Attributes:
        text: The text as it is in the file (markers included), for prediction files.
        clean: The text without the entity markers; ``head``/``tail`` index into it.
        head: ``(start, end)`` characters of the head entity in ``clean`` (end exclusive).
        tail: ``(start, end)`` of the tail entity.
        label: The relation label, or None (a file read without labels).
        line: Line of the row in its file (JSONL: the line; CSV/TSV: header = line 1).
    """

    text: str
    clean: str
    head: tuple[int, int]
    tail: tuple[int, int]
    label: str | None
    line: int


@dataclass
class RelationSplit:
    """The examples of one file and what was skipped.

    Attributes:
        path: The file.
        examples: The valid rows, in file order.
        skipped: Skipped rows by reason (``on_invalid="skip"``).
    """

    path: Path
    examples: list[RelationExample]
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def labels(self) -> list[str | None]:
        """The label of every example."""
        return [ex.label for ex in self.examples]


@dataclass(frozen=True)
class LabelVocab:
    """Relation labels and their ids.

    Attributes:
        labels: The labels; a declared negative label comes first, the others sorted.
        negative_label: The "no relation" label, or None.
    """

    labels: tuple[str, ...]
    negative_label: str | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        """Id of ``label`` (``KeyError`` when unknown)."""
        return {name: i for i, name in enumerate(self.labels)}[label]

    def ids(self, labels: Sequence[str | None]) -> list[int]:
        """Ids of ``labels`` (all must be known)."""
        table = {name: i for i, name in enumerate(self.labels)}
        return [table[str(label)] for label in labels]


@dataclass
class RelationData:
    """Train, dev and test splits with the training label vocabulary."""

    train: RelationSplit
    dev: RelationSplit
    test: RelationSplit
    vocab: LabelVocab

    @property
    def splits(self) -> dict[str, RelationSplit]:
        """``{"train", "dev", "test"}`` → split."""
        return {"train": self.train, "dev": self.dev, "test": self.test}

    def info(self) -> dict[str, object]:
        """Sizes, skipped rows and label counts, for ``results.json``."""
        return {
            "labels": list(self.vocab.labels),
            "negative_label": self.vocab.negative_label,
            "sizes": {name: len(split) for name, split in self.splits.items()},
            "skipped": {name: dict(split.skipped) for name, split in self.splits.items()},
            "label_counts": {
                name: dict(sorted(Counter(split.labels).items()))
                for name, split in self.splits.items()
            },
        }


# ------------------------------------------------------------------------------- entities


class _RowError(Exception):
    """A bad row: ``reason`` (counted when skipping) and the message's detail and fix."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _occurrences(text: str, marker: str, *, opening: bool) -> list[int]:
    """Start indices of ``marker``; those standing apart from words when any do."""
    found, start = [], text.find(marker)
    while start >= 0:
        found.append(start)
        start = text.find(marker, start + 1)
    end_of = len(marker)

    def apart(i: int) -> bool:
        if opening:
            after = i + end_of
            return (i == 0 or text[i - 1].isspace() or not text[i - 1].isalnum()) and (
                after < len(text) and text[after].isspace()
            )
        before = i - 1
        after = i + end_of
        return (before >= 0 and text[before].isspace()) and (
            after >= len(text) or not text[after].isalnum()
        )

    strict = [i for i in found if apart(i)]
    return strict if strict else found


def _marker_span(text: str, pair: tuple[str, str], which: str) -> tuple[int, int, int, int]:
    """``(open, open_end, close, close_end)`` character positions of one marker pair."""
    opener, closer = pair
    opens = _occurrences(text, opener, opening=True)
    if not opens:
        raise _RowError(
            "missing_marker",
            f"the {which} entity marker {opener!r} is missing; wrap the {which} entity as "
            f"'{opener} entity {closer}'",
        )
    if len(opens) > 1:
        raise _RowError(
            "duplicate_marker",
            f"the {which} entity marker {opener!r} occurs {len(opens)} times; mark exactly one "
            f"{which} entity per row (one row per entity pair)",
        )
    start = opens[0]
    closes = [i for i in _occurrences(text, closer, opening=False) if i >= start + len(opener)]
    if not closes:
        raise _RowError(
            "unbalanced_marker",
            f"the {which} entity opened by {opener!r} is never closed by {closer!r} after it",
        )
    close = closes[0]
    return start, start + len(opener), close, close + len(closer)


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _from_markers(
    text: str, head_markers: tuple[str, str], tail_markers: tuple[str, str]
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    h = _marker_span(text, head_markers, "head")
    t = _marker_span(text, tail_markers, "tail")
    cuts = sorted([(h[0], h[1]), (h[2], h[3]), (t[0], t[1]), (t[2], t[3])])
    for (_, a1), (b0, _) in zip(cuts, cuts[1:], strict=False):
        if b0 < a1:
            raise _RowError("unbalanced_marker", "entity markers overlap each other")
    inner = (h[1] < t[0] < h[2]) != (h[1] < t[2] < h[2])
    inner |= (t[1] < h[0] < t[2]) != (t[1] < h[2] < t[2])
    if inner:
        raise _RowError(
            "unbalanced_marker",
            "the head and tail markers cross (one entity opens inside the other and closes "
            "outside it); nest them properly or mark separate spans",
        )
    # Remove the markers; map the entity boundaries into the clean text.
    pieces, clean_pos, last, position = [], 0, 0, {}
    for start, end in cuts:
        pieces.append(text[last:start])
        clean_pos += start - last
        position[start] = clean_pos
        last = end
    pieces.append(text[last:])
    clean = "".join(pieces)
    head = _strip_span(clean, position[h[0]], position[h[2]])
    tail = _strip_span(clean, position[t[0]], position[t[2]])
    for name, (a, b) in (("head", head), ("tail", tail)):
        if a >= b:
            raise _RowError("empty_entity", f"the {name} entity between its markers is empty")
    return clean, head, tail


def _from_placeholders(
    text: str, placeholders: Sequence[str]
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    hits: list[tuple[int, int]] = []
    for ph in sorted(set(placeholders), key=len, reverse=True):  # longest first
        start = text.find(ph)
        while start >= 0:
            end = start + len(ph)
            if not any(a < end and start < b for a, b in hits):
                hits.append((start, end))
            start = text.find(ph, end)
    hits.sort()
    if len(hits) != 2:
        reason = "missing_marker" if len(hits) < 2 else "duplicate_marker"
        raise _RowError(
            reason,
            f"found {len(hits)} entity placeholder(s) of {list(placeholders)}, expected exactly 2 "
            "(the head first, then the tail); set data.placeholders to the ones the file uses",
        )
    return text, hits[0], hits[1]


def parse_entities(
    text: str,
    cfg: RelationDataConfig,
    offsets: tuple[int, int, int, int] | None = None,
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """``(clean text, head span, tail span)`` of one row, as ``cfg.entities`` says.

    Raises:
        DataFormatError: The entities cannot be found (the message says why and how to fix it).
    """
    try:
        return _parse(text, cfg, offsets)
    except _RowError as err:
        raise DataFormatError(err.detail) from None


def _parse(
    text: str, cfg: RelationDataConfig, offsets: tuple[int, int, int, int] | None
) -> tuple[str, tuple[int, int], tuple[int, int]]:
    if not text.strip():
        raise _RowError("empty_text", "the sentence is empty")
    if cfg.entities == "markers":
        return _from_markers(text, cfg.head_markers, cfg.tail_markers)
    if cfg.entities == "placeholders":
        return _from_placeholders(text, cfg.placeholders)
    assert offsets is not None
    hs, he, ts, te = offsets
    for name, (a, b) in (("head", (hs, he)), ("tail", (ts, te))):
        if not 0 <= a < b <= len(text):
            raise _RowError(
                "bad_offsets",
                f"{name} offsets [{a}, {b}) are out of range for a text of {len(text)} "
                "characters (0 <= start < end <= length, end exclusive)",
            )
    return text, (hs, he), (ts, te)


# ---------------------------------------------------------------------------------- reading


def _file_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    if base.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if base.endswith(".csv"):
        return "csv"
    if base.endswith(".tsv"):
        return "tsv"
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                first = line.lstrip()
                return "jsonl" if first.startswith("{") else ("tsv" if "\t" in line else "csv")
    return "jsonl"


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, object] | None, str]]:
    """``(line, row or None, parse error)`` of each non-blank line."""
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                yield number, None, f"is not valid JSON ({err.msg} at column {err.colno})"
                continue
            if not isinstance(row, dict):
                yield number, None, "is not a JSON object"
                continue
            yield number, row, ""


def _table_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, object] | None, str]]:
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter="," if fmt == "csv" else "\t")
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DataFormatError(
                f"{path} line 1 cannot be parsed as {fmt.upper()}: {err}"
            ) from None
        header = [h.strip() for h in header]
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise DataFormatError(
                    f"{path} line {reader.line_num} cannot be parsed as {fmt.upper()} ({err}); "
                    "check the quoting (an unclosed quote?)"
                ) from None
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != len(header):
                yield line, None, f"has {len(cells)} cells but the header has {len(header)}"
                continue
            yield line, dict(zip(header, cells, strict=True)), ""


def _columns(path: Path, row: dict[str, object], cfg: RelationDataConfig) -> str:
    if cfg.text_col is not None:
        if cfg.text_col not in row:
            raise DataFormatError(
                f"{path} has no column {cfg.text_col!r} (data.text_col); it has "
                f"{sorted(row)}. Set data.text_col to the sentence column"
            )
        return cfg.text_col
    for name in _TEXT_COLS:
        if name in row:
            return name
    raise DataFormatError(
        f"{path} has neither a 'text' nor a 'sentence' column (it has {sorted(row)}); set "
        "data.text_col to the sentence column"
    )


def read_relation_file(
    path: str | Path, cfg: RelationDataConfig, *, require_label: bool = True
) -> RelationSplit:
    """Read one file into a :class:`RelationSplit` (labels are not checked against a vocab).

    Args:
        path: A JSONL, CSV or TSV file (optionally ``.gz``).
        cfg: Columns, entity format, ``on_invalid``.
        require_label: Whether every row needs a label (False: the label column may be absent,
            e.g. for prediction).

    Raises:
        DataFormatError: A bad row with ``on_invalid="raise"`` (the message names the file, the
            line and the fix), a missing column, or a file without any valid row.
        DataFileNotFoundError: No such file.
    """
    path = check_file(path, what="relation data file")
    fmt = _file_format(path, cfg.format)
    rows = _jsonl_rows(path) if fmt == "jsonl" else _table_rows(path, fmt)
    examples: list[RelationExample] = []
    skipped: Counter[str] = Counter()
    text_col: str | None = None
    for line, row, problem in rows:
        where = f"{path} line {line}"
        try:
            if row is None:
                raise _RowError("unreadable_row", f"the row {problem}")
            if text_col is None:
                text_col = _columns(path, row, cfg)
            examples.append(_example(row, text_col, cfg, line, require_label=require_label))
        except _RowError as err:
            if cfg.on_invalid == "raise":
                raise DataFormatError(
                    f"{where}: {err.detail} (data.on_invalid=skip skips such rows and counts them)"
                ) from None
            skipped[err.reason] += 1
    if not examples:
        why = f" (skipped: {dict(skipped)})" if skipped else ""
        raise DataFormatError(f"{path} holds no valid relation example{why}")
    return RelationSplit(path, examples, dict(sorted(skipped.items())))


def _example(
    row: dict[str, object],
    text_col: str,
    cfg: RelationDataConfig,
    line: int,
    *,
    require_label: bool,
) -> RelationExample:
    text = row.get(text_col)
    if not isinstance(text, str):
        raise _RowError("empty_text", f"the {text_col!r} value is not a string")
    label_value = row.get(cfg.label_col)
    if label_value is None or (isinstance(label_value, str) and not label_value.strip()):
        if require_label:
            raise _RowError(
                "missing_label",
                f"the row has no {cfg.label_col!r} label (data.label_col names the column)",
            )
        label = None
    else:
        label = str(label_value).strip()
    offsets = None
    if cfg.entities == "offsets":
        offsets = _offsets(row, cfg)
    clean, head, tail = _parse(text, cfg, offsets)
    return RelationExample(text, clean, head, tail, label, line)


def _offsets(row: dict[str, object], cfg: RelationDataConfig) -> tuple[int, int, int, int]:
    values = []
    for col in cfg.offset_cols:
        if col not in row:
            raise _RowError(
                "bad_offsets", f"the column {col!r} is missing (data.offset_cols names them)"
            )
        value = row[col]
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise _RowError(
                "bad_offsets", f"{col}={value!r} is not an integer character offset"
            ) from None
        values.append(number)
    return values[0], values[1], values[2], values[3]


# ---------------------------------------------------------------------------- vocab, splits


def build_label_vocab(train: RelationSplit, negative_label: str | None = None) -> LabelVocab:
    """The labels of the training split (sorted), with ``negative_label`` first when declared."""
    found = sorted({str(label) for label in train.labels if label is not None} - {negative_label})
    labels = ([negative_label] if negative_label is not None else []) + found
    return LabelVocab(tuple(labels), negative_label)


def check_labels(split: RelationSplit, vocab: LabelVocab, on_invalid: str) -> RelationSplit:
    """``split`` with every label in ``vocab``; unknown ones raise, or are skipped and counted.

    Raises:
        DataFormatError: An unknown label and ``on_invalid="raise"``.
    """
    known = set(vocab.labels)
    kept: list[RelationExample] = []
    unknown = 0
    for ex in split.examples:
        if ex.label is None or ex.label in known:
            kept.append(ex)
            continue
        if on_invalid == "raise":
            raise DataFormatError(
                f"{split.path} line {ex.line}: the label {ex.label!r} does not occur in the "
                f"training file (labels: {', '.join(vocab.labels)}). Fix the label, add training "
                "examples of it, or set data.on_invalid=skip to drop such rows"
            )
        unknown += 1
    skipped = dict(split.skipped)
    if unknown:
        skipped["unknown_label"] = skipped.get("unknown_label", 0) + unknown
    if not kept:
        raise DataFormatError(f"{split.path} holds no example with a training label")
    return RelationSplit(split.path, kept, dict(sorted(skipped.items())))


def _find_split(folder: Path, split: str) -> Path | None:
    for stem in _SPLITS[split]:
        for ending in _ENDINGS:
            for suffix in (ending, ending + ".gz"):
                candidate = folder / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
    return None


def relation_files(cfg: RelationDataConfig) -> dict[str, Path]:
    """``{"train", "dev", "test"}`` → resolved file path.

    Raises:
        DataFileNotFoundError: A file (or the folder, or a split file in it) does not exist.
    """
    if cfg.folder is not None:
        folder = cfg.resolve(cfg.folder)
        if not folder.is_dir():
            raise missing_file(cfg.folder, what="relation data folder", data_root=cfg.root())
        out: dict[str, Path] = {}
        for split in _SPLITS:
            found = _find_split(folder, split)
            if found is None:
                names = "/".join(_SPLITS[split])
                raise missing_file(
                    folder / f"{_SPLITS[split][0]}.txt",
                    what=f"{split} file",
                    hint=f"{folder} needs a {names} file ending in {', '.join(_ENDINGS)} "
                    "(optionally .gz), or give data.train/dev/test",
                )
            out[split] = found
        return out
    out = {}
    for split in _SPLITS:
        given = getattr(cfg, split)
        resolved = cfg.resolve(given)
        if not resolved.is_file():
            raise missing_file(given, what=f"{split} file (data.{split})", data_root=cfg.root())
        out[split] = resolved
    return out


def load_relation_data(cfg: RelationDataConfig) -> RelationData:
    """Read train, dev and test; build the vocabulary on train; check dev/test labels.

    Raises:
        DataFormatError, DataFileNotFoundError: As :func:`read_relation_file` and
            :func:`check_labels`.
    """
    files = relation_files(cfg)
    train = read_relation_file(files["train"], cfg)
    vocab = build_label_vocab(train, cfg.negative_label)
    dev = check_labels(read_relation_file(files["dev"], cfg), vocab, cfg.on_invalid)
    test = check_labels(read_relation_file(files["test"], cfg), vocab, cfg.on_invalid)
    return RelationData(train, dev, test, vocab)
