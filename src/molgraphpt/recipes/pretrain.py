"""Pretraining recipe: corpus → encoder(s) → objectives → ``training.loop.train`` → checkpoint.

A run is *graph-only* (``data.paths``: unlabelled SMILES; ``model/`` is a graph encoder) or
*molecule–text* (a ``text:`` encoder and ``data.pairs``; ``model/`` is a
:class:`~molgraphpt.models.moltext.MolTextModel` whose graph encoder ``finetune`` also accepts).
Graph objectives work in both; text objectives need the second.

:func:`run_pretraining` is the composition root that ``molgraphpt pretrain`` and the benchmarks
call. It writes into ``cfg.run_dir``:

* ``config.yaml`` — the resolved config (overrides applied, data root made absolute);
* ``model/`` — the encoder as a ``save_pretrained`` directory whose ``config.yaml`` holds
  ``encoder:`` (the architecture) and whose weights are the bare encoder state dict, so
  ``molgraphpt finetune model.init=RUN_DIR/model`` starts from it;
* ``pretrain.json`` — corpus counts and provenance, steps, molecules/s, wall time, peak memory
  and the final losses;
* ``metrics.csv`` and ``checkpoints/last.pt`` (written by the training loop every
  ``train.save_every`` steps; ``resume=True`` continues from it exactly).

Under ``torchrun`` the process group is initialized here: rank 0 builds the corpus cache while
the other ranks wait, every rank trains on its shard of each epoch (DDP), and only rank 0 writes
files.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from molgraphpt._io import write_json_atomic
from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.config.loading import save_config, to_dict
from molgraphpt.config.schema import CorpusConfig, PretrainConfig, normalize_objectives
from molgraphpt.data.corpus import Corpus, holdout_split, load_corpus, select_subset
from molgraphpt.data.loader import GraphLoader
from molgraphpt.data.text import PairDataset, PairLoader, TextFeatures, load_pair_dataset
from molgraphpt.errors import ConfigError
from molgraphpt.models.graph import GraphEncoder, build_graph_encoder
from molgraphpt.models.graph_checkpoint import PretrainedEncoderConfig, PretrainedGraphEncoder
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.pretrained import load_graph_encoder
from molgraphpt.models.serialization import load_encoder_weights
from molgraphpt.models.text import TextEncoder
from molgraphpt.models.text_features import cached_text_features, is_frozen
from molgraphpt.objectives.base import build_task_config, needs_text_tokens
from molgraphpt.objectives.multitask import build_objectives
from molgraphpt.provenance import git_revision, versions
from molgraphpt.seed import seed_everything
from molgraphpt.training import distributed as dist
from molgraphpt.training import optim
from molgraphpt.training.checkpoint import capture_rng_state, restore_rng_state
from molgraphpt.training.loop import train

__all__ = ["corpus_from_config", "load_pretrained_encoder", "pairs_from_config", "run_pretraining"]

logger = logging.getLogger(__name__)

MODEL_DIR = "model"
SMILES_TOKENIZER_NAME = "smiles_tokenizer.json"  # in the run dir, so --resume reuses it
_FINAL_WINDOW = 20  # training batches averaged into pretrain.json's final losses


def corpus_from_config(cfg: CorpusConfig, *, progress: bool = False) -> Corpus:
    """Load the corpus ``cfg`` describes (relative paths resolved against ``cfg.root()``)."""
    return load_corpus(
        [cfg.resolve(p) for p in cfg.paths],
        smiles_col=cfg.smiles_col,
        exclude=[cfg.resolve(p) for p in cfg.exclude],
        max_molecules=cfg.max_molecules,
        fraction=cfg.fraction,
        subset_seed=cfg.subset_seed,
        cache_dir=cfg.cache_dir,
        workers=cfg.workers,
        on_invalid=cfg.on_invalid,
        unsanitizable=cfg.unsanitizable,
        progress=progress,
    )


def load_pretrained_encoder(directory: str | os.PathLike[str]) -> GraphEncoder:
    """The graph encoder saved by :func:`run_pretraining` in ``RUN_DIR/model`` (CPU, eval).

    Any other checkpoint holding a graph encoder works too (:func:`load_graph_encoder`).
    """
    return load_graph_encoder(directory)


class _LossRecorder:
    """Keeps the logs of the last training batches (on device: no sync per step)."""

    def __init__(self, task: nn.Module, size: int = _FINAL_WINDOW) -> None:
        self.recent: collections.deque[dict[str, torch.Tensor]] = collections.deque(maxlen=size)
        self.handle = task.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, out: Any) -> None:
        if module.training and hasattr(out, "loss"):
            logs = {"loss": out.loss, **getattr(out, "logs", {})}
            self.recent.append({k: torch.as_tensor(v).detach().float() for k, v in logs.items()})

    def means(self) -> dict[str, float]:
        names = dict.fromkeys(k for logs in self.recent for k in logs)
        out = {}
        for name in names:
            values = [logs[name] for logs in self.recent if name in logs]
            out[name] = float(torch.stack(values).mean().item())
        return out

    def close(self) -> None:
        self.handle.remove()


def _validation(loader: GraphLoader, seed: int) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(task)``: the mean objective logs over ``loader``, with fixed randomness.

    The objectives corrupt their inputs at random; the validation pass reseeds every RNG (and
    restores the training RNG state afterwards), so each evaluation sees the same corruptions and
    evaluating does not change the training run.
    """

    def evaluate(task: nn.Module) -> dict[str, float]:
        device = next(task.parameters()).device
        saved = capture_rng_state()
        private = task.rng_state() if hasattr(task, "rng_state") else None  # objectives' own
        seed_everything(seed)
        if hasattr(task, "reseed"):
            task.reseed(seed)
        sums: dict[str, float] = {}
        graphs = 0
        try:
            for batch in loader.iter_epoch(0):
                batch = batch.to(device)
                out = task(batch)
                n = batch.num_graphs
                for name, value in {"loss": out.loss, **out.logs}.items():
                    sums[name] = sums.get(name, 0.0) + float(value) * n
                graphs += n
        finally:
            restore_rng_state(saved)
            if private is not None:
                task.set_rng_state(private)
        return {f"valid/{name}": total / max(graphs, 1) for name, total in sums.items()}

    return evaluate


@dataclass
class _Run:
    """What the training loop needs, for a graph-only or a molecule–text run."""

    encoder: nn.Module  # the module saved as model/: a graph encoder or a MolTextModel
    task: nn.Module
    loader: Any
    evaluate: Callable[[nn.Module], dict[str, float]] | None
    train_idx: np.ndarray
    valid_idx: np.ndarray
    info: dict[str, Any]
    param_groups: list[dict[str, Any]] | None = None  # None: the loop's default groups


def _graph_run(cfg: PretrainConfig) -> _Run:
    corpus = corpus_from_config(cfg.data, progress=cfg.train.progress and dist.is_main_process())
    train_idx, valid_idx = corpus.holdout(cfg.valid_fraction, seed=cfg.data.subset_seed)
    tc = cfg.train
    torch.manual_seed(tc.seed)  # initial weights depend on the seed only
    encoder = build_graph_encoder(cfg.model)
    if cfg.init:
        load_encoder_weights(encoder, cfg.init)
    task = build_objectives(cfg.objectives, encoder)
    loader = GraphLoader(
        corpus.store,
        train_idx,
        batch_size=tc.batch_size,
        shuffle=True,
        seed=tc.seed,
        with_labels=False,
        num_workers=cfg.data.loader_workers,
        rank=dist.rank(),
        world_size=dist.world_size(),
    )
    evaluate = None
    if len(valid_idx):
        valid_loader = GraphLoader(
            corpus.store, valid_idx, batch_size=tc.batch_size, with_labels=False
        )
        evaluate = _validation(valid_loader, tc.seed)
    return _Run(encoder, task, loader, evaluate, train_idx, valid_idx, corpus.info)


def pairs_from_config(cfg: CorpusConfig) -> PairDataset:
    """Load the molecule–text pairs ``cfg.pairs`` describes (minus ``cfg.exclude``)."""
    sources = [
        {
            "path": str(cfg.resolve(src.path)),
            "format": src.format,
            "smiles_col": src.smiles_col,
            "text_col": src.text_col,
        }
        for src in cfg.pairs
    ]
    return load_pair_dataset(
        sources,
        exclude=[cfg.resolve(p) for p in cfg.exclude],
        cache_dir=cfg.cache_dir,
        workers=cfg.workers,
        on_invalid=cfg.on_invalid,
        unsanitizable=cfg.unsanitizable,
    )


def _moltext_run(cfg: PretrainConfig, run_dir: Path, *, resumed: bool, main: bool) -> _Run:
    pairs = pairs_from_config(cfg.data)
    index = _pair_subset(pairs, cfg.data)
    # The stream Corpus.holdout uses, so both kinds of run split positions the same way.
    train_idx, valid_idx = holdout_split(
        index, cfg.valid_fraction, cfg.data.subset_seed, tag="corpus-valid"
    )
    tc, opts = cfg.train, cfg.moltext
    smiles_tokenizer = None
    if opts.smiles_vocab_size:
        path = run_dir / SMILES_TOKENIZER_NAME
        if resumed and path.exists():  # the exact vocabulary the checkpoint was trained with
            smiles_tokenizer = SmilesTokenizer.load(path)
        else:
            smiles_tokenizer = SmilesTokenizer.train(
                [pairs.smiles[i] for i in train_idx], vocab_size=opts.smiles_vocab_size
            )
            if main:
                smiles_tokenizer.save(path)
    torch.manual_seed(tc.seed)  # initial weights depend on the seed only
    text_encoder = TextEncoder.from_config(cfg.text)
    model = MolTextModel.build(
        MolTextConfig(
            graph=cfg.model,
            text=cfg.text,
            proj_dim=opts.proj_dim,
            temperature=opts.temperature,
            smiles_vocab_size=smiles_tokenizer.vocab_size if smiles_tokenizer else 0,
            projection=opts.projection,
        ),
        text_encoder=text_encoder,
        smiles_tokenizer=smiles_tokenizer,
    )
    if cfg.init:
        load_encoder_weights(model.graph_encoder, cfg.init)
    if opts.freeze_graph:
        model.graph_encoder.requires_grad_(False)
    task = build_objectives(cfg.objectives, model)
    features = None
    if _cache_text_features(cfg, text_encoder):
        values = cached_text_features(  # train + valid = index, sorted
            text_encoder, [pairs.texts[i] for i in index], cache_dir=cfg.data.cache_dir
        )
        features = TextFeatures(index, values)
    common = {
        "tokenizer": None if features is not None else text_encoder.tokenizer,
        "max_length": cfg.text.max_length,
        "smiles_tokenizer": smiles_tokenizer,
        "smiles_max_length": opts.smiles_max_length,
        "text_features": features,
        "batch_size": tc.batch_size,
    }
    loader = PairLoader(
        pairs,
        train_idx,
        shuffle=True,
        seed=tc.seed,
        num_workers=cfg.data.loader_workers,
        rank=dist.rank(),
        world_size=dist.world_size(),
        **common,
    )
    evaluate = None
    if len(valid_idx):
        evaluate = _validation(PairLoader(pairs, valid_idx, **common), tc.seed)
    groups = None
    if opts.text_lr is not None:
        groups = optim.param_groups(
            task,
            tc.weight_decay,
            lr=tc.lr,
            head_lr=opts.text_lr,
            head_prefixes=_module_paths(task, model.text),
        )
    info = {**pairs.info, "text_features": "online" if features is None else "cached"}
    return _Run(model, task, loader, evaluate, train_idx, valid_idx, info, groups)


def _cache_text_features(cfg: PretrainConfig, text_encoder: TextEncoder) -> bool:
    """Whether the run feeds cached pooled text vectors, not tokens (``moltext.text_features``).

    Raises:
        ConfigError: ``"cached"`` was asked for, but the text encoder has trained weights or an
            objective reads text tokens.
    """
    mode = cfg.moltext.text_features
    if mode == "online":
        return False
    readers = [spec.name for spec in cfg.objectives if needs_text_tokens(spec.name)]
    frozen = is_frozen(text_encoder)
    if mode == "cached":
        if not frozen:
            raise ConfigError(
                "text.freeze_layers",
                cfg.text.freeze_layers if cfg.text is not None else None,
                expected="-1 with moltext.text_features: cached (a trained text encoder's "
                "outputs change every step), or moltext.text_features: online",
            )
        if readers:
            raise ConfigError(
                "moltext.text_features",
                mode,
                expected=f"online or auto: objectives {readers} read text tokens, which "
                "cached text features do not provide",
            )
    return frozen and not readers


def _module_paths(root: nn.Module, sub: nn.Module) -> list[str]:
    """``[path of sub in root]`` (e.g. ``tasks.mlm.model.text``); [] when sub has nothing to train.

    ``named_modules`` and ``named_parameters`` walk (and deduplicate) in the same order, so the
    first path of a shared module is the prefix its parameters are named under.
    """
    if not any(p.requires_grad for p in sub.parameters()):
        return []
    return [path for path, module in root.named_modules() if module is sub][:1]


def _pair_subset(pairs: PairDataset, data: CorpusConfig) -> np.ndarray:
    """Sorted positions ``[k]`` of the pairs a run uses.

    Each source is first capped at its ``max_pairs``, then ``fraction`` / ``max_molecules`` apply
    to the rest; every subset is seeded by ``subset_seed``.
    """
    everything = np.arange(len(pairs), dtype=np.int64)
    parts = []
    for i, src in enumerate(data.pairs):
        rows = everything[pairs.source_ids == i]
        if src.max_pairs is not None and src.max_pairs < len(rows):
            rows = rows[
                select_subset(len(rows), max_molecules=src.max_pairs, seed=data.subset_seed + i)
            ]
        parts.append(rows)
    keep = np.sort(np.concatenate(parts))
    chosen = select_subset(
        len(keep),
        fraction=data.fraction,
        max_molecules=data.max_molecules,
        seed=data.subset_seed,
    )
    return keep[chosen]


def _peak_rss_mib() -> dict[str, float] | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {
        "self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1),
        "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale, 1),
    }


def _resolved(cfg: PretrainConfig) -> PretrainConfig:
    """``cfg`` with its data root made absolute, so ``config.yaml`` does not depend on the cwd."""
    return replace(cfg, data=replace(cfg.data, data_root=str(cfg.data.root().resolve())))


def _check_previous_run(run_dir: Path, cfg: PretrainConfig, resume: bool) -> None:
    ckpt = run_dir / "checkpoints" / "last.pt"
    if not resume:
        if ckpt.exists():
            logger.warning("%s has a checkpoint; starting afresh (use --resume to continue)", ckpt)
        return
    path = run_dir / "config.yaml"
    if not path.exists():
        return
    old = normalize_objectives(yaml.safe_load(path.read_text()) or {})
    new = to_dict(cfg)
    changed = [k for k in new if old.get(k) != new[k]]
    if changed:
        logger.warning("resuming %s with a changed config (%s)", run_dir, ", ".join(changed))


def run_pretraining(cfg: PretrainConfig, *, resume: bool = False) -> dict[str, Any]:
    """Pretrain ``cfg.model`` on ``cfg.data`` with ``cfg.objectives``; see the module docstring.

    Args:
        cfg: The run.
        resume: Continue from ``run_dir/checkpoints/last.pt`` (same config expected; a run
            interrupted after a checkpoint ends with bit-identical weights on the same machine).

    Returns:
        The content of ``pretrain.json``.

    Raises:
        UnknownNameError: An objective name or option is unknown (checked before the corpus is
            built).
        ConfigError: No corpus path is given, or another option is invalid.
    """
    started = time.perf_counter()
    for spec in cfg.objectives:  # fail on a typo before a long corpus build
        build_task_config(spec)
    seeded = [s.name for s in cfg.objectives if s.params.get("seed") is not None]
    if seeded:
        logger.warning(
            "objectives %s draw from private generators (params.seed), which training "
            "checkpoints do not save: a resumed run will not replay their corruptions exactly; "
            "leave seed null to use the checkpointed global RNG",
            seeded,
        )
    cfg = _resolved(cfg)
    run_dir = Path(cfg.run_dir)
    started_group = not dist.is_distributed() and dist.init_distributed()  # under torchrun
    main = dist.is_main_process()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        _check_previous_run(run_dir, cfg, resume)
        save_config(cfg, run_dir / "config.yaml")
    resumed = resume and (run_dir / "checkpoints" / "last.pt").exists()

    if not main:  # rank 0 builds the feature cache, the others then open it
        dist.barrier()
    if cfg.text is not None:
        run = _moltext_run(cfg, run_dir, resumed=resumed, main=main)
    else:
        run = _graph_run(cfg)
    if main:
        dist.barrier()
    encoder, task, loader, evaluate = run.encoder, run.task, run.loader, run.evaluate
    train_idx, valid_idx = run.train_idx, run.valid_idx
    tc = cfg.train
    names = [spec.name for spec in cfg.objectives]
    logger.info(
        "pretraining %s (%d parameters, %d in heads) with %s on %d %s (%d held out)",
        cfg.model.arch if cfg.text is None else f"{cfg.model.arch} + {cfg.text.name_or_path}",
        sum(p.numel() for p in encoder.parameters()),
        sum(p.numel() for p in task.parameters()) - sum(p.numel() for p in encoder.parameters()),
        "+".join(names),
        len(train_idx),
        "pairs" if cfg.text is not None else "molecules",
        len(valid_idx),
    )
    recorder = _LossRecorder(task)
    try:
        result = train(
            task,
            loader,
            tc,
            run_dir=run_dir,
            resume=resume,
            evaluate=evaluate,
            param_groups=run.param_groups,
        )
    finally:
        recorder.close()
    logger.info(
        "pretrained to step %d at %.0f molecules/s", result.final_step, result.train_graphs_per_s
    )

    seen = result.final_step * tc.batch_size * tc.grad_accum * dist.world_size()
    summary: dict[str, Any] = {
        "objectives": [to_dict(spec) for spec in cfg.objectives],
        "model_dir": str(run_dir / MODEL_DIR),
        "steps": result.final_step,
        "molecules_seen": seen,
        "epochs": round(seen / max(len(train_idx), 1), 4),
        "molecules_per_s": round(result.train_graphs_per_s, 2),
        "train_wall_time_s": round(result.wall_time_s, 2),
        "wall_time_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": _peak_rss_mib(),
        "final_train": recorder.means(),
        "final_valid": result.history[-1] if result.history else None,
        "resumed": resumed,
        "world_size": dist.world_size(),
        "num_train": int(len(train_idx)),
        "num_valid": int(len(valid_idx)),
        "corpus": run.info,
        "device": str(next(task.parameters()).device),
        "torch_threads": torch.get_num_threads(),
    }
    if not all(math.isfinite(v) for v in summary["final_train"].values()):
        logger.warning("non-finite final training loss: %s", summary["final_train"])
    if not main:
        if started_group:
            dist.cleanup()
        return summary
    meta = {
        "objectives": names,
        "steps": result.final_step,
        "corpus_molecules": int(len(train_idx)),
        "corpus_sha256": [s.get("sha256") for s in run.info.get("sources", [])],
        "pretrain_config": to_dict(cfg),
    }
    if cfg.text is not None:
        encoder.save_pretrained(run_dir / MODEL_DIR, meta=meta)
    else:
        PretrainedGraphEncoder(
            PretrainedEncoderConfig(encoder=cfg.model, objectives=tuple(names)), encoder
        ).save_pretrained(run_dir / MODEL_DIR, meta=meta)
    summary["versions"] = versions()
    summary["git_revision"] = git_revision()
    summary["wall_time_s"] = round(time.perf_counter() - started, 2)
    write_json_atomic(run_dir / "pretrain.json", summary, default=str)
    if started_group:
        dist.cleanup()
    return summary
