"""SIGKILL real ``molgraphpt finetune`` / ``pretrain`` processes at random moments, resume them.

Each kind (fine-tuning on the embedded BBBP set, graph pretraining on tests/data/molecules.csv)
is run once uninterrupted as the reference. Each trial starts the same command in a fresh run
directory, kills its whole process group with SIGKILL after a random delay drawn over the
reference's wall time, then reruns it with ``--resume`` until it finishes, and compares the
SHA-256 of the final ``model.safetensors`` with the reference's.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FINETUNE = [
    "finetune", "--config", "configs/finetune/embedded.yaml", "seeds=[0]", "train.epochs=8",
    "model.encoder.hidden_dim=64", "model.encoder.num_layers=3", "train.batch_size=64",
    "train.save_every=5", "train.progress=false",
]
PRETRAIN = [
    "pretrain", "--config", "configs/pretrain/tiny.yaml", "--data-root", str(REPO),
    "train.max_steps=240", "train.save_every=10", "train.eval_every=40",
]
KINDS = {
    "finetune": (FINETUNE, "seed_0/model/model.safetensors", "seed_0/checkpoints/last.pt"),
    "pretrain": (PRETRAIN, "model/model.safetensors", "checkpoints/last.pt"),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _command(args: list[str], run_dir: Path, *, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "molgraphpt", *args, "--run-dir", str(run_dir)]
    return [*cmd, "--resume"] if resume else cmd


def _run_to_end(args: list[str], run_dir: Path, *, resume: bool) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        _command(args, run_dir, resume=resume), cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _killed_run(args: list[str], run_dir: Path, delay_s: float, *, fresh: bool = False) -> bool:
    """Start the run, SIGKILL its process group after ``delay_s``; True if it was still alive.

    ``fresh``: the folder holds a finished run of an earlier attempt; remove it first.
    """
    if fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    proc = subprocess.Popen(
        _command(args, run_dir, resume=False), cwd=REPO, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=delay_s)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def run_trials(work: Path, trials_per_kind: int, seed: int = 0) -> dict:
    """Kill/resume trials of every kind; returns counts and one record per trial."""
    rng = random.Random(seed)
    records, trials, identical = [], 0, 0
    for kind, (args, weights, state) in KINDS.items():
        ref_dir = work / f"{kind}_reference"
        wall = _run_to_end(args, ref_dir, resume=False)
        reference = _sha256(ref_dir / weights)
        for i in range(trials_per_kind):
            run_dir = work / f"{kind}_trial{i}"
            killed, upper = False, 0.95
            for _attempt in range(4):  # a run that ended before its kill is retried, earlier
                delay = rng.uniform(0.45 * wall, upper * wall)  # the first ~6 s import libraries
                killed = _killed_run(args, run_dir, delay, fresh=_attempt > 0)
                if killed:
                    break
                upper = max(0.5, upper - 0.15)
            had_state = (run_dir / state).is_file()
            _run_to_end(args, run_dir, resume=True)
            same = _sha256(run_dir / weights) == reference
            trials += int(killed)
            identical += int(killed and same)
            records.append(
                {"kind": kind, "delay_s": round(delay, 2), "reference_wall_s": round(wall, 1),
                 "killed_while_running": killed, "training_state_at_kill": had_state,
                 "identical": same}
            )
            print(f"  {kind} trial {i}: kill at {delay:.1f}s of {wall:.1f}s "
                  f"killed={killed} state_at_kill={had_state} identical={same}", flush=True)
    with_state = sum(r["killed_while_running"] and r["training_state_at_kill"] for r in records)
    return {"kill_resume_trials": trials, "kill_resume_identical": identical,
            "kills_after_a_checkpoint": with_state, "trials": records}
