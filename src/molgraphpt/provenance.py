"""What a result needs to be rerun: library versions and the source revision.

One helper for every writer of provenance (``results.json``, ``pretrain.json``, checkpoint
``meta.json``, retrieval reports, benchmarks), so they all record the same facts.
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

__all__ = ["git_revision", "versions"]


def versions() -> dict[str, str]:
    """Versions of the libraries that determine the numbers (imports them: call after use)."""
    import numpy as np
    import rdkit
    import sklearn
    import torch
    import torch_geometric

    from molgraphpt._version import __version__

    return {
        "molgraphpt": __version__,
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "rdkit": rdkit.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git commit of the molgraphpt source tree (``+dirty`` if changed), or None.

    None for an installed (non-editable) package or where git is unavailable.
    """
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty=+dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
