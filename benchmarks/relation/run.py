"""ChemProt relation extraction: fine-tune text encoders, micro-F1 over seeds (issue 12).

One command::

    python benchmarks/relation/run.py --data-root ../shared/data [--rows minilm,scratch]
        [--seeds 0,1,2] [--epochs 3] [--threads 2]

Protocol: ``configs/finetune/chemprot.yaml`` (SciBERT's processed ChemProt: 13 labels, positives
only; micro-F1 over single-label predictions, which equals accuracy; the test score of the epoch
with the best dev micro-F1), one run directory per row under ``runs/bench_relation/``. Rows:

* ``minilm``: the offline all-MiniLM-L6-v2 as shipped (22.7M parameters);
* ``scratch``: the same architecture randomly initialised (``model.init=random``), the floor.

The text-adapted rows of the issue (``minilm_tapt``, ``minilm_moltext``) need text-side
pretraining that does not exist yet; they are listed as not run. Writes
``benchmarks/results/relation.json`` and the "Relation extraction" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from common import data_root, machine, today, update_results_md, versions, write_json  # noqa: E402

ROWS = {
    "minilm": ["model.name_or_path=minilm-l6-offline"],
    "scratch": ["model.name_or_path=minilm-l6-offline", "model.init=random"],
}
PUBLISHED = (
    "SciBERT 83.64 (Beltagy et al. 2019, SciVocab, 110M parameters); KV-PLM 84.45 and SciBERT "
    "84.49 as re-run by KV-PLM (Zeng et al. 2022, Table 1, as quoted in issue 12; not checked "
    "here); all 110M-parameter encoders, 3+ epochs on GPU"
)


def run_row(name: str, args: argparse.Namespace, root: Path) -> dict:
    """Fine-tune one row over the seeds; returns its ``relation.json`` entry."""
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import RelationFinetuneConfig
    from molgraphpt.recipes.relation import run_relation_finetune

    overrides = [
        f"run_dir={REPO / 'runs' / 'bench_relation' / name}",
        f"data.data_root={root}",
        f"seeds=[{','.join(str(s) for s in args.seeds)}]",
        f"train.epochs={args.epochs}",
        f"train.num_threads={args.threads}",
        "train.progress=false",
        *ROWS[name],
    ]
    cfg = load_config(RelationFinetuneConfig, REPO / "configs" / "finetune" / "chemprot.yaml",
                      overrides)
    start = time.perf_counter()
    res = run_relation_finetune(cfg, overwrite=True)
    seeds = res["seeds"]

    def stats(key: str) -> dict:
        values = [s["test"][key] for s in seeds]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return {"mean": statistics.fmean(values), "std": std, "seeds": values}

    return {
        "micro_f1": stats("micro_f1"),
        "macro_f1": stats("macro_f1"),
        "sentences_per_s": statistics.fmean(s["train_sentences_per_s"] for s in seeds),
        "inference_sentences_per_s": statistics.fmean(s["test"]["sentences_per_s"] for s in seeds),
        "epochs": args.epochs,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--rows", default="minilm,scratch")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3, help="3 is the published protocol")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    root = data_root(args.data_root)
    rows = _earlier_rows(args)
    for name in args.rows.split(","):
        print(f"{name} ...", flush=True)
        rows[name] = run_row(name, args, root)
        print(name, rows[name], flush=True)
    payload = {"rows": rows, "rows_run_by_this_command": args.rows.split(","), "protocol": "SciBERT ChemProt (13 labels, positives only), "
               "micro-F1 = accuracy, test at best dev epoch", "published": PUBLISHED,
               "command": " ".join(sys.argv), "machine": machine(), "versions": versions(),
               "date": today()}
    write_json("relation", payload)
    _write_md(payload, args)


def _earlier_rows(args: argparse.Namespace) -> dict:
    """Rows of an earlier ``relation.json`` with the same seeds and epochs (kept, not re-run)."""
    import json

    from common import RESULTS_DIR

    path = RESULTS_DIR / "relation.json"
    if not path.exists():
        return {}
    rows = json.loads(path.read_text()).get("rows", {})
    return {
        name: row for name, row in rows.items()
        if row.get("epochs") == args.epochs and len(row["micro_f1"]["seeds"]) == len(args.seeds)
    }


def _write_md(payload: dict, args: argparse.Namespace) -> None:
    lines = [
        f"Command: `python benchmarks/relation/run.py {' '.join(sys.argv[1:])}` — {payload['date']}, "
        f"{payload['machine'].get('cpu')} ({payload['machine'].get('cores')} cores, CPU only), "
        f"transformers {payload['versions'].get('transformers')}.",
        "",
        "Protocol: SciBERT's ChemProt files (13 labels, positive relations only; NOT the BLURB "
        "5-group + negative variant), micro-F1 over single-label predictions (= accuracy), test "
        "score at the best dev epoch, mean ± std over seeds. Entity-start pooling over [E1]/[E2] "
        "markers, max_length 128, AdamW lr 5e-5, batch 16.",
        "",
        "| row | encoder | epochs | test micro-F1 | test macro-F1 | train sent./s | infer sent./s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in payload["rows"].items():
        mi, ma = r["micro_f1"], r["macro_f1"]
        lines.append(
            f"| {name} | MiniLM-L6 (22.7M){' random init' if name == 'scratch' else ''} | "
            f"{r['epochs']} | {100 * mi['mean']:.2f} ± {100 * mi['std']:.2f} "
            f"({len(mi['seeds'])} seeds) | {100 * ma['mean']:.2f} ± {100 * ma['std']:.2f} | "
            f"{r['sentences_per_s']:.1f} | {r['inference_sentences_per_s']:.0f} |"
        )
    lines += [
        "| minilm_tapt, minilm_moltext | — | — | not run: text-side adaptive pretraining is not "
        "built yet | | | |",
        "",
        f"Published (110M-parameter encoders): {payload['published']}.",
    ]
    if args.epochs < 3:
        lines.append(f"**Reduced budget**: {args.epochs} epoch(s) instead of the published 3.")
    update_results_md("Relation extraction (issue 12)", "\n".join(lines))


if __name__ == "__main__":
    main()
