"""Record the runs that the architecture step must leave bit-identical.

Runs, on this machine, with fixed seeds:
  * a 2-epoch, 1-seed BBBP fine-tune (MoleculeNet CSV under --data-root),
  * the ``tiny`` graph pretraining config (20 steps of attr_mask),
  * the ``tiny_moltext`` config (20 steps, MiniLM-L6 offline).
For each it writes the metrics and a SHA-256 of every saved tensor, in the order the model holds
them, to ``--out`` (JSON). Run it before and after a refactor and compare with ``compare.py``.

    python benchmarks/refactor_check/record.py --data-root ../shared/data --out before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tensor_hashes(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    state = load_file(str(model_dir / "model.safetensors"))
    # The values in the order they were written (key names may change between layouts).
    ordered = hashlib.sha256()
    per_tensor = {}
    for key in sorted(state):
        t = state[key].contiguous()
        digest = hashlib.sha256(t.numpy().tobytes()).hexdigest()
        per_tensor[key] = digest
    for digest in sorted(per_tensor.values()):
        ordered.update(digest.encode())
    return {"num_tensors": len(state), "values_sha256": ordered.hexdigest(), "tensors": per_tensor}


def run(args: list[str]) -> None:
    cmd = [str(Path(sys.executable).parent / "molgraphpt"), *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = f"data.cache_dir={tmp / 'cache'}"
        run(["finetune", "--config", "configs/finetune/bbbp.yaml", "--data-root", a.data_root,
             "--run-dir", str(tmp / "bbbp"), "--seeds", "0", "train.epochs=2", cache])
        res = json.loads((tmp / "bbbp" / "results.json").read_text())
        out["bbbp_2ep"] = {
            "seeds": [{k: s[k] for k in ("seed", "valid", "test", "best_epoch")} for s in res["seeds"]],
            "weights": tensor_hashes(tmp / "bbbp" / "seed_0" / "model"),
        }
        for name in ("tiny", "tiny_moltext"):
            run(["pretrain", "--config", f"configs/pretrain/{name}.yaml",
                 "--run-dir", str(tmp / name), cache])
            summary = json.loads((tmp / name / "pretrain.json").read_text())
            out[name] = {
                "steps": summary["steps"],
                "final_train": summary["final_train"],
                "final_valid": summary["final_valid"],
                "weights": tensor_hashes(tmp / name / "model"),
            }
            if (tmp / name / "model" / "text").is_dir():
                out[name]["text_weights"] = tensor_hashes(tmp / name / "model" / "text")
    Path(a.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
