"""L+M-24 property phrases into sentences: the templates, the articles and the file reader.

The templates, the seeded phrase order and the article rules are documented in the
:mod:`molgraphpt.data.text` docstring.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from molgraphpt.data.tables import open_text
from molgraphpt.data.text.readers import PairTable
from molgraphpt.errors import ConfigError, DataFormatError
from molgraphpt.seed import derive_seed

__all__ = ["DEFAULT_TEMPLATES", "indefinite_article", "phrases_to_text", "read_lpm24_props"]

#: Templates that turn L+M-24 phrase lists into sentences (see :mod:`molgraphpt.data.text`).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "The molecule is {a_list}.",
    "This compound is known as {a_list}.",
    "It has the following properties: {list}.",
    "The molecule is associated with {list}.",
    "This molecule is relevant to {list}.",
    "Known properties and uses of this compound: {list}.",
)

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
            f"line {row + 1} of {path}: expected a set of phrase strings after the tab, got "
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

    See the :mod:`molgraphpt.data.text` docstring for the templates and the seeded phrase order.
    Rows with no phrase are skipped.

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
                    f"line {row + 1} of {path} is not 'SMILES<TAB>{{'phrase', ...}}': "
                    f"{line[:120]!r}"
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
