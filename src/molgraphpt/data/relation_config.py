"""The data section of a relation-extraction run (``RelationFinetuneConfig.data``).

Imports nothing of the data layer (no torch), so the config schema loads it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from molgraphpt.data.config import data_root
from molgraphpt.errors import ConfigError

__all__ = ["ENTITY_FORMATS", "RelationDataConfig"]

ENTITY_FORMATS: tuple[str, ...] = ("markers", "placeholders", "offsets")
FILE_FORMATS: tuple[str, ...] = ("auto", "jsonl", "csv", "tsv")


@dataclass(frozen=True)
class RelationDataConfig:
    """Where the sentences are and how their two entities are written.

    Args:
        train: Training file (JSONL, CSV or TSV, optionally ``.gz``); relative paths resolve
            against the data root. The label vocabulary is built from it.
        dev: Validation file (model selection).
        test: Test file.
        folder: Instead of the three paths: a folder holding ``train.*``, ``dev.*`` (or
            ``valid.*``) and ``test.*`` with one of the endings ``.txt``, ``.jsonl``, ``.csv``,
            ``.tsv`` (optionally ``.gz``).
        data_root: Folder relative paths resolve against (else ``$MOLGRAPHPT_DATA``, else
            ``./data``).
        format: ``"auto"`` (by extension; ``.txt`` by content), ``"jsonl"``, ``"csv"``,
            ``"tsv"``.
        text_col: Column (JSON key) of the sentence; None: ``text``, else ``sentence``.
        label_col: Column (JSON key) of the relation label.
        entities: How the two entities are given: ``"markers"`` (wrapped in ``head_markers``
            and ``tail_markers`` inside the text, SciBERT's ChemProt files), ``"placeholders"``
            (the entities replaced by ``@CHEMICAL$``-style tokens, BLURB's files; the first
            occurrence is the head) or ``"offsets"`` (character offsets in ``offset_cols``,
            end exclusive).
        head_markers: Opening and closing marker of the head entity (default ChemProt's).
        tail_markers: Opening and closing marker of the tail entity.
        placeholders: The placeholder strings of ``entities: placeholders``.
        offset_cols: Columns ``head_start, head_end, tail_start, tail_end``.
        negative_label: The "no relation" label (e.g. ``false``), if the data have one; it is
            always part of the label vocabulary, and micro-F1 over the other labels is reported
            (BLURB convention).
        max_length: Tokens per sentence, special tokens included (a window around the two
            entities is kept when a sentence is longer).
        on_invalid: ``"raise"`` a :class:`~molgraphpt.errors.DataFormatError` at the first bad
            row, or ``"skip"`` bad rows and count them.

    Raises:
        ConfigError: Neither the three files nor ``folder`` are given, or a value is out of
            range.
    """

    train: str | None = None
    dev: str | None = None
    test: str | None = None
    folder: str | None = None
    data_root: str | None = None
    format: Literal["auto", "jsonl", "csv", "tsv"] = "auto"
    text_col: str | None = None
    label_col: str = "label"
    entities: Literal["markers", "placeholders", "offsets"] = "markers"
    head_markers: tuple[str, str] = ("<<", ">>")
    tail_markers: tuple[str, str] = ("[[", "]]")
    placeholders: tuple[str, ...] = ("@CHEMICAL$", "@GENE$", "@DRUG$")
    offset_cols: tuple[str, str, str, str] = ("head_start", "head_end", "tail_start", "tail_end")
    negative_label: str | None = None
    max_length: int = 128
    on_invalid: Literal["raise", "skip"] = "raise"

    def __post_init__(self) -> None:
        files = (self.train, self.dev, self.test)
        if self.folder is None and not all(files):
            raise ConfigError(
                "data",
                {"train": self.train, "dev": self.dev, "test": self.test},
                expected="data.train, data.dev and data.test, or data.folder",
                hint="e.g. data.folder: chemprot (holding train.txt, dev.txt, test.txt)",
            )
        if self.folder is not None and any(files):
            raise ConfigError(
                "data.folder",
                self.folder,
                expected="either data.folder or data.train/dev/test, not both",
            )
        if self.entities not in ENTITY_FORMATS:
            raise ConfigError(
                "data.entities", self.entities, expected=f"one of {', '.join(ENTITY_FORMATS)}"
            )
        if self.format not in FILE_FORMATS:
            raise ConfigError("data.format", self.format, expected=f"one of {FILE_FORMATS}")
        markers = (*self.head_markers, *self.tail_markers)
        if any(not isinstance(m, str) or not m.strip() for m in markers):
            raise ConfigError("data.head_markers", markers, expected="four non-empty strings")
        if len(set(markers)) != 4:
            raise ConfigError(
                "data.tail_markers",
                self.tail_markers,
                expected="markers different from each other and from data.head_markers",
            )
        if self.entities == "placeholders" and not self.placeholders:
            raise ConfigError("data.placeholders", [], expected="at least one placeholder")
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int):
            raise ConfigError("data.max_length", self.max_length, expected="an integer >= 8")
        if self.max_length < 8:
            raise ConfigError("data.max_length", self.max_length, expected="an integer >= 8")
        if self.on_invalid not in ("raise", "skip"):
            raise ConfigError("data.on_invalid", self.on_invalid, expected="raise or skip")

    def root(self) -> Path:
        """The folder relative paths resolve against."""
        return data_root(self.data_root or None).expanduser()

    def resolve(self, path: str) -> Path:
        """``path`` kept if absolute, else under :meth:`root`.

        A relative path that exists only under the current directory is taken from there.
        """
        candidate = Path(path).expanduser()
        if candidate.is_absolute():
            return candidate
        rooted = self.root() / candidate
        return candidate if not rooted.exists() and candidate.exists() else rooted
