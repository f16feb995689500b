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

import logging
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import save_config, to_dict
from molgraphpt.config.schema import PretrainConfig, normalize_objectives
from molgraphpt.models.graph import GraphEncoder
from molgraphpt.models.graph_checkpoint import PretrainedEncoderConfig, PretrainedGraphEncoder
from molgraphpt.models.pretrained import load_graph_encoder
from molgraphpt.objectives.base import build_task_config
from molgraphpt.provenance import git_revision, versions
from molgraphpt.recipes.pretrain_graph import build_graph_run
from molgraphpt.recipes.pretrain_moltext import build_moltext_run
from molgraphpt.recipes.pretrain_run import LossRecorder, PretrainRun
from molgraphpt.training import distributed as dist
from molgraphpt.training.loop import TrainResult, train

__all__ = ["load_pretrained_encoder", "run_pretraining"]

logger = logging.getLogger(__name__)

MODEL_DIR = "model"


def load_pretrained_encoder(directory: str | os.PathLike[str]) -> GraphEncoder:
    """The graph encoder saved by :func:`run_pretraining` in ``RUN_DIR/model`` (CPU, eval).

    Any other checkpoint holding a graph encoder works too (:func:`load_graph_encoder`).
    """
    return load_graph_encoder(directory)


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
    _check_objectives(cfg)
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
        run = build_moltext_run(cfg, run_dir, resumed=resumed, main=main)
    else:
        run = build_graph_run(cfg)
    if main:
        dist.barrier()
    _log_start(cfg, run)
    recorder = LossRecorder(run.task)
    try:
        result = train(
            run.task,
            run.loader,
            cfg.train,
            run_dir=run_dir,
            resume=resume,
            evaluate=run.evaluate,
            param_groups=run.param_groups,
        )
    finally:
        recorder.close()
    logger.info(
        "pretrained to step %d at %.0f molecules/s", result.final_step, result.train_graphs_per_s
    )
    summary = _summary(cfg, run, result, recorder, resumed=resumed, started=started)
    if main:
        _save_model(cfg, run, result)
        summary.update(versions=versions(), git_revision=git_revision())
        summary["wall_time_s"] = round(time.perf_counter() - started, 2)
        write_json_atomic(run_dir / "pretrain.json", summary, default=str)
    if started_group:
        dist.cleanup()
    return summary


def _check_objectives(cfg: PretrainConfig) -> None:
    """Fail on an unknown objective or option before a long corpus build; warn on seeds."""
    for spec in cfg.objectives:
        build_task_config(spec)
    seeded = [s.name for s in cfg.objectives if s.params.get("seed") is not None]
    if seeded:
        logger.warning(
            "objectives %s draw from private generators (params.seed), which training "
            "checkpoints do not save: a resumed run will not replay their corruptions exactly; "
            "leave seed null to use the checkpointed global RNG",
            seeded,
        )


def _log_start(cfg: PretrainConfig, run: PretrainRun) -> None:
    encoder_params = sum(p.numel() for p in run.encoder.parameters())
    logger.info(
        "pretraining %s (%d parameters, %d in heads) with %s on %d %s (%d held out)",
        cfg.model.arch if cfg.text is None else f"{cfg.model.arch} + {cfg.text.name_or_path}",
        encoder_params,
        sum(p.numel() for p in run.task.parameters()) - encoder_params,
        "+".join(spec.name for spec in cfg.objectives),
        len(run.train_idx),
        "pairs" if cfg.text is not None else "molecules",
        len(run.valid_idx),
    )


def _summary(
    cfg: PretrainConfig,
    run: PretrainRun,
    result: TrainResult,
    recorder: LossRecorder,
    *,
    resumed: bool,
    started: float,
) -> dict[str, Any]:
    """``pretrain.json``'s content (versions and the final wall time are added by the caller)."""
    tc = cfg.train
    seen = result.final_step * tc.batch_size * tc.grad_accum * dist.world_size()
    summary: dict[str, Any] = {
        "objectives": [to_dict(spec) for spec in cfg.objectives],
        "model_dir": str(Path(cfg.run_dir) / MODEL_DIR),
        "steps": result.final_step,
        "molecules_seen": seen,
        "epochs": round(seen / max(len(run.train_idx), 1), 4),
        "molecules_per_s": round(result.train_graphs_per_s, 2),
        "train_wall_time_s": round(result.wall_time_s, 2),
        "wall_time_s": round(time.perf_counter() - started, 2),
        "peak_rss_mib": _peak_rss_mib(),
        "final_train": recorder.means(),
        "final_valid": result.history[-1] if result.history else None,
        "resumed": resumed,
        "world_size": dist.world_size(),
        "num_train": int(len(run.train_idx)),
        "num_valid": int(len(run.valid_idx)),
        "corpus": run.info,
        "device": str(next(run.task.parameters()).device),
        "torch_threads": torch.get_num_threads(),
    }
    if not all(math.isfinite(v) for v in summary["final_train"].values()):
        logger.warning("non-finite final training loss: %s", summary["final_train"])
    return summary


def _save_model(cfg: PretrainConfig, run: PretrainRun, result: TrainResult) -> None:
    """``RUN_DIR/model``: the MolTextModel, or the graph encoder as a PretrainedGraphEncoder."""
    names = [spec.name for spec in cfg.objectives]
    meta = {
        "objectives": names,
        "steps": result.final_step,
        "corpus_molecules": int(len(run.train_idx)),
        "corpus_sha256": [s.get("sha256") for s in run.info.get("sources", [])],
        "pretrain_config": to_dict(cfg),
    }
    directory = Path(cfg.run_dir) / MODEL_DIR
    if cfg.text is not None:
        run.encoder.save_pretrained(directory, meta=meta)
        return
    PretrainedGraphEncoder(
        PretrainedEncoderConfig(encoder=cfg.model, objectives=tuple(names)), run.encoder
    ).save_pretrained(directory, meta=meta)
