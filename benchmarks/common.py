"""Shared helpers of the benchmark scripts: data root, machine description, results files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"
#: The six small classification sets of Hu et al. 2020, and the eight with HIV and MUV.
SIX = ["bbbp", "tox21", "toxcast", "sider", "clintox", "bace"]
EIGHT = SIX + ["hiv", "muv"]


def data_root(arg: str | None) -> Path:
    """``--data-root``, else ``$MOLGRAPHPT_DATA``, else ``../shared/data`` beside the repo."""
    root = Path(arg or os.environ.get("MOLGRAPHPT_DATA") or HERE.parent.parent / "shared" / "data")
    if not root.exists():
        sys.exit(f"data root {root} does not exist: pass --data-root or set MOLGRAPHPT_DATA")
    return root


def machine() -> dict:
    """A short description of the machine the numbers come from."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def versions() -> dict:
    """Versions of the libraries that matter for the numbers."""
    out = {"python": platform.python_version()}
    for name in ("molgraphpt", "torch", "torch_geometric", "rdkit", "ogb", "numpy", "transformers"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except ImportError:
            pass
    return out


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_json(name: str, payload: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def update_results_md(section: str, body: str) -> None:
    """Replace (or append) the ``## section`` block of benchmarks/RESULTS.md."""
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    block = f"## {section}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    )
    RESULTS_MD.write_text(text)


# ----------------------------------------------------------------- fine-tuning jobs (shared)

#: Config keys that do not change a fine-tuning result (where it runs, how it logs).
NON_PROTOCOL_KEYS = (
    "run_dir",
    "data.data_root",
    "data.cache_dir",
    "data.loader_workers",
    "train.device",
    "train.num_threads",
    "train.progress",
    "train.log_every",
)


def finetune_overrides(job: dict) -> list[str]:
    """The overrides of one benchmark fine-tuning job on ``configs/finetune/<dataset>.yaml``.

    ``job`` keys: ``dataset``, ``seed``, ``epochs``, ``device``, ``threads``, ``data_root``,
    ``run_dir``; optional ``cache_dir``, ``init`` (a pretrained ``model/`` directory, else the
    encoder is trained from scratch) and ``overrides`` (extra ``KEY=VALUE`` strings).
    """
    out = [
        f"run_dir={job['run_dir']}",
        f"seeds=[{job['seed']}]",
        f"data.data_root={job['data_root']}",
        f"train.epochs={job['epochs']}",
        f"train.device={job['device']}",
        f"train.num_threads={job['threads']}",
        "train.progress=false",
        "train.log_every=100000",
    ]
    if job.get("cache_dir"):
        out.append(f"data.cache_dir={job['cache_dir']}")
    if job.get("init"):
        out.append(f"model.init={job['init']}")
    return out + list(job.get("overrides", ()))


def finetune_config(job: dict):
    """The :class:`~molgraphpt.config.schema.FinetuneConfig` of one fine-tuning job."""
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import FinetuneConfig

    config = HERE.parent / "configs" / "finetune" / f"{job['dataset']}.yaml"
    return load_config(FinetuneConfig, config, finetune_overrides(job))


def protocol_dict(cfg) -> dict:
    """``cfg`` as a flat ``{"a.b": value}`` dict without :data:`NON_PROTOCOL_KEYS`."""
    from molgraphpt.config.loading import to_dict

    flat: dict = {}

    def walk(node, prefix=""):
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, name + ".")
            elif name not in NON_PROTOCOL_KEYS:
                flat[name] = value

    walk(to_dict(cfg))
    return flat


def finetune_job(job: dict) -> dict:
    """Fine-tune one (dataset, seed) (in a worker process); resumable, finished seeds are read back.

    Returns ``{"dataset", "seed", "init", "metric", "valid", "test", "best_epoch", "seconds",
    "ogb_test"}`` (metrics as fractions, not percent).
    """
    import time

    import torch

    torch.set_num_threads(job["threads"])
    from molgraphpt.recipes.finetune import run_finetune

    cfg = finetune_config(job)
    start = time.perf_counter()
    res = run_finetune(cfg, resume=True)
    seed_res = res["seeds"][0]
    return {
        "dataset": job["dataset"],
        "seed": job["seed"],
        "init": job.get("init"),
        "metric": res["metric"],
        "valid": seed_res["valid"][res["metric"]],
        "test": seed_res["test"][res["metric"]],
        "best_epoch": seed_res["best_epoch"],
        "seconds": round(time.perf_counter() - start, 1),
        "ogb_test": seed_res["test"].get(f"ogb_{res['metric']}"),
    }


# ------------------------------------------------------- fine-tuning results of one row


def average_over(datasets: list[str]) -> list[str]:
    """The datasets a row's ``average`` is over: the six small sets when all are run."""
    return SIX if all(d in datasets for d in SIX) else list(datasets)


def summarize(runs: list[dict], datasets: list[str]) -> dict:
    """``{"<dataset>": {"mean", "std", "seeds", ...}, "average": x, ...}`` of one row (x100)."""
    row: dict = {}
    for name in datasets:
        found = sorted((r for r in runs if r["dataset"] == name), key=lambda r: r["seed"])
        if not found:
            continue
        vals = np.array([r["test"] for r in found], dtype=float) * 100.0
        row[name] = {
            "metric": found[0]["metric"],
            "mean": round(float(vals.mean()), 2),
            "std": round(float(vals.std()), 2),
            "seeds": [round(float(v), 2) for v in vals],
            "seed_ids": [r["seed"] for r in found],
            "valid_mean": round(float(np.mean([r["valid"] for r in found])) * 100.0, 2),
            "best_epochs": [r["best_epoch"] for r in found],
        }
    # The six small sets when all are run, else every set run (protocol.average_over says which);
    # None when one of them has no result.
    over = average_over(datasets)
    found = [row[d]["mean"] for d in over if d in row]
    row["average"] = round(float(np.mean(found)), 2) if len(found) == len(over) else None
    eight = [row[d]["mean"] for d in EIGHT if d in row]
    row["average_8"] = round(float(np.mean(eight)), 2) if len(eight) == 8 else None
    return row
