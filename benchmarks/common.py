"""Shared helpers of the benchmark scripts: data root, machine description, results files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"


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
    for name in ("molgraphpt", "torch", "torch_geometric", "rdkit", "ogb", "numpy"):
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
