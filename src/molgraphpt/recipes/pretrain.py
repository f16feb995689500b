"""Pretraining recipe: corpus → encoder(s) → objectives → ``training.loop.train`` → checkpoint.

A run is *graph-only* (``data.paths``: unlabelled SMILES; ``model/`` is a graph encoder) or
*molecule–text* (a ``text:`` encoder and ``data.pairs``; ``model/`` is a
:class:`~molgraphpt.models.moltext.MolTextModel` whose graph encoder ``finetune`` also accepts).
Graph objectives work in both; text objectives need the second.

:func:`run_pretraining` is the composition root that ``molgraphpt pretrain`` and the benchmarks
call. It writes into ``cfg.run_dir``:

* ``config.yaml`` and ``run.json`` — the resolved config (overrides applied, data root made
  absolute) and its fingerprint: the folder belongs to that config
  (:mod:`molgraphpt.recipes.run_dir`; a rerun with another config is refused unless
  ``overwrite=True``; the keys of :data:`IGNORED_KEYS` do not count);
* ``model/`` — the encoder as a ``save_pretrained`` directory whose ``config.yaml`` holds
  ``encoder:`` (the architecture) and whose weights are the bare encoder state dict, so
  ``molgraphpt finetune model.init=RUN_DIR/model`` starts from it; its ``meta.json`` records
  the config, its fingerprint, the command line and the input files' SHA-256;
* ``pretrain.json`` — corpus counts and provenance (config, fingerprint, command line, input
  files' SHA-256, versions, git revision), steps, molecules/s, wall time, peak memory and the
  final losses;
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

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import to_dict
from molgraphpt.config.schema import PretrainConfig, load_pretrain_config
from molgraphpt.models.graph import GraphEncoder
from molgraphpt.models.graph_checkpoint import PretrainedEncoderConfig, PretrainedGraphEncoder
from molgraphpt.models.pretrained import load_graph_encoder
from molgraphpt.objectives.base import build_task_config
from molgraphpt.recipes.pretrain_graph import build_graph_run
from molgraphpt.recipes.pretrain_moltext import build_moltext_run, save_smiles_tokenizer
from molgraphpt.recipes.pretrain_run import LossRecorder, PretrainRun
from molgraphpt.recipes.run_dir import RunDirectory, RunIdentity
from molgraphpt.recipes.run_record import provenance, without_keys
from molgraphpt.recipes.run_report import write_run_report
from molgraphpt.training import distributed as dist
from molgraphpt.training.loop import TrainResult, train

__all__ = ["load_pretrained_encoder", "run_pretraining"]

logger = logging.getLogger(__name__)

MODEL_DIR = "model"

#: Config keys that do not change a pretraining run's results, left out of its fingerprint:
#: where outputs, caches and data live (the input files are hashed instead), parallelism,
#: logging and the device.
IGNORED_KEYS = (
    "run_dir",
    "train.progress",
    "train.log_every",
    "train.num_threads",
    "train.device",
    "data.data_root",
    "data.cache_dir",
    "data.workers",
    "data.loader_workers",
)


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


def pretrain_identity(cfg: PretrainConfig) -> RunIdentity:
    """What a pretraining run directory belongs to.

    ``cfg`` without :data:`IGNORED_KEYS`, each objective's options completed with their
    defaults (``{name: attr_mask}`` and ``{name: attr_mask, mask_rate: 0.15}`` are one run),
    and the number of processes (it sets the global batch).
    """
    config = without_keys(to_dict(cfg), IGNORED_KEYS)
    config["objectives"] = [
        {"name": spec.name, "weight": spec.weight, "params": to_dict(build_task_config(spec))}
        for spec in cfg.objectives
    ]
    config["world_size"] = dist.world_size()
    return RunIdentity("pretrain", config, IGNORED_KEYS)


def _legacy_identity(path: Path) -> RunIdentity:
    """The identity of a run directory's ``config.yaml`` (folders without ``run.json``)."""
    return pretrain_identity(load_pretrain_config(path))


def corpus_hashes(info: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"path", "sha256", "role"}]`` of the corpus's source and exclusion files."""
    sources = [
        {"path": s.get("path"), "sha256": s.get("sha256"), "role": "source"}
        for s in info.get("sources", [])
    ]
    excluded = [
        {"path": e.get("path"), "sha256": e.get("sha256"), "role": "exclude"}
        for e in (info.get("exclusion") or {}).get("files", [])
    ]
    return sources + excluded


def run_pretraining(
    cfg: PretrainConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Pretrain ``cfg.model`` on ``cfg.data`` with ``cfg.objectives``; see the module docstring.

    Args:
        cfg: The run.
        resume: Continue from ``run_dir/checkpoints/last.pt`` (same config expected; a run
            interrupted after a checkpoint ends with bit-identical weights on the same machine).
        overwrite: Replace the outputs of a run of another config in ``cfg.run_dir``.

    Returns:
        The content of ``pretrain.json``.

    Raises:
        UnknownNameError: An objective name or option is unknown (checked before the corpus is
            built).
        ConfigError: No corpus path is given, or another option is invalid.
        RunDirError: ``cfg.run_dir`` holds results of another config or input data (and
            ``overwrite`` is False), or another run is using it.
    """
    started = time.perf_counter()
    _check_objectives(cfg)
    cfg = _resolved(cfg)
    started_group = not dist.is_distributed() and dist.init_distributed()  # under torchrun
    claim = RunDirectory(
        cfg.run_dir,
        pretrain_identity(cfg),
        main=dist.is_main_process(),
        read_legacy=_legacy_identity,
    )
    try:
        with claim:
            claim.check(resume=resume, overwrite=overwrite)
            return _pretrain(cfg, claim, resume=resume, started=started)
    finally:
        if started_group:
            dist.cleanup()


def _pretrain(
    cfg: PretrainConfig, claim: RunDirectory, *, resume: bool, started: float
) -> dict[str, Any]:
    """Build the run, record it in ``claim`` (rank 0), train, and write the outputs."""
    run_dir, main = claim.path, claim.main
    checkpoint = run_dir / "checkpoints" / "last.pt"
    resumed = resume and checkpoint.exists()
    if main and not resume and checkpoint.exists():
        logger.warning("%s has a checkpoint; starting afresh (use --resume to continue)", run_dir)
    if not main:  # rank 0 builds the feature cache, the others then open it
        dist.barrier()
    if cfg.text is not None:
        run = build_moltext_run(cfg, run_dir, resumed=resumed)
    else:
        run = build_graph_run(cfg)
    data = corpus_hashes(run.info)
    if main:
        claim.commit(cfg, data=data)
        if run.smiles_tokenizer is not None:
            save_smiles_tokenizer(run.smiles_tokenizer, run_dir)
        dist.barrier()
    _log_start(cfg, run)
    claim.mark_started()
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
        record = {"config_fingerprint": claim.fingerprint, "data": data, **provenance()}
        _save_model(cfg, run, result, record)
        summary.update(config=to_dict(cfg), **record)
        summary["wall_time_s"] = round(time.perf_counter() - started, 2)
        write_json_atomic(run_dir / "pretrain.json", summary, default=str)
        write_run_report(run_dir)
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


def _save_model(
    cfg: PretrainConfig, run: PretrainRun, result: TrainResult, record: dict[str, Any]
) -> None:
    """``RUN_DIR/model``: the MolTextModel, or the graph encoder as a PretrainedGraphEncoder.

    ``meta.json`` gets ``record`` (config fingerprint, input files' hashes, command line)
    beside the config and the corpus size; the checkpoint writes versions and git revision.
    """
    names = [spec.name for spec in cfg.objectives]
    meta = {
        "objectives": names,
        "steps": result.final_step,
        "corpus_molecules": int(len(run.train_idx)),
        "corpus_sha256": [s.get("sha256") for s in run.info.get("sources", [])],
        "pretrain_config": to_dict(cfg),
        **{k: v for k, v in record.items() if k not in ("versions", "git_revision")},
    }
    directory = Path(cfg.run_dir) / MODEL_DIR
    if cfg.text is not None:
        run.encoder.save_pretrained(directory, meta=meta)
        return
    PretrainedGraphEncoder(
        PretrainedEncoderConfig(encoder=cfg.model, objectives=tuple(names)), run.encoder
    ).save_pretrained(directory, meta=meta)
