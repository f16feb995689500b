"""Logging helpers: module loggers, and RDKit log capture scoped to a ``with`` block."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


def get_logger(name: str) -> logging.Logger:
    """Return the logger for a molgraphpt module (handlers are set up only by the CLI)."""
    return logging.getLogger(name)


@contextmanager
def rdkit_log_capture() -> Iterator[None]:
    """Silence RDKit's error and warning log inside the block, and restore it afterwards.

    Unlike ``RDLogger.DisableLog`` at import time (PyG's ``from_smiles``), this does not change
    the user's RDKit logging outside molgraphpt calls: ``rdBase.BlockLogs`` restores the previous
    state, including logs the user had switched off.
    """
    from rdkit import rdBase

    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker
