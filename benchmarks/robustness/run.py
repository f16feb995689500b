"""Robustness benchmark (issue 11): bad inputs, fuzzing, kill/resume, corruption detection.

One command::

    python benchmarks/robustness/run.py [--fuzz-examples 20000] [--kill-trials 5] [--corrupt-trials 4]

writes ``benchmarks/results/robustness.json`` and the "Robustness" section of
``benchmarks/RESULTS.md``. Targets: >= 20,000 fuzzed inputs with 0 unexpected exceptions and 0
calls over 5 s; every corruption detected; every kill resumed bit-identically.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
from common import machine, today, update_results_md, versions, write_json  # noqa: E402


def bad_inputs(work: Path) -> dict:
    """Run every row of the bad-input table (tests/unit/test_bad_inputs.py) once."""
    from tests.unit.test_bad_inputs import CASES, run_case

    passed, failures = 0, []
    for i, case in enumerate(CASES):
        case = getattr(case, "values", [case])[0]  # pytest.param rows
        ok, detail = run_case(case, work / f"case{i}")
        passed += int(ok)
        if not ok:
            failures.append({"id": case.id, "detail": detail})
    return {"bad_input_cases": len(CASES), "bad_input_passed": passed, "bad_input_failures": failures}


def corruptions(work: Path, trials: int) -> dict:
    """Damage a featurized store, a model checkpoint and a training state; count detections."""
    from corruption import run_corruptions

    import molgraphpt
    from molgraphpt.data.featurize import featurize_file
    from molgraphpt.data.store import GraphStore
    from molgraphpt.training.checkpoint import load_training_state

    store_dir = work / "store"
    featurize_file(REPO / "tests" / "data" / "molecules.csv", store_dir, smiles_col="smiles",
                   on_invalid="skip")
    arrays = sorted(p.name for p in store_dir.glob("*.bin"))
    run = work / "ft"
    _tiny_finetune(run)
    model = run / "seed_0" / "model"
    state = _tiny_training_state(work / "state")
    targets = {
        "store": (store_dir, [*arrays, "meta.json"], lambda d: _read_store(GraphStore.open(d))),
        "checkpoint": (model, ["model.safetensors", "meta.json"], molgraphpt.load),
        "training_state": (state.parent, ["last.pt"], lambda d: load_training_state(d / "last.pt")),
    }
    return run_corruptions(targets, work / "scratch", trials)


def _read_store(store) -> None:
    import numpy as np

    from molgraphpt.data.store import assemble_graphs

    assemble_graphs(store, np.arange(len(store)))


def _tiny_finetune(run: Path) -> None:
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import FinetuneConfig
    from molgraphpt.recipes.finetune import run_finetune

    cfg = load_config(FinetuneConfig, None, [
        f"run_dir={run}", "data.dataset=embedded", "train.epochs=1", "seeds=[0]",
        "model.encoder.hidden_dim=32", "model.encoder.num_layers=2", "train.progress=false",
    ])
    run_finetune(cfg)


def _tiny_training_state(folder: Path) -> Path:
    """A real ``last.pt`` written by the training loop's own save function."""
    import torch

    from molgraphpt.training.checkpoint import capture_rng_state, save_training_state

    folder.mkdir(parents=True)
    model = torch.nn.Linear(8, 2)
    opt = torch.optim.Adam(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    model(torch.randn(4, 8)).sum().backward()
    opt.step()
    path = folder / "last.pt"
    save_training_state(path, task=model, optimizer=opt, scheduler=sched, scaler=None, step=3,
                        epoch=0, batch_in_epoch=3, best={}, history=[], rng=capture_rng_state())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=20_000)
    parser.add_argument("--kill-trials", type=int, default=5, help="per kind (finetune, pretrain)")
    parser.add_argument("--corrupt-trials", type=int, default=4, help="per file and damage kind")
    args = parser.parse_args()
    from fuzz import run_fuzz
    from kill_resume import run_trials

    started = time.perf_counter()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="molgraphpt-robustness-") as tmp:
        work = Path(tmp)
        for name, step in (
            ("bad inputs", lambda: bad_inputs(work / "bad")),
            ("corruptions", lambda: corruptions(work / "corrupt", args.corrupt_trials)),
            ("fuzzing", lambda: run_fuzz(args.fuzz_examples)),
            ("kill/resume", lambda: run_trials(work / "kill", args.kill_trials)),
        ):
            t0 = time.perf_counter()
            print(f"{name} ...", flush=True)
            result = step()
            result[f"{name.replace('/', '_').replace(' ', '_')}_seconds"] = round(
                time.perf_counter() - t0, 1)
            out.update(result)
            print({k: v for k, v in result.items() if not isinstance(v, (list, dict))}, flush=True)
    summary = {k: out[k] for k in (
        "bad_input_cases", "bad_input_passed", "fuzz_examples", "fuzz_unexpected_exceptions",
        "fuzz_hangs_over_5s", "kill_resume_trials", "kill_resume_identical",
        "corruptions_tried", "corruptions_detected")}
    payload = {**summary, "details": out, "command": " ".join(sys.argv), "machine": machine(),
               "versions": versions(), "date": today(),
               "wall_s": round(time.perf_counter() - started, 1)}
    path = write_json("robustness", payload)
    _write_md(summary, payload)
    print(f"wrote {path}")


def _write_md(s: dict, payload: dict) -> None:
    body = f"""Command: `python benchmarks/robustness/run.py {' '.join(sys.argv[1:])}` — {payload['date']},
{payload['machine'].get('cpu')} ({payload['machine'].get('cores')} cores), torch
{payload['versions'].get('torch')}, RDKit {payload['versions'].get('rdkit')}; {payload['wall_s']:.0f} s.

| check | result | target |
|---|---|---|
| bad-input table (`tests/unit/test_bad_inputs.py`) | {s['bad_input_passed']} / {s['bad_input_cases']} rows pass | all |
| fuzzed inputs (hypothesis: SMILES, batches, CSV tables, embedder) | {s['fuzz_examples']:,} inputs, {s['fuzz_unexpected_exceptions']} unexpected exceptions, {s['fuzz_hangs_over_5s']} calls over 5 s | ≥ 20,000, 0, 0 |
| SIGKILL + `--resume` (finetune, pretrain; real processes, kill at a random moment after start-up) | {s['kill_resume_identical']} / {s['kill_resume_trials']} kills resumed bit-identically (SHA-256 of `model.safetensors`; {payload['details'].get('kills_after_a_checkpoint', '?')} of them after a `last.pt` was written, the others restarted from scratch) | all |
| corruptions (bit flips, truncation, zeroed blocks, deleted files, newer format; store, checkpoint, `last.pt`) | {s['corruptions_detected']} / {s['corruptions_tried']} detected | all |

Details (every undetected corruption, unexpected exception or slow call) are in
`benchmarks/results/robustness.json`.
"""
    update_results_md("Robustness (issue 11)", body)


if __name__ == "__main__":
    main()
