"""What identifies a run and what it takes to rerun it: config fingerprint, command, data hashes.

* :func:`fingerprint` — SHA-256 of the canonical JSON of a resolved config from which the keys
  that do not change results were removed (:func:`without_keys`); a run directory belongs to
  one fingerprint (:mod:`molgraphpt.recipes.run_dir`).
* :func:`config_changes` — ``key: old → new`` lines between two configs, for the error that
  refuses a rerun with another config.
* :func:`provenance` — command line, working directory, library versions and git revision,
  written into ``results.json``, ``pretrain.json`` and checkpoint ``meta.json``.
* :func:`file_hashes` — SHA-256 of input files (streamed), the data half of "same inputs".
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from molgraphpt.data.cache import file_sha256
from molgraphpt.provenance import git_revision, versions

__all__ = [
    "command_line",
    "config_changes",
    "file_hashes",
    "fingerprint",
    "flatten",
    "provenance",
    "without_keys",
]

_MAX_SHOWN = 12  # changed keys listed in an error message


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configs give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def fingerprint(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``config``."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def without_keys(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of the nested ``config`` without the dotted ``keys`` (``"train.progress"``)."""
    out: dict[str, Any] = json.loads(canonical_json(config))  # a deep, plain copy
    for key in keys:
        *parents, leaf = key.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train.lr": 0.001, "objectives.0.name": "attr_mask", ...}`` of a nested config."""
    if isinstance(config, Mapping):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in config.items())
    elif isinstance(config, (list, tuple)) and config:
        items = ((str(i), v) for i, v in enumerate(config))
    else:
        return {prefix: config}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``["train.epochs: 1 → 3", ...]``: every leaf that differs (``(absent)`` when missing)."""
    a, b = flatten(json.loads(canonical_json(old))), flatten(json.loads(canonical_json(new)))
    lines = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if before != after:
            lines.append(f"{key}: {_show(before)} → {_show(after)}")
    if len(lines) > _MAX_SHOWN:
        lines = [*lines[:_MAX_SHOWN], f"... and {len(lines) - _MAX_SHOWN} more"]
    return lines


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _show(value: Any) -> str:
    return repr(value) if value is _ABSENT else json.dumps(value, ensure_ascii=False)


def command_line() -> str:
    """This process's command line (``sys.argv``), shell-quoted."""
    return shlex.join(sys.argv) if sys.argv and sys.argv[0] else sys.executable


def provenance() -> dict[str, Any]:
    """``command``, ``cwd``, ``versions``, ``git_revision``: what a rerun needs besides config."""
    return {
        "command": command_line(),
        "cwd": os.getcwd(),
        "versions": versions(),
        "git_revision": git_revision(),
    }


def file_hashes(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, str]]:
    """``[{"path", "sha256"}]`` of the existing files among ``paths`` (streamed, in order)."""
    return [
        {"path": str(path), "sha256": file_sha256(path)} for path in paths if Path(path).is_file()
    ]
