"""Small file helpers shared by every layer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_json_atomic(
    path: str | os.PathLike[str], data: Any, *, default: Callable[[Any], Any] | None = None
) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves the previous file
    intact. ``default`` is :func:`json.dumps`'s (e.g. ``str`` for paths and numpy scalars).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=default))
    os.replace(tmp, path)
    return path


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The directory caches live in (argument, then ``$MOLGRAPHPT_CACHE``, then ``~/.cache``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MOLGRAPHPT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "molgraphpt"
