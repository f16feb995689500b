"""Graph pretraining transfer: pretrain GIN with several objectives, fine-tune each on MoleculeNet.

    # CPU: 4 objectives x 2000 steps x 256 molecules, the 6 small sets, 30 epochs, 3 seeds
    python benchmarks/pretraining/run.py --data-root ../shared/data --cache-dir runs/cache \\
        --objectives attr_mask,context_pred,graphcl,graphmae --budget-steps 2000 --fractions 1.0 \\
        --finetune-epochs 30 --seeds 0,1,2 --parallel 2
    # gain per corpus size: add --fractions 0.1,0.3,1.0
    # GPU: the 8 sets (HIV and MUV added) by default, a longer budget
    python benchmarks/pretraining/run.py --device cuda --budget-steps 20000 --parallel 4

Phase 1 pretrains every (objective, corpus fraction) with ``molgraphpt.recipes.pretrain.run_pretraining``
from ``configs/pretrain/<objective>.yaml`` (GIN 5x300 of Hu et al., the ~380k MOSES+ZINC corpus
with every downstream molecule excluded) under ``--out/pretrain/f<fraction>/<objective>/``, all
with the same budget: ``--budget-steps`` optimizer steps of ``--batch-size`` molecules. Each run is
its own process (so its peak memory is its own); a finished run (``model/`` and ``pretrain.json``
at the budget) is skipped, an interrupted one resumes from its checkpoint.

Phase 2 fine-tunes the control (``none``: random initialisation) and every pretrained encoder
(``model.init=<run>/model``) on each (dataset, seed) with the identical protocol of
``benchmarks/moleculenet`` (``configs/finetune/<dataset>.yaml``: dropout 0.5, Adam 1e-3, batch
32, deterministic scaffold split, test at the best validation epoch) under
``--out/finetune/<row>/...``; finished seeds are skipped.

Results: ``benchmarks/results/<--results-name>.json`` and a section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from common import (  # noqa: E402
    EIGHT,
    SIX,
    average_over,
    data_root,
    finetune_config,
    finetune_job,
    machine,
    protocol_dict,
    summarize,
    today,
    update_results_md,
    versions,
    write_json,
)

OBJECTIVES = ["attr_mask", "context_pred", "graphcl", "graphmae"]
SECTION = "Graph pretraining transfer (benchmarks/pretraining)"
TARGET_GAIN = 3.0
# Published ROC-AUC averages (x100), GIN 5x300 pretrained on ZINC-2M (2M molecules, 100 epochs for
# Hu et al.), fine-tuned with the Hu et al. protocol (100 epochs, scaffold split), as quoted in the
# issue. "none" is TorchDrug's reproduction of Hu et al. without pretraining.
PUBLISHED = {
    "none": {
        "source": "no pretraining (TorchDrug's reproduction of Hu et al.)",
        "6": 64.8,
        "8": 66.2,
    },
    "attr_mask": {"source": "AttrMasking (Hu et al. 2020)", "6": 69.6, "8": 71.1},
    "graphcl": {"source": "GraphCL (You et al. 2020)", "6": 69.6, "8": 70.8},
    "graphmae": {"source": "GraphMAE (Hou et al. 2022)", "6": 72.9, "8": 73.8},
}

log = logging.getLogger("bench.pretraining")


def _fraction_key(fraction: float) -> str:
    return f"{fraction:g}"


# ------------------------------------------------------------------------------ phase 1: pretrain


def pretrain_overrides(job: dict) -> list[str]:
    out = [
        f"run_dir={job['run_dir']}",
        f"data.data_root={job['data_root']}",
        f"data.fraction={job['fraction']}",
        f"train.max_steps={job['steps']}",
        f"train.batch_size={job['batch_size']}",
        f"train.device={job['device']}",
        f"train.num_threads={job['threads']}",
        "train.progress=false",
    ]
    if job.get("cache_dir"):
        out.append(f"data.cache_dir={job['cache_dir']}")
    if job.get("hidden_dim"):
        out.append(f"model.hidden_dim={job['hidden_dim']}")
    if job.get("num_layers"):
        out.append(f"model.num_layers={job['num_layers']}")
    return out + list(job.get("overrides", ()))


def pretrain_config(job: dict):
    from molgraphpt.config.schema import load_pretrain_config

    return load_pretrain_config(job["config"], pretrain_overrides(job))


def pretrain_one(job: dict) -> dict:
    """Pretrain one (objective, fraction) in its own process; returns its ``pretrain.json``."""
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [{job['objective']} f={job['fraction']:g}] %(message)s",
    )
    import torch

    torch.set_num_threads(job["threads"])
    from molgraphpt.recipes.pretrain import MODEL_DIR, run_pretraining

    run_dir = Path(job["run_dir"])
    done, extra = run_dir / "pretrain.json", run_dir / "bench_extra.json"
    if done.exists() and (run_dir / MODEL_DIR).is_dir():
        summary = json.loads(done.read_text())
        if summary["steps"] > job["steps"]:
            raise RuntimeError(
                f"{run_dir} was pretrained for {summary['steps']} steps, more than the budget of "
                f"{job['steps']}: use another --out"
            )
        if summary["steps"] == job["steps"]:
            summary.update(json.loads(extra.read_text()) if extra.exists() else {})
            summary["skipped"] = True
            return summary
    cfg = pretrain_config(job)
    device = cfg.train.device
    cuda = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    summary = run_pretraining(cfg, resume=True)
    info = {
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "concurrent_runs": job["concurrent"],
    }
    extra.write_text(json.dumps(info, indent=2))
    summary.update(info)
    summary["skipped"] = False
    return summary


def _rel(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return path


def pretrain_record(summary: dict, job: dict) -> dict:
    """The per-run numbers kept in the results JSON."""
    final = summary.get("final_train") or {}
    return {
        "objective": job["objective"],
        "fraction": job["fraction"],
        "model_dir": summary["model_dir"],
        "steps": summary["steps"],
        "batch_size": job["batch_size"],
        "molecules_seen": summary["molecules_seen"],
        "corpus_molecules": summary["num_train"],
        "epochs": summary["epochs"],
        "molecules_per_s": summary["molecules_per_s"],
        "train_wall_time_s": summary["train_wall_time_s"],
        "wall_time_s": summary["wall_time_s"],
        "peak_rss_mib": (summary.get("peak_rss_mib") or {}).get("self"),
        "peak_gpu_mib": summary.get("peak_gpu_mib"),
        "final_loss": final.get("loss"),
        "final_train": final,
        "final_valid": summary.get("final_valid"),
        "device": summary.get("device"),
        "gpu": summary.get("gpu"),
        "torch_threads": summary.get("torch_threads"),
        "concurrent_runs": summary.get("concurrent_runs"),
        "resumed": summary.get("resumed"),
    }


def corpus_record(summaries: dict, root: Path) -> dict:
    """Corpus counts and provenance (from the largest fraction's run) and the size per fraction."""
    largest = max(summaries, key=lambda k: k[1])
    info = summaries[largest]["corpus"]
    sources = [
        {
            "path": _rel(s["path"], root),
            "sha256": s.get("sha256"),
            **{k: s.get(k) for k in ("num_rows", "num_molecules", "num_excluded", "num_invalid")},
        }
        for s in info.get("sources", [])
    ]
    exclusion = dict(info.get("exclusion", {}))
    exclusion["files"] = [
        {"path": _rel(f["path"], root), "sha256": f.get("sha256")}
        for f in exclusion.get("files", [])
    ]
    per_fraction = {}
    for (_, fraction), summary in sorted(summaries.items(), key=lambda kv: kv[0][1]):
        per_fraction[_fraction_key(fraction)] = {
            "num_selected": summary["corpus"].get("num_selected"),
            "num_train": summary["num_train"],
            "num_valid": summary["num_valid"],
        }
    return {
        "num_rows": info.get("num_rows"),
        "num_molecules": info.get("num_molecules"),
        "num_excluded": info.get("num_excluded"),
        "num_invalid": info.get("num_invalid"),
        "num_blank": info.get("num_blank"),
        "sources": sources,
        "exclusion": exclusion,
        "per_fraction": per_fraction,
        "note": "num_molecules is the corpus after exclusion of every downstream molecule; a "
        "fraction is a seeded subset of it (a smaller fraction is contained in a larger one), "
        "and valid_fraction of it is held out to report the pretraining loss.",
    }


# ----------------------------------------------------------------------------- phase 2: fine-tune


def gain(rows: dict, objectives: list[str]) -> dict | None:
    """The best objective's average minus the control's."""
    none = rows.get("none", {}).get("average")
    scored = {
        o: rows[o]["average"] for o in objectives if rows.get(o, {}).get("average") is not None
    }
    if none is None or not scored:
        return None
    best = max(scored, key=scored.get)
    out = {
        "best_objective": best,
        "best_average": scored[best],
        "none_average": none,
        "gain": round(scored[best] - none, 2),
        "per_objective": {o: round(v - none, 2) for o, v in scored.items()},
        "target": TARGET_GAIN,
    }
    out["target_met"] = out["gain"] >= TARGET_GAIN
    return out


def run_pool(
    fn, jobs: list[dict], workers: int, *, fresh: bool = False
) -> list[tuple[dict, object]]:
    """``[(job, result or exception)]``; a failed job does not stop the others."""
    done: list[tuple[dict, object]] = []
    if workers <= 1 and not fresh:
        for job in jobs:
            try:
                done.append((job, fn(job)))
            except Exception as err:  # noqa: BLE001 - reported, the rest goes on
                log.exception("job failed: %s", job.get("name"))
                done.append((job, err))
            _report(done[-1])
        return done
    kwargs = {"max_tasks_per_child": 1} if fresh else {}
    with ProcessPoolExecutor(max(1, workers), **kwargs) as pool:
        futures = {pool.submit(fn, job): job for job in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                done.append((job, fut.result()))
            except Exception as err:  # noqa: BLE001
                log.error("job %s failed: %r", job.get("name"), err)
                done.append((job, err))
            _report(done[-1])
    return done


def _report(item: tuple[dict, object]) -> None:
    job, res = item
    if isinstance(res, Exception):
        print(json.dumps({"job": job.get("name"), "error": repr(res)}), flush=True)
    elif "molecules_per_s" in res:
        keys = ("steps", "molecules_per_s", "wall_time_s", "skipped")
        print(
            json.dumps(
                {
                    "job": job["name"],
                    **{k: res.get(k) for k in keys},
                    "final_loss": (res.get("final_train") or {}).get("loss"),
                }
            ),
            flush=True,
        )
    else:
        print(
            json.dumps({"job": job["name"], **{k: v for k, v in res.items() if k != "init"}}),
            flush=True,
        )


# ------------------------------------------------------------------------------------------ main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", default=None)
    parser.add_argument(
        "--objectives",
        default=",".join(OBJECTIVES),
        help="comma-separated configs/pretrain/<name>.yaml",
    )
    parser.add_argument(
        "--budget-steps", type=int, default=2000, help="optimizer steps of every pretraining run"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="pretraining batch size")
    parser.add_argument(
        "--fractions", default="1.0", help="comma-separated corpus fractions, e.g. 0.1,0.3,1.0"
    )
    parser.add_argument(
        "--datasets",
        default=None,
        help="comma-separated (default: the 6 small sets; 8 with --device cuda)",
    )
    parser.add_argument("--finetune-epochs", type=int, default=30)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1, help="fine-tuning worker processes")
    parser.add_argument(
        "--pretrain-parallel",
        type=int,
        default=None,
        help="concurrent pretraining runs (default: --parallel on CPU, 1 on GPU)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per process (default: cores / concurrent processes)",
    )
    parser.add_argument("--out", default="runs/bench_pretraining")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument(
        "--hidden-dim",
        type=int,
        default=None,
        help="encoder width for pretraining and fine-tuning (default 300)",
    )
    parser.add_argument(
        "--num-layers",
        type=int,
        default=None,
        help="encoder depth for pretraining and fine-tuning (default 5)",
    )
    parser.add_argument(
        "--corpus-config",
        default=None,
        help="a YAML whose data: section replaces the corpus of every objective",
    )
    parser.add_argument(
        "--pretrain-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra override of every pretraining run (repeatable)",
    )
    parser.add_argument(
        "--control-dir",
        default=None,
        help="reuse the no-pretraining seeds of benchmarks/moleculenet's --out "
        "(<dir>/<dataset>/seed<k>) when their config is the identical protocol",
    )
    parser.add_argument(
        "--results-name",
        default="pretraining",
        help="benchmarks/results/<name>.json (another name also marks the "
        "RESULTS.md section with it)",
    )
    return parser.parse_args()


def corpus_overrides(path: str | None) -> list[str]:
    """``data.*`` overrides taken from the ``data:`` section of ``path``."""
    if not path:
        return []
    import yaml

    data = (yaml.safe_load(Path(path).read_text()) or {}).get("data") or {}
    skip = {"fraction"}  # set by --fractions
    return [
        f"data.{k}={json.dumps(v)}"
        for k, v in data.items()
        if k not in skip and (k != "data_root" or v)
    ]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args()
    root = data_root(args.data_root)
    out = Path(args.out).resolve()
    objectives = [o for o in args.objectives.split(",") if o]
    fractions = sorted({float(f) for f in args.fractions.split(",")}, reverse=True)
    main_fraction = fractions[0]
    cuda = args.device.startswith("cuda")
    datasets = args.datasets.split(",") if args.datasets else (EIGHT if cuda else SIX)
    seeds = [int(s) for s in args.seeds.split(",")]
    cores = os.cpu_count() or 1
    pre_par = args.pretrain_parallel or (1 if cuda else args.parallel)
    pre_threads = args.threads or max(1, cores // pre_par)
    ft_threads = args.threads or max(1, cores // args.parallel)
    cache_dir = str(Path(args.cache_dir).resolve()) if args.cache_dir else None
    extra = corpus_overrides(args.corpus_config) + list(args.pretrain_override)
    for name in objectives:
        if not (REPO / "configs" / "pretrain" / f"{name}.yaml").exists():
            sys.exit(f"no configs/pretrain/{name}.yaml")

    # ---- phase 1: pretraining, the same budget for every objective
    pre_jobs = [
        {
            "name": f"pretrain/{obj}/f{_fraction_key(f)}",
            "objective": obj,
            "fraction": f,
            "config": str(REPO / "configs" / "pretrain" / f"{obj}.yaml"),
            "run_dir": str(out / "pretrain" / f"f{_fraction_key(f)}" / obj),
            "data_root": str(root),
            "steps": args.budget_steps,
            "batch_size": args.batch_size,
            "device": args.device,
            "threads": pre_threads,
            "concurrent": pre_par,
            "cache_dir": cache_dir,
            "hidden_dim": args.hidden_dim,
            "num_layers": args.num_layers,
            "overrides": extra,
        }
        for f in fractions
        for obj in objectives
    ]
    from molgraphpt.data.corpus import load_corpus_from_config as corpus_from_config

    built = set()
    for job in pre_jobs:  # build each corpus store once, before the workers open it
        data = pretrain_config(job).data
        key = json.dumps(
            [data.paths, data.exclude, data.smiles_col, data.on_invalid, data.cache_dir]
        )
        if key not in built:
            built.add(key)
            corpus_from_config(data, progress=False)
    started = time.perf_counter()
    pre_done = run_pool(pretrain_one, pre_jobs, pre_par, fresh=True)
    pre_wall = time.perf_counter() - started
    summaries = {
        (j["objective"], j["fraction"]): r for j, r in pre_done if not isinstance(r, Exception)
    }

    # ---- phase 2: fine-tuning of the control and of every pretrained encoder
    enc = []
    if args.hidden_dim:
        enc.append(f"model.encoder.hidden_dim={args.hidden_dim}")
    if args.num_layers:
        enc.append(f"model.encoder.num_layers={args.num_layers}")
    base = {
        "data_root": str(root),
        "device": args.device,
        "threads": ft_threads,
        "cache_dir": cache_dir,
        "epochs": args.finetune_epochs,
        "overrides": enc,
    }
    variants = [("none", None, None)] + [
        (obj, f, summaries[(obj, f)]["model_dir"])
        for f in fractions
        for obj in objectives
        if (obj, f) in summaries
    ]
    ft_jobs = []
    for seed in seeds:
        for row, fraction, init in variants:
            for d in datasets:
                sub = "none" if init is None else f"{row}/f{_fraction_key(fraction)}"
                ft_jobs.append(
                    {
                        **base,
                        "dataset": d,
                        "seed": seed,
                        "row": row,
                        "fraction": fraction,
                        "init": init,
                        "name": f"finetune/{sub}/{d}/seed{seed}",
                        "run_dir": str(out / "finetune" / sub / d / f"seed{seed}"),
                    }
                )
    reused = 0
    if args.control_dir:
        for job in ft_jobs:
            if job["init"] is None:
                old = Path(args.control_dir).resolve() / job["dataset"] / f"seed{job['seed']}"
                if _same_protocol(old, job):
                    job["run_dir"], reused = str(old), reused + 1
        log.info("control: %d (dataset, seed) runs of %s reused", reused, args.control_dir)

    from molgraphpt.data.datasets import load_dataset

    for name in datasets:  # featurize once before forking workers (the cache is shared)
        load_dataset(name, data_root_dir=root, cache_dir=cache_dir, workers=cores)
    started = time.perf_counter()
    ft_done = run_pool(finetune_job, ft_jobs, args.parallel)
    ft_wall = time.perf_counter() - started

    # ---- results
    ok = [(j, r) for j, r in ft_done if not isinstance(r, Exception)]
    failed = [j["name"] for j, r in pre_done + ft_done if isinstance(r, Exception)]

    def row_of(name: str, fraction: float | None) -> dict:
        return summarize(
            [r for j, r in ok if j["row"] == name and j["fraction"] == fraction], datasets
        )

    rows = {"none": row_of("none", None)}
    rows.update(
        {o: row_of(o, main_fraction) for o in objectives if (o, main_fraction) in summaries}
    )
    by_fraction = {}
    for f in fractions:
        frows = {
            "none": rows["none"],
            **{o: row_of(o, f) for o in objectives if (o, f) in summaries},
        }
        by_fraction[_fraction_key(f)] = {
            "corpus_molecules": next(
                (summaries[(o, f)]["num_train"] for o in objectives if (o, f) in summaries), None
            ),
            "rows": {k: v for k, v in frows.items() if k != "none"},
            "gain": gain(frows, objectives),
        }
    pretraining = {  # in job order: fraction (largest first), then objective
        f"{j['objective']}@{_fraction_key(j['fraction'])}": pretrain_record(r, j)
        for j, r in sorted(pre_done, key=lambda item: pre_jobs.index(item[0]))
        if not isinstance(r, Exception)
    }
    avg_over = average_over(datasets)
    arch = pretrain_config(pre_jobs[0]).model if pre_jobs else None
    payload = {
        "protocol": {
            "pretraining": {
                "objectives": objectives,
                "budget_steps": args.budget_steps,
                "batch_size": args.batch_size,
                "budget_molecules": args.budget_steps * args.batch_size,
                "fractions": fractions,
                "main_fraction": main_fraction,
                "configs": {o: f"configs/pretrain/{o}.yaml" for o in objectives},
                "overrides": extra,
                "encoder": None
                if arch is None
                else {
                    k: getattr(arch, k)
                    for k in ("arch", "hidden_dim", "num_layers", "dropout", "jk", "readout")
                },
                "device": args.device,
                "concurrent_runs": pre_par,
                "threads_per_run": pre_threads,
            },
            "finetuning": {
                "datasets": datasets,
                "epochs": args.finetune_epochs,
                "seeds": seeds,
                "configs": {d: f"configs/finetune/{d}.yaml" for d in datasets},
                "encoder_overrides": enc,
                "model": "GIN (edge-aware, OGB 9 atom / 3 bond features), dropout 0.5, mean pooling, "
                "linear head; pretrained rows load the encoder of the pretraining run (model.init)",
                "optimizer": "Adam lr 1e-3, batch 32, no decay, full fine-tuning",
                "split": "deterministic scaffold 80/10/10 (Hu et al. 2020)",
                "selection": "test at the epoch with the best validation metric",
                "device": args.device,
                "parallel_workers": args.parallel,
                "threads_per_worker": ft_threads,
                "control_reused_from": args.control_dir if reused else None,
            },
            "metric": "ROC-AUC x 100 (test split), mean and population std over seeds",
            "average_over": avg_over,
            "rows_fraction": main_fraction,
        },
        "corpus": corpus_record(summaries, root) if summaries else None,
        "rows": rows,
        "gain": gain(rows, objectives),
        "by_fraction": by_fraction if len(fractions) > 1 else None,
        "pretraining": pretraining,
        "published": PUBLISHED,
        "failed_jobs": failed,
        "wall_time_s": {"pretraining": round(pre_wall, 1), "finetuning": round(ft_wall, 1)},
        "command": "python " + " ".join(sys.argv),
        "machine": machine(),
        "versions": versions(),
        "date": today(),
    }
    path = write_json(args.results_name, payload)
    section = SECTION if args.results_name == "pretraining" else f"{SECTION} [{args.results_name}]"
    update_results_md(section, table(payload, datasets))
    print(
        json.dumps(
            {
                "results": str(path),
                "averages": {k: v["average"] for k, v in rows.items()},
                "gain": payload["gain"],
                "failed": failed,
            }
        ),
        flush=True,
    )
    if failed:
        sys.exit(f"{len(failed)} job(s) failed (rerun to resume): {failed}")


def _same_protocol(old: Path, job: dict) -> bool:
    """``old`` holds a fine-tuning run of ``job``'s (dataset, seed) with the identical protocol."""
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import FinetuneConfig

    if not (old / "config.yaml").exists():
        return False
    try:
        previous = protocol_dict(load_config(FinetuneConfig, old / "config.yaml"))
    except Exception:  # noqa: BLE001 - an unreadable config is simply not reused
        return False
    same = previous == protocol_dict(finetune_config(job))
    if not same:
        log.warning("%s: different protocol, not reused", old)
    return same


def _fmt(row: dict, name: str) -> str:
    cell = row.get(name)
    return f"{cell['mean']:.1f} ± {cell['std']:.1f}" if cell else "—"


def table(p: dict, datasets: list[str]) -> str:
    proto, pre = p["protocol"], p["protocol"]["pretraining"]
    ft = proto["finetuning"]
    corpus = p["corpus"] or {}
    enc = pre["encoder"] or {}
    sources = ", ".join(f"`{src['path']}`" for src in corpus.get("sources", [])) or "?"
    lines = [
        f"Command: `{p['command']}` — {p['date']}; {p['machine']['cpu']} ({p['machine']['cores']} "
        f"cores){', ' + p['machine']['gpu'] if p['machine'].get('gpu') else ''}.",
        "",
        f"Pretraining: {enc.get('arch', '?').upper()} {enc.get('num_layers')}x{enc.get('hidden_dim')} "
        f"on {corpus.get('num_molecules', 0):,} molecules ({sources}; "
        f"{corpus.get('num_excluded', 0):,} rows excluded as molecules of the downstream sets), fraction "
        f"{pre['main_fraction']:g} for the rows below; the same budget for every objective: "
        f"{pre['budget_steps']} steps x {pre['batch_size']} = {pre['budget_molecules']:,} molecules, "
        f"device {pre['device']}. Fine-tuning: {ft['optimizer']}; {ft['split']}; {ft['selection']}; "
        f"{ft['epochs']} epochs; seeds {ft['seeds']}; identical for every row. ROC-AUC x 100 on the "
        f"test split, mean ± std over seeds.",
        "",
    ]
    cols = datasets
    avg_label = "avg 6" if proto["average_over"] == SIX else f"avg {len(proto['average_over'])}"
    has8 = any(r.get("average_8") is not None for r in p["rows"].values())
    head = ["row", *cols, avg_label] + (["avg 8"] if has8 else [])
    head += ["gain vs none", "published avg 6 / 8 (ZINC-2M)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    none_avg = p["rows"]["none"].get("average")
    for name, row in p["rows"].items():
        cells = [name, *(_fmt(row, d) for d in cols)]
        cells.append(f"**{row['average']:.2f}**" if row.get("average") is not None else "—")
        if has8:
            cells.append(f"{row['average_8']:.2f}" if row.get("average_8") is not None else "—")
        g = (
            None
            if name == "none" or none_avg is None or row.get("average") is None
            else row["average"] - none_avg
        )
        cells.append("" if g is None else f"{g:+.2f}")
        pub = PUBLISHED.get(name)
        cells.append(f"{pub['6']} / {pub['8']} — {pub['source']}" if pub else "not quoted")
        lines.append("| " + " | ".join(cells) + " |")
    g = p["gain"]
    if g:
        verdict = "met" if g["target_met"] else "NOT met"
        lines += [
            "",
            f"Best objective **{g['best_objective']}**: {g['best_average']:.2f} vs "
            f"{g['none_average']:.2f} without pretraining, gain **{g['gain']:+.2f}** points "
            f"(target ≥ +{g['target']:.1f}: {verdict}). Published gains with ZINC-2M "
            f"(2M molecules, 100 epochs): +4.8 (AttrMasking), +4.8 (GraphCL), +8.1 (GraphMAE).",
        ]
    if p.get("by_fraction"):
        lines += [
            "",
            "Gain per corpus size (same step budget, so smaller corpora are seen for more epochs):",
            "",
            "| fraction | corpus molecules | "
            + " | ".join(f"{o} gain" for o in pre["objectives"])
            + " | best gain |",
            "|---|---|" + "---|" * (len(pre["objectives"]) + 1),
        ]
        for f, entry in sorted(p["by_fraction"].items(), key=lambda kv: float(kv[0])):
            eg = entry["gain"] or {}
            per = eg.get("per_objective", {})
            cells = [f, f"{entry['corpus_molecules']:,}" if entry["corpus_molecules"] else "?"]
            cells += [f"{per[o]:+.2f}" if o in per else "—" for o in pre["objectives"]]
            cells.append(f"{eg['gain']:+.2f} ({eg['best_objective']})" if eg else "—")
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Pretraining cost (each run in its own process; "
        f"{pre['concurrent_runs']} concurrent run(s) x {pre['threads_per_run']} thread(s) on CPU):",
        "",
        "| objective | fraction | steps | molecules seen | epochs | molecules/s | train wall (s) "
        "| peak RSS (MiB) | peak GPU (MiB) | final loss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rec in p["pretraining"].values():
        loss = "—" if rec["final_loss"] is None else f"{rec['final_loss']:.4f}"
        gpu = "—" if rec["peak_gpu_mib"] is None else f"{rec['peak_gpu_mib']:,.0f}"
        lines.append(
            f"| {rec['objective']} | {rec['fraction']:g} | {rec['steps']} | {rec['molecules_seen']:,} | "
            f"{rec['epochs']:.2f} | {rec['molecules_per_s']:.0f} | {rec['train_wall_time_s']:.0f} | "
            f"{rec['peak_rss_mib'] or 0:,.0f} | {gpu} | {loss} |"
        )
    if p["failed_jobs"]:
        lines += ["", f"Failed jobs (rerun to resume): {', '.join(p['failed_jobs'])}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
