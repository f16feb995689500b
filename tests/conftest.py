"""Shared fixtures: small real molecules, hand-checked edge cases, paths to test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA_DIR = Path(__file__).parent / "data"

# A 1-atom molecule, aromatic rings, a salt (two fragments), stereo, charges, a dummy atom.
SMILES = [
    "C",
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "[Na+].[Cl-]",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "*C(=O)O",
]


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never write feature caches into the user's home during tests."""
    monkeypatch.setenv("MOLGRAPHPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
