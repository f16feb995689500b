"""Refactors change nothing measured: tiny fine-tuning and pretraining runs give the metrics and
weights recorded with the code before the architecture step (tests/data/golden/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.bit_identical_runs import library_versions, run_all

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "architecture_step.json"


@pytest.mark.integration
def test_tiny_runs_are_bit_identical_to_the_recorded_ones(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    if expected["versions"] != library_versions():
        pytest.skip(
            f"recorded with {expected['versions']}, running {library_versions()}: bitwise "
            "equality only holds for the same libraries (rerecord with bit_identical_runs.py)"
        )
    got = json.loads(json.dumps(run_all(tmp_path)))  # the same float round trip as the file
    for run in ("finetune", "pretrain", "moltext"):
        assert got[run] == expected[run], run
