"""Hand-written run directories with the layout molgraphpt's recipes write (for report tests)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

VERSIONS = {"molgraphpt": "0.1.0", "torch": "2.13.0+cpu", "python": "3.11.7"}
REVISION = "529864b7c531a6c811ca9df8d26c78b784c86ed9"
CONFIG_YAML = "run_dir: RUN\nseeds:\n- 0\n- 1\ntrain:\n  epochs: 3\n  batch_size: 10\n"


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def metrics_rows(metric: str, *, epochs: int = 3, per_epoch: int = 3) -> list[list[object]]:
    """A fine-tuning metrics.csv: the loss every 2 steps, the valid/test metric per epoch."""
    rows: list[list[object]] = []
    for step in range(1, epochs * per_epoch + 1):
        epoch = (step - 1) // per_epoch
        if step % 2 == 0:
            rows.append([step, epoch, "train", "loss", 1.0 / step])
            rows.append([step, epoch, "train", "lr", 0.001])
        if step % per_epoch == 0:
            rows.append([step, epoch, "val", f"valid/{metric}", 0.5 + 0.1 * epoch])
            rows.append([step, epoch, "val", f"test/{metric}", 0.4 + 0.1 * epoch])
    return rows


def write_predictions(path: Path, tasks: list[str], target: np.ndarray, pred: np.ndarray) -> Path:
    """``test_predictions.csv``: row, smiles, then ``<task>``, ``<task>_pred`` per task."""
    header = ["row", "smiles"] + [c for t in tasks for c in (t, f"{t}_pred")]
    rows = []
    for i in range(target.shape[0]):
        cells: list[object] = [i, "C" * (i + 1)]
        for t in range(len(tasks)):
            y = target[i, t]
            cells += ["" if math.isnan(y) else repr(float(y)), repr(float(pred[i, t]))]
        rows.append(cells)
    return _write_csv(path, header, rows)


def finetune_run(
    run_dir: Path,
    *,
    task_type: str = "classification",
    tasks: tuple[str, ...] = ("p_np",),
    seeds: tuple[int, ...] = (0, 1),
    predictions: bool = True,
    extra: dict | None = None,
) -> dict:
    """A finished fine-tuning run: results.json, config.yaml, seed_<s>/{result.json,metrics.csv,
    test_predictions.csv}; 30 training molecules, batch 10 (3 steps per epoch). Returns results.
    """
    metric = "roc_auc" if task_type == "classification" else "rmse"
    rng = np.random.default_rng(0)
    per_seed = []
    for seed in seeds:
        seed_dir = run_dir / f"seed_{seed}"
        _write_csv(
            seed_dir / "metrics.csv",
            ["step", "epoch", "split", "name", "value"],
            metrics_rows(metric),
        )
        entry = {
            "seed": seed,
            "best_epoch": 2,
            "best_step": 9,
            "epochs_run": 3,
            "valid": {metric: 0.7 + 0.01 * seed},
            "test": {metric: 0.6 + 0.02 * seed},
        }
        per_seed.append(entry)
        (seed_dir / "result.json").write_text(json.dumps(entry))
        if predictions:
            n = 20
            if task_type == "classification":
                target = (np.arange(n)[:, None] % 2 == 0).astype(float).repeat(len(tasks), 1)
                pred = np.clip(0.6 * target + 0.4 * rng.random(target.shape), 0, 1)
            else:
                target = rng.normal(size=(n, len(tasks)))
                pred = target + 0.3 * rng.normal(size=target.shape)
            target[3, 0] = math.nan  # a missing label
            write_predictions(seed_dir / "test_predictions.csv", list(tasks), target, pred)
    values = {part: [s[part][metric] for s in per_seed] for part in ("valid", "test")}
    results = {
        "dataset": "toyset",
        "metric": metric,
        "task_type": task_type,
        "num_tasks": len(tasks),
        "split": {"name": "scaffold", "sizes": [30, 10, 20]},
        "data_info": {"num_rows": 60, "num_invalid": 0},
        "seeds": per_seed,
        **{
            part: {"mean": float(np.mean(v)), "std": float(np.std(v))} for part, v in values.items()
        },
        "config": {"train": {"batch_size": 10, "grad_accum": 1, "log_every": 2}},
        "versions": VERSIONS,
        "git_revision": REVISION,
        **(extra or {}),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    (run_dir / "config.yaml").write_text(CONFIG_YAML.replace("RUN", str(run_dir)))
    return results


def pretrain_run(run_dir: Path, *, objectives: tuple[str, ...] = ("attr_mask", "graphcl")) -> dict:
    """A finished pretraining run: pretrain.json, config.yaml and metrics.csv (8 steps)."""
    rows: list[list[object]] = []
    for step in range(2, 9, 2):
        losses = {name: (i + 1) * 50.0 / step**2 for i, name in enumerate(objectives)}
        rows.append([step, 0, "train", "loss", sum(losses.values())])
        for name, value in losses.items():
            rows.append([step, 0, "train", f"{name}/loss", value])
            rows.append([step, 0, "train", f"{name}/acc", 0.5])
        if step % 4 == 0:
            rows.append([step, 0, "val", "valid/loss", sum(losses.values()) * 1.1])
            for name, value in losses.items():
                rows.append([step, 0, "val", f"valid/{name}/loss", value * 1.1])
    _write_csv(run_dir / "metrics.csv", ["step", "epoch", "split", "name", "value"], rows)
    summary = {
        "objectives": [{"name": name, "weight": 1.0, "params": {}} for name in objectives],
        "steps": 8,
        "num_train": 90,
        "num_valid": 10,
        "corpus": {
            "num_rows": 120,
            "num_molecules": 100,
            "sources": [{"path": "/data/mols.csv", "sha256": "ab" * 32, "num_rows": 120}],
            "exclusion": {
                "files": [{"path": "/data/bbbp.csv.gz", "sha256": "cd" * 32, "num_rows": 50}]
            },
        },
        "final_train": {"loss": 1.5, "attr_mask/loss": 0.5},
        "final_valid": {"step": 8, "epoch": 0, "valid/loss": 1.75, "valid/attr_mask/loss": 0.625},
        "device": "cpu",
        "versions": VERSIONS,
        "git_revision": REVISION,
    }
    (run_dir / "pretrain.json").write_text(json.dumps(summary, indent=2))
    (run_dir / "config.yaml").write_text("run_dir: RUN\ntrain:\n  max_steps: 8\n")
    return summary


RELATION_LABELS = ("CPR:3", "CPR:4", "false")


def relation_run(
    run_dir: Path,
    *,
    seeds: tuple[int, ...] = (0, 1),
    negative: str | None = "false",
    predictions: bool = True,
    extra: dict | None = None,
) -> dict:
    """A finished relation-extraction run, as ``run_relation_finetune`` writes it.

    24 training sentences, batch 8 (3 steps per epoch), 3 epochs; 6 test sentences per seed
    (gold ``CPR:3 CPR:3 CPR:4 CPR:4 false false``; seed ``s`` mislabels its first ``s + 1``).
    """
    labels = list(RELATION_LABELS)
    gold = ["CPR:3", "CPR:3", "CPR:4", "CPR:4", "false", "false"]
    per_seed = []
    for seed in seeds:
        seed_dir = run_dir / f"seed_{seed}"
        rows = []
        for step in range(1, 10):
            rows.append([step, (step - 1) // 3, "train", "loss", 1.0 / step])
            if step % 3 == 0:
                for name in ("micro_f1", "macro_f1", "accuracy"):
                    rows.append(
                        [step, (step - 1) // 3, "val", f"valid/{name}", 0.4 + 0.1 * step / 3]
                    )
        _write_csv(seed_dir / "metrics.csv", ["step", "epoch", "split", "name", "value"], rows)
        predicted = ["false"] * (seed + 1) + gold[seed + 1 :]
        if predictions:
            pred_rows = []
            for i, (g, p) in enumerate(zip(gold, predicted)):
                probs = [0.8 if name == p else 0.1 for name in labels]
                pred_rows.append([i + 1, f"<< drug{i} >> binds [[ gene{i} ]] .", g, p, *probs])
            _write_csv(
                seed_dir / "test_predictions.csv",
                ["line", "text", "label", "predicted", *(f"p_{n}" for n in labels)],
                pred_rows,
            )
        scores = {
            part: {
                "micro_f1": 0.8 - 0.1 * seed - (0.05 if part == "test" else 0.0),
                "macro_f1": 0.7 - 0.1 * seed,
                "accuracy": 0.8 - 0.1 * seed - (0.05 if part == "test" else 0.0),
                "num_examples": 6,
                "per_label": {
                    name: {"precision": 0.5 + 0.1 * k, "recall": 0.6, "f1": 0.55, "support": 2}
                    for k, name in enumerate(labels)
                },
            }
            for part in ("valid", "test")
        }
        if negative:
            for part in scores.values():
                part["micro_f1_positive"] = part["micro_f1"] - 0.02
                part["macro_f1_positive"] = part["macro_f1"] - 0.02
        entry = {
            "seed": seed,
            "best_epoch": 2,
            "best_step": 9,
            "epochs_run": 3,
            "tokenization": {
                split: {"truncated": 1 if split == "train" else 0, "entity_cut": 0, "rows": n}
                for split, n in (("train", 24), ("dev", 6), ("test", 6))
            },
            **scores,
        }
        (seed_dir / "result.json").write_text(json.dumps(entry))
        per_seed.append(entry)

    def stats(part: str, key: str) -> dict[str, float]:
        values = [s[part][key] for s in per_seed]
        return {"mean": float(np.mean(values)), "std": float(np.std(values))}

    results: dict = {
        "dataset": "chemprot_toy",
        "task_type": "relation",
        "metric": "micro_f1",
        "num_labels": 3,
        "data_info": {
            "labels": labels,
            "negative_label": negative,
            "sizes": {"train": 24, "dev": 6, "test": 6},
            "skipped": {"train": {"no entity": 2}, "dev": {}, "test": {}},
            "label_counts": {
                split: {name: n // 3 for name in labels}
                for split, n in (("train", 24), ("dev", 6), ("test", 6))
            },
        },
        "seeds": per_seed,
        "epochs_run": {str(s): 3 for s in seeds},
    }
    for part in ("valid", "test"):
        results[part] = stats(part, "micro_f1")
        for key in ("macro_f1", "accuracy", *(("micro_f1_positive",) if negative else ())):
            results[f"{part}_{key}"] = stats(part, key)
        results[f"{part}_per_label"] = per_seed[0][part]["per_label"]
    results |= {
        "config": {
            "task": "relation",
            "data": {"train": "d/train.jsonl", "dev": "d/dev.jsonl", "test": "d/test.jsonl"},
            "train": {"batch_size": 8, "grad_accum": 1, "log_every": 1},
        },
        "config_fingerprint": "f0" * 32,
        "data": [
            {"path": f"/abs/d/{split}.jsonl", "sha256": f"{i}a" * 32}
            for i, split in enumerate(("train", "dev", "test"))
        ],
        "versions": VERSIONS,
        "git_revision": REVISION,
        **(extra or {}),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    (run_dir / "config.yaml").write_text(f"task: relation\nrun_dir: {run_dir}\n")
    return results
