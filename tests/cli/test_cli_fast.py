"""Argument errors and --help answer at once: no torch, PyG or transformers import."""

from __future__ import annotations

import subprocess
import sys
import time

HEAVY = ("torch", "torch_geometric", "transformers", "rdkit")


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    return done, time.perf_counter() - start


def test_bad_seeds_fail_in_well_under_two_seconds():
    done, seconds = _run("-m", "molgraphpt", "finetune", "--seeds", "x")
    assert done.returncode == 2 and "argument --seeds" in done.stderr
    assert seconds < 2.0, f"took {seconds:.2f} s"


def test_parsing_bad_arguments_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from molgraphpt.cli.main import build_parser, parse_args\n"
        "for argv in (['finetune', '--seeds', 'x'], ['pretrain', '--bogus'], ['--help']):\n"
        "    try:\n"
        "        parse_args(build_parser(), argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done, _ = _run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_help_imports_no_torch():
    done, _ = _run("-X", "importtime", "-m", "molgraphpt", "--help")
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
