"""Pair sources: spec normalization, :func:`load_pairs` (one source) and :func:`read_smiles`.

A source is a path or a :class:`~molgraphpt.data.config.PairSourceConfig` (its ``path``,
``format``, ``smiles_col`` and ``text_col``); :func:`load_pairs` and :func:`read_smiles` also take
a mapping with those keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from molgraphpt.data.config import PairSourceConfig
from molgraphpt.data.corpus import expand_sources
from molgraphpt.data.tables import check_file, open_text
from molgraphpt.data.text.readers import (
    _SMILES_NAMES,
    PAIR_FORMATS,
    PairTable,
    _cell,
    _find_column,
    _iter_delimited,
    _iter_jsonl,
    detect_format,
    read_pairs,
)
from molgraphpt.data.text.templates import DEFAULT_TEMPLATES, read_lpm24_props
from molgraphpt.errors import ConfigError, UnknownNameError

__all__ = ["PairSpec", "load_pairs", "read_smiles"]

_SPEC_KEYS = ("path", "format", "smiles_col", "text_col")


#: One pair file: a path (format and columns detected) or a typed source.
PairSpec = str | os.PathLike[str] | PairSourceConfig


def _normalize_spec(spec: PairSpec | Mapping[str, Any]) -> dict[str, Any]:
    """``{path, format, smiles_col, text_col}`` with the format resolved (not ``auto``).

    A :class:`PairSourceConfig` gives its four fields (its ``max_pairs`` is a selection option,
    see :func:`~molgraphpt.data.text.select_pairs`); a mapping may hold those four keys.
    """
    if isinstance(spec, PairSourceConfig):
        out = {
            "path": spec.path,
            "format": spec.format,
            "smiles_col": spec.smiles_col,
            "text_col": spec.text_col,
        }
    elif isinstance(spec, Mapping):
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
            "sources",
            spec,
            expected="a path, a PairSourceConfig or a dict {path, format, smiles_col, text_col}",
        )
    out["path"] = str(Path(out["path"]).expanduser())
    out["format"] = out["format"] or "auto"
    if out["format"] not in (*PAIR_FORMATS, "smi"):
        raise UnknownNameError("pair file format", str(out["format"]), choices=PAIR_FORMATS)
    check_file(
        out["path"],
        what="pair file",
        hint="Check the path (--pairs of molgraphpt retrieval, or path: of a data.pairs entry, "
        "relative to data.data_root).",
    )
    if out["format"] == "auto":
        out["format"] = detect_format(out["path"])
    return out


def load_pairs(
    path_or_spec: PairSpec | Mapping[str, Any],
    *,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    seed: int = 0,
    max_phrases: int | None = None,
    on_empty: Literal["skip", "raise"] = "skip",
) -> PairTable:
    """Read one pair source: a path, a :class:`PairSourceConfig` or a spec mapping.

    A spec mapping has the keys ``{path, format, smiles_col, text_col}`` (``path`` required).

    ``format`` is ``auto`` (default; see :func:`detect_format`), ``csv``, ``tsv``, ``jsonl`` or
    ``lpm24_props``; ``templates``, ``seed`` and ``max_phrases`` apply to ``lpm24_props`` only,
    ``on_empty`` (a row with an empty SMILES or text: ``skip`` and count, or ``raise``) to the
    others (see :func:`read_pairs`).

    Raises:
        DataFileNotFoundError: No such file (the message says where a relative path was looked
            for).
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
        on_empty=on_empty,
    )


def read_smiles(path_or_spec: PairSpec | Mapping[str, Any]) -> list[str]:
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
    for header, _, _, cells in _iter_delimited(path, fmt):
        if idx < 0:
            idx = header.index(
                _find_column(header, spec["smiles_col"], _SMILES_NAMES, "smiles", path)
            )
        out.append(cells[idx].strip())
    return out


def _exclusion_specs(exclude: Sequence[PairSpec]) -> list[dict[str, Any]]:
    """Exclusion entries as specs; a folder stands for its data files (see ``expand_sources``)."""
    specs = []
    for entry in exclude:
        if isinstance(entry, (Mapping, PairSourceConfig)):
            specs.append(_normalize_spec(entry))
        elif isinstance(entry, (str, os.PathLike)) and Path(entry).expanduser().is_dir():
            specs += [_normalize_spec(p) for p in expand_sources([entry])]
        else:
            specs.append(_normalize_spec(entry))
    return specs
