"""The tiny runs that pin "nothing measured changes" across refactors (see test_bit_identical.py).

:func:`run_all` runs, in this process through the CLI entry point, with fixed seeds:

* ``finetune``: the embedded BBBP set, 1 seed, 2 epochs, a 2-layer 32-wide GIN;
* ``pretrain``: ``configs/pretrain/tiny.yaml`` (20 steps of attribute masking);
* ``moltext``: ``configs/pretrain/tiny_moltext.yaml`` with the tiny random BERT of
  ``tests/conftest.py`` instead of MiniLM, 10 steps.

and returns their metrics and a SHA-256 of every saved tensor (sorted digests, so the value does
not depend on state-dict key names, which a refactor may change). Record the expected values with
the code *before* a refactor::

    python -m tests.integration.bit_identical_runs tests/data/golden/architecture_step.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def tensor_digest(model_dir: Path) -> str:
    """SHA-256 over the sorted SHA-256s of every tensor in ``model_dir/model.safetensors``."""
    from safetensors.torch import load_file

    state = load_file(str(model_dir / "model.safetensors"))
    digests = sorted(
        hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest() for t in state.values()
    )
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    import rdkit
    import torch
    import torch_geometric
    import transformers

    return {
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "rdkit": rdkit.__version__,
        "transformers": transformers.__version__,
    }


def _cli(*args: str) -> None:
    from molgraphpt.cli.main import main

    code = main(list(args))
    if code:
        raise RuntimeError(f"molgraphpt {' '.join(args)} exited {code}")


def run_all(work: Path) -> dict[str, Any]:
    """Run the three tiny runs under ``work`` and return their metrics and tensor digests."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import build_tiny_text_model

    cache = f"data.cache_dir={work / 'cache'}"
    out: dict[str, Any] = {"versions": library_versions()}
    _cli(
        "finetune", "--config", str(ROOT / "configs/finetune/embedded.yaml"),
        "--run-dir", str(work / "ft"), "--seeds", "0", "train.epochs=2",
        "model.encoder.hidden_dim=32", "model.encoder.num_layers=2", cache,
    )  # fmt: skip
    res = json.loads((work / "ft" / "results.json").read_text())
    seed = res["seeds"][0]
    out["finetune"] = {
        "valid": seed["valid"],
        "test": seed["test"],
        "best_epoch": seed["best_epoch"],
        "weights": tensor_digest(work / "ft" / "seed_0" / "model"),
    }
    text_dir = build_tiny_text_model(work / "tiny_bert")
    runs = {
        "pretrain": ("tiny.yaml", []),
        "moltext": (
            "tiny_moltext.yaml",
            [f"text.name_or_path={text_dir}", "train.max_steps=10", "text.freeze_layers=1"],
        ),
    }
    for name, (config, extra) in runs.items():
        _cli(
            "pretrain", "--config", str(ROOT / "configs/pretrain" / config),
            "--run-dir", str(work / name), f"data.data_root={ROOT}", cache, *extra,
        )  # fmt: skip
        summary = json.loads((work / name / "pretrain.json").read_text())
        out[name] = {
            "steps": summary["steps"],
            "final_train": summary["final_train"],
            "final_valid": summary["final_valid"],
            "weights": tensor_digest(work / name / "model"),
        }
    return out


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        result = run_all(Path(tmp))
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result, indent=1, sort_keys=True))
