"""Subcommands of the CLI. Each ``add_*`` registers a parser whose handler calls the library.

Only the standard library and light molgraphpt modules are imported here; each handler imports
the library code it calls, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from molgraphpt.config.seeds import parse_seeds
from molgraphpt.errors import ConfigError

REGISTERED: list[Any] = []
OVERWRITE_HELP = (
    "replace a previous run in RUN_DIR made with a different config; only files molgraphpt "
    "wrote are removed"
)


def _register(fn: Any) -> Any:
    REGISTERED.append(fn)
    return fn


def _workers(value: str) -> int:
    n = int(value)
    return os.cpu_count() or 1 if n == 0 else n


def seeds_arg(value: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` → ``(0, 1, 2)``, checked while the arguments are parsed.

    Raises:
        argparse.ArgumentTypeError: Not one or more distinct integers >= 0.
    """
    try:
        return parse_seeds(value)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


@_register
def add_featurize(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt featurize INPUT --out DIR``."""
    p = sub.add_parser(
        "featurize",
        help="featurize a SMILES file into a compact on-disk graph store",
        description="Featurize every SMILES of a CSV/TSV/SMILES file (optionally .gz) into a "
        "memory-mappable graph store with OGB-identical features.",
    )
    p.add_argument("input", help="CSV, TSV or SMILES file (optionally gzipped)")
    p.add_argument("--out", required=True, help="output store directory")
    p.add_argument("--smiles-col", default=None, help="SMILES column (guessed when omitted)")
    p.add_argument("--targets", default="", help="comma-separated label columns to keep")
    p.add_argument("--workers", type=_workers, default=1, help="processes (0 = all cores)")
    p.add_argument("--on-invalid", choices=["raise", "skip"], default="raise")
    p.add_argument(
        "--unsanitizable",
        choices=["partial", "invalid"],
        default="partial",
        help="molecules that fail only RDKit's valence check: keep with partial "
        "sanitization (default) or treat as invalid",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_featurize)


def _featurize(args: argparse.Namespace) -> int:
    from molgraphpt.data.featurize import featurize_file

    targets = [t for t in args.targets.split(",") if t]
    store, report = featurize_file(
        args.input,
        args.out,
        smiles_col=args.smiles_col,
        targets=targets,
        workers=args.workers,
        on_invalid=args.on_invalid,
        unsanitizable=args.unsanitizable,
        progress=not args.no_progress,
    )
    summary = {
        "out": str(store.directory),
        "rows": report.num_rows,
        "molecules": report.num_molecules,
        "skipped_invalid": report.num_invalid,
        "partially_sanitized": report.num_partial,
        "seconds": round(report.seconds, 2),
        "mol_per_s": round(report.num_rows / max(report.seconds, 1e-9), 1),
        "bytes_per_molecule": round(store.nbytes() / max(len(store), 1), 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


@_register
def add_finetune(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt finetune --config FILE [key=value ...]``."""
    p = sub.add_parser(
        "finetune",
        help="fine-tune a graph encoder on a property-prediction dataset (or a text encoder "
        "on relation extraction: a config with task: relation)",
        description="Fine-tune over one or more seeds; writes RUN_DIR/results.json (mean ± std), "
        "metrics.csv and the best model of each seed as a save_pretrained directory.",
    )
    p.add_argument(
        "--config", default=None, help="YAML file in configs/finetune/ (defaults if omitted)"
    )
    p.add_argument(
        "overrides", nargs="*", help="dotted overrides, e.g. train.epochs=30 model.init=DIR"
    )
    p.add_argument("--csv", default=None, help="a user CSV instead of data.dataset")
    p.add_argument("--smiles-col", default=None)
    p.add_argument("--targets", default=None, help="comma-separated target columns of --csv")
    p.add_argument("--task", choices=["classification", "regression"], default=None)
    p.add_argument(
        "--seeds",
        type=seeds_arg,
        default=None,
        help="comma-separated distinct seeds >= 0, e.g. 0,1,2 (one run each)",
    )
    p.add_argument("--run-dir", default=None)
    p.add_argument(
        "--data-root", default=None, help="folder with ogb/, moleculenet/ (or $MOLGRAPHPT_DATA)"
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(handler=_finetune)


def finetune_overrides(args: argparse.Namespace) -> list[str]:
    """Turn the convenience flags of ``finetune`` into dotted overrides (flags win)."""
    out = list(args.overrides)
    if args.csv:
        out.append(f"data.dataset={args.csv}")
    if args.smiles_col:
        out.append(f"data.smiles_col={args.smiles_col}")
    if args.targets:
        out.append(f"data.targets=[{','.join(json.dumps(t) for t in args.targets.split(','))}]")
    if args.task:
        out.append(f"data.task_type={args.task}")
    if args.seeds:
        out.append(f"seeds=[{', '.join(map(str, args.seeds))}]")
    if args.run_dir:
        out.append(f"run_dir={args.run_dir}")
    if args.data_root:
        out.append(f"data.data_root={args.data_root}")
    return out


def is_relation_config(path: str | None, overrides: list[str]) -> bool:
    """Whether a finetune YAML is a relation-extraction run.

    True for ``task: relation`` (or a ``task=relation`` override), or a data section with
    ``train`` or ``folder`` and no ``dataset``.
    """
    if any(o.replace(" ", "") == "task=relation" for o in overrides):
        return True
    if path is None:
        return False
    from pathlib import Path

    from molgraphpt.config.loading import _read_yaml

    raw = _read_yaml(Path(path))
    if raw.get("task") == "relation":
        return True
    data = raw.get("data")
    if not isinstance(data, dict) or "dataset" in data:
        return False
    return "train" in data or "folder" in data


def _finetune_relation(args: argparse.Namespace) -> int:
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import RelationFinetuneConfig
    from molgraphpt.recipes.relation import run_relation_finetune

    if args.csv or args.smiles_col or args.targets or args.task:
        raise ConfigError(
            "finetune",
            "--csv/--smiles-col/--targets/--task",
            expected="no property-prediction flags with a relation config",
            hint="set data.train/dev/test (or data.folder) in the YAML or as overrides",
        )
    overrides = list(args.overrides)
    if args.seeds:
        overrides.append(f"seeds=[{', '.join(map(str, args.seeds))}]")
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    if args.data_root:
        overrides.append(f"data.data_root={args.data_root}")
    cfg = load_config(RelationFinetuneConfig, args.config, overrides)
    res = run_relation_finetune(cfg, resume=args.resume, overwrite=args.overwrite)
    print(
        f"{res['dataset']}: test micro-F1 = {res['test']['mean']:.4f} ± {res['test']['std']:.4f}"
        f" (macro-F1 {res['test_macro_f1']['mean']:.4f}) over {len(res['seeds'])} seed(s) "
        f"(valid micro-F1 {res['valid']['mean']:.4f}); results in {cfg.run_dir}/results.json"
    )
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from molgraphpt.config.loading import load_config
    from molgraphpt.config.schema import FinetuneConfig, check_paths
    from molgraphpt.recipes.finetune import run_finetune

    if is_relation_config(args.config, list(args.overrides)):
        return _finetune_relation(args)
    cfg = load_config(FinetuneConfig, args.config, finetune_overrides(args))
    check_paths(cfg)
    results = run_finetune(cfg, resume=args.resume, overwrite=args.overwrite)
    metric = results["metric"]
    print(
        f"{results['dataset']}: test {metric} = {results['test']['mean']:.4f} ± "
        f"{results['test']['std']:.4f} over {len(results['seeds'])} seed(s) "
        f"(valid {results['valid']['mean']:.4f}); results in {cfg.run_dir}/results.json"
    )
    return 0


@_register
def add_demo(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt demo``."""
    p = sub.add_parser(
        "demo",
        help="pretrain (graph, then molecule-text) → fine-tune → embed on the embedded demo data "
        "(offline, < 2 min)",
    )
    p.add_argument("--run-dir", default="runs/demo")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs on BBBP")
    p.add_argument("--pretrain-steps", type=int, default=40, help="graph pretraining steps")
    p.add_argument("--moltext-steps", type=int, default=30, help="molecule-text pretraining steps")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from molgraphpt.demo import run_demo

    run_demo(
        args.run_dir,
        epochs=args.epochs,
        pretrain_steps=args.pretrain_steps,
        moltext_steps=args.moltext_steps,
    )
    return 0


@_register
def add_pretrain(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt pretrain --config FILE [key=value ...] [--resume]``."""
    p = sub.add_parser(
        "pretrain",
        help="pretrain a graph encoder with self-supervised objectives on an unlabelled corpus",
        description="Pretrain on the corpus of the config (downstream test molecules excluded); "
        "writes RUN_DIR/model (use it as finetune model.init=RUN_DIR/model), pretrain.json, "
        "metrics.csv and checkpoints/last.pt.",
    )
    p.add_argument("--config", default=None, help="YAML file in configs/pretrain/")
    p.add_argument(
        "overrides",
        nargs="*",
        help="dotted overrides, e.g. train.max_steps=1000 objectives.0.mask_rate=0.25",
    )
    p.add_argument("--run-dir", default=None)
    p.add_argument("--data-root", default=None, help="folder relative data.paths resolve against")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(handler=_pretrain)


def _pretrain(args: argparse.Namespace) -> int:
    from molgraphpt.config.schema import check_paths, load_pretrain_config
    from molgraphpt.recipes.pretrain import run_pretraining

    overrides = list(args.overrides)
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    if args.data_root:
        overrides.append(f"data.data_root={args.data_root}")
    cfg = load_pretrain_config(args.config, overrides)
    check_paths(cfg)
    res = run_pretraining(cfg, resume=args.resume, overwrite=args.overwrite)
    print(
        f"pretrained {res['steps']} steps on {res['num_train']} molecules at "
        f"{res['molecules_per_s']:.0f} molecules/s; encoder in {res['model_dir']}"
    )
    return 0


@_register
def add_evaluate(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt evaluate retrieval --model DIR --pairs FILE ...`` (more evaluations later)."""
    p = sub.add_parser(
        "evaluate",
        help="evaluate a saved model (retrieval: molecule <-> text)",
        description="Evaluate a saved model. Kinds: retrieval (text <-> molecule ranking).",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    r = kinds.add_parser(
        "retrieval",
        help="text <-> molecule retrieval: MRR, Hits@1/10, Recall@20, KV-PLM accuracy",
        description="Rank every molecule of a pool of (SMILES, text) pairs against every text "
        "and back with a MolTextModel directory; write the metrics as JSON and print a table.",
    )
    r.add_argument("--model", required=True, help="MolTextModel.save_pretrained directory")
    r.add_argument("--pairs", required=True, help="CSV / TSV / JSONL (.gz) of SMILES-text pairs")
    r.add_argument("--smiles-col", default=None, help="SMILES column (guessed when omitted)")
    r.add_argument("--text-col", default=None, help="text column (guessed when omitted)")
    r.add_argument("--format", default=None, help="pairs format, e.g. lpm24_props (guessed)")
    r.add_argument("--out", default=None, help="JSON file for the results")
    r.add_argument("--batch-size", type=int, default=64, help="encoding batch size")
    r.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 ...")
    r.add_argument("--limit", type=int, default=None, help="use only the first N valid pairs")
    r.add_argument(
        "--dedupe",
        action="store_true",
        help="pairs with the same canonical SMILES do not compete with each other",
    )
    r.add_argument("--seed", type=int, default=0, help="seed of the KV-PLM in-batch groups")
    r.set_defaults(handler=_evaluate_retrieval)


def _evaluate_retrieval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from molgraphpt._io import write_json_atomic
    from molgraphpt.evaluation.retrieval import format_table
    from molgraphpt.recipes.retrieval import evaluate_retrieval_file

    results = evaluate_retrieval_file(
        args.model,
        args.pairs,
        smiles_col=args.smiles_col,
        text_col=args.text_col,
        pair_format=args.format,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        dedupe=args.dedupe,
        seed=args.seed,
    )
    print(f"retrieval over {results['num_pairs']} pairs ({results['pairs']})")
    print(format_table(results))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out, results, default=str)
        print(f"results in {out}")
    return 0


@_register
def add_report(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt report RUN_DIR [--out FILE.md]``."""
    p = sub.add_parser(
        "report",
        help="write a Markdown report (metrics tables and plots) of a run directory",
        description="Summarize a finetune or pretrain run directory in a Markdown file with "
        "metrics tables and plots; prints the path of the report.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finetune or pretrain run directory")
    p.add_argument(
        "--out", default=None, metavar="FILE.md", help="report file (default: in RUN_DIR)"
    )
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from molgraphpt.report import write_report

    path = write_report(Path(args.run_dir), out=args.out)
    print(path)
    return 0


@_register
def add_predict(sub: argparse._SubParsersAction) -> None:
    """``molgraphpt predict --model DIR --input FILE --out FILE`` (relation models)."""
    p = sub.add_parser(
        "predict",
        help="predict with a saved relation-extraction model (probabilities per label)",
        description="Read sentences with two marked entities (JSONL/CSV/TSV, optionally .gz) the "
        "way the model's training files were read, and write the predicted label and the "
        "probability of every label (CSV, or JSONL when --out ends in .jsonl).",
    )
    p.add_argument("--model", required=True, help="a relation model directory (seed_<s>/model)")
    p.add_argument("--input", required=True, help="sentences to classify")
    p.add_argument("--out", required=True, help="output .csv or .jsonl")
    p.add_argument("--entities", choices=["markers", "placeholders", "offsets"], default=None)
    p.add_argument("--text-col", default=None, help="sentence column (default: as trained)")
    p.add_argument("--label-col", default=None, help="label column, if any (scored when given)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1 ...")
    p.add_argument("--on-invalid", choices=["raise", "skip"], default="raise")
    p.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    from molgraphpt.recipes.relation import predict_relation_file

    res = predict_relation_file(
        args.model,
        args.input,
        args.out,
        batch_size=args.batch_size,
        device=args.device,
        on_invalid=args.on_invalid,
        entities=args.entities,
        text_col=args.text_col,
        label_col=args.label_col,
    )
    line = f"predicted {res['rows']} rows into {res['out']}"
    if "scores" in res:
        line += f" (micro-F1 {res['scores']['micro_f1']:.4f})"
    print(line)
    return 0
