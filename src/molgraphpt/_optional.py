"""The one place optional packages are imported, with an install hint when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from molgraphpt.errors import MissingDependencyError


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the pip extra.

    Args:
        module: Importable module name, e.g. ``"ogb.graphproppred"``.
        extra: The molgraphpt extra that installs it, e.g. ``"ogb"``.
        feature: What the user tried to do, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{feature} needs the optional package {module.split('.')[0]!r}, which is not "
            f"installed ({err}). Install it with: pip install 'molgraphpt[{extra}]'"
        ) from err
