"""molgraphpt: pretrain molecular graph encoders jointly with text encoders, then fine-tune them.

Importing the package defines names only: no logging configuration, no RDKit log silencing,
no heavy imports (torch, transformers) until a submodule that needs them is imported.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
