"""Fine-tuning recipe: dataset → model (maybe from a checkpoint) → training over seeds → results.

For every seed the model with the best validation metric is kept (Hu et al. 2020: "test at the
best validation epoch"), saved as a ``save_pretrained`` directory, and scored on the test split.
Files in ``run_dir``:

* ``run.json`` and ``config.yaml`` — the config the folder belongs to and its fingerprint
  (:mod:`molgraphpt.recipes.run_dir`: a rerun with another config is refused unless
  ``overwrite=True``; the keys of :data:`IGNORED_KEYS` do not count);
* ``seed_<s>/`` — ``model/``, ``result.json``, ``metrics.csv``, ``valid_predictions.csv`` and
  ``test_predictions.csv`` (:mod:`molgraphpt.recipes.predictions`); ``checkpoints/last.pt``
  only while the seed trains (deleted once ``result.json`` proves it finished);
* ``results.json`` — the per-seed numbers and their mean ± std, the resolved config and its
  fingerprint, the command line, the input files' SHA-256, library versions, git revision,
  the epochs each seed ran and the wall time.

A seed whose ``result.json`` exists (and records this config's fingerprint) is not run again, so
adding seeds to a finished run trains only the new ones; an interrupted seed resumes from its
last checkpoint when ``resume=True``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import load_config, to_dict
from molgraphpt.config.schema import FinetuneConfig
from molgraphpt.data.datasets import MoleculeDataset, load_dataset_from_config
from molgraphpt.data.loader import GraphLoader
from molgraphpt.evaluation.metrics import (
    HIGHER_IS_BETTER,
    OGB_KEYS,
    compute_metric,
    ogb_evaluate,
)
from molgraphpt.models.heads import PropertyModel, PropertyModelConfig
from molgraphpt.models.pretrained import graph_encoder_config
from molgraphpt.models.serialization import load_encoder_weights
from molgraphpt.objectives.supervised import PropertyPrediction, PropertyPredictionConfig
from molgraphpt.recipes.predictions import probabilities, write_predictions
from molgraphpt.recipes.run_dir import RunDirectory, RunIdentity, reuse_or_run_seed
from molgraphpt.recipes.run_record import file_hashes, provenance, without_keys
from molgraphpt.recipes.run_report import write_run_report
from molgraphpt.training.config import TrainConfig
from molgraphpt.training.loop import TrainResult, train

logger = logging.getLogger(__name__)

#: Config keys that do not change a fine-tuning run's results, left out of its fingerprint:
#: where outputs, caches and data live (the input files are hashed instead), parallelism,
#: logging, the device, and the seeds (each seed has its own folder, so a rerun may add seeds;
#: ``train.seed`` is replaced by each of them).
IGNORED_KEYS = (
    "run_dir",
    "seeds",
    "train.seed",
    "train.progress",
    "train.log_every",
    "train.num_threads",
    "train.device",
    "data.data_root",
    "data.cache_dir",
    "data.download",
    "data.workers",
    "data.loader_workers",
)


@torch.no_grad()
def predict(task: PropertyPrediction, loader: GraphLoader, device: torch.device) -> np.ndarray:
    """Scores ``[num_molecules, num_tasks]`` of every molecule of ``loader``, in order."""
    was_training = task.training
    task.eval()
    out = [task.predict(batch.to(device)).cpu() for batch in loader.iter_epoch(0)]
    task.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, task.model.cfg.num_tasks))


def score(dataset: MoleculeDataset, indices: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """The dataset's metric on ``indices``; for OGB datasets also the OGB Evaluator's value."""
    y_true = dataset.labels[indices]
    result = compute_metric(dataset.metric, y_true, y_pred)
    out: dict[str, Any] = {dataset.metric: result.value}
    if result.skipped:
        out["skipped_tasks"] = [dataset.task_names[i] for i in result.skipped]
    if dataset.ogb_name and dataset.metric in OGB_KEYS:
        ogb = ogb_evaluate(dataset.ogb_name, y_true, y_pred)
        out[f"ogb_{dataset.metric}"] = ogb[OGB_KEYS[dataset.metric]]
    return out


def build_model(cfg: FinetuneConfig, dataset: MoleculeDataset) -> PropertyModel:
    """A fresh :class:`PropertyModel`, its encoder loaded from ``cfg.model.init`` if given.

    With ``model.init``, the encoder architecture is the checkpoint's (any checkpoint holding a
    graph encoder) and only the dropout comes from ``model.encoder``.
    """
    encoder_cfg = cfg.model.encoder
    if cfg.model.init:
        saved = graph_encoder_config(cfg.model.init)
        encoder_cfg = replace(saved, dropout=encoder_cfg.dropout)
    model = PropertyModel(
        PropertyModelConfig(
            encoder=encoder_cfg,
            num_tasks=dataset.num_tasks,
            head_hidden_dim=cfg.model.head.hidden_dim,
            head_dropout=cfg.model.head.dropout,
            task_type=dataset.task_type,
        )
    )
    if cfg.model.init:
        load_encoder_weights(model.graph_encoder, cfg.model.init)
    return model


def _metric_stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": math.nan, "std": math.nan}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=0))}


def finetune_seed(
    cfg: FinetuneConfig,
    dataset: MoleculeDataset,
    seed: int,
    run_dir: Path,
    *,
    resume: bool,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """Fine-tune one seed; returns ``{"seed", "valid", "test", "best_epoch", ...}``.

    Composes: model (:func:`build_model`), objective (:class:`PropertyPrediction`, regression
    targets standardised on the training split), loaders, the strategy's phases through
    :func:`~molgraphpt.training.loop.train`, then the best model saved to ``run_dir/model``,
    scored on the validation and test splits (``{split}_predictions.csv``), ``result.json``
    (with the run's config ``fingerprint``) written and the training state deleted.
    """
    train_cfg = replace(cfg.train, seed=seed)
    device = _device(train_cfg.device)
    split = dataset.split
    torch.manual_seed(seed)
    model = build_model(cfg, dataset)
    mean, std = _target_scaling(cfg, dataset)
    task = PropertyPrediction(model, PropertyPredictionConfig(dataset.task_type), mean, std)
    loaders = {
        part: GraphLoader(
            dataset.store, getattr(split, part), batch_size=train_cfg.batch_size * 4, num_workers=0
        )
        for part in ("valid", "test")
    }
    train_loader = GraphLoader(
        dataset.store,
        split.train,
        batch_size=train_cfg.batch_size,
        shuffle=True,
        seed=seed,
        num_workers=cfg.data.loader_workers,
    )
    metric = dataset.metric

    def evaluate(t: torch.nn.Module) -> dict[str, float]:
        return {
            f"{part}/{metric}": score(dataset, loader.indices, predict(t, loader, device))[metric]
            for part, loader in loaders.items()
        }

    result = _train_phases(cfg, train_cfg, task, train_loader, evaluate, metric, run_dir, resume)
    model.save_pretrained(
        run_dir / "model",
        meta={
            "dataset": dataset.name,
            "seed": seed,
            "task_names": list(dataset.task_names),
            "target_mean": None if mean is None else mean.tolist(),
            "target_std": None if std is None else std.tolist(),
        },
    )
    out: dict[str, Any] = {
        "seed": seed,
        "config_fingerprint": fingerprint,
        "best_epoch": result.best_epoch,
        "best_step": result.best_step,
        "epochs_run": _epochs_run(result),
        "train_graphs_per_s": result.train_graphs_per_s,
        "wall_time_s": result.wall_time_s,
        "device": str(device),
    }
    for part, loader in loaders.items():
        y_pred = predict(task, loader, device)
        out[part] = score(dataset, loader.indices, y_pred)
        _write_split_predictions(run_dir / f"{part}_predictions.csv", dataset, loader, y_pred)
    write_json_atomic(run_dir / "result.json", out)
    _drop_training_state(run_dir)
    return out


def _write_split_predictions(
    path: Path, dataset: MoleculeDataset, loader: GraphLoader, y_pred: np.ndarray
) -> None:
    """``{split}_predictions.csv`` of ``y_pred`` ``[n, num_tasks]`` (scores of :func:`predict`)."""
    if dataset.task_type == "classification":
        y_pred = probabilities(y_pred)
    indices = np.asarray(loader.indices)
    y_true = dataset.labels[indices]
    write_predictions(path, dataset.store, indices, dataset.task_names, y_true, y_pred)


def _drop_training_state(seed_dir: Path) -> None:
    """Delete the seed's ``checkpoints/last.pt`` (of each phase): ``result.json`` proves the end."""
    for folder in (seed_dir, seed_dir / "probe", seed_dir / "full"):
        checkpoints = folder / "checkpoints"
        (checkpoints / "last.pt").unlink(missing_ok=True)
        (checkpoints / "last.pt.sha256").unlink(missing_ok=True)
        if checkpoints.is_dir() and not any(checkpoints.iterdir()):
            checkpoints.rmdir()


def _device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _target_scaling(
    cfg: FinetuneConfig, dataset: MoleculeDataset
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-task mean and std ``[num_tasks]`` of the training targets (regression), else None."""
    if dataset.task_type != "regression" or not cfg.standardize_targets:
        return None, None
    train_y = dataset.labels[dataset.split.train]
    mean = torch.from_numpy(np.nanmean(train_y, axis=0)).float()
    std = torch.from_numpy(np.nanstd(train_y, axis=0)).float().clamp(min=1e-6)
    return mean, std


def _phases(cfg: FinetuneConfig, train_cfg: TrainConfig) -> list[tuple[str, TrainConfig]]:
    """``[(phase, loop config)]`` of the strategy: ``probe`` and/or ``full``."""
    strategy = cfg.strategy
    if strategy.mode == "linear_probe":
        return [("probe", train_cfg)]
    if strategy.mode == "lp_ft":
        probe = replace(train_cfg, epochs=strategy.lp_epochs, max_steps=None)
        return [("probe", probe), ("full", train_cfg)]
    return [("full", train_cfg)]


def _train_phases(
    cfg: FinetuneConfig,
    train_cfg: TrainConfig,
    task: PropertyPrediction,
    train_loader: GraphLoader,
    evaluate: Any,
    metric: str,
    run_dir: Path,
    resume: bool,
) -> TrainResult:
    """Run the strategy's phases (freezing as each needs); the last phase's result."""
    strategy, model = cfg.strategy, task.model
    enc_lr = strategy.encoder_lr or train_cfg.lr
    head_lr = strategy.head_lr or train_cfg.lr
    phases = _phases(cfg, train_cfg)
    result = None
    for phase, phase_cfg in phases:
        if phase == "probe":
            model.freeze_encoder(True)
        elif strategy.mode == "freeze_layers":
            model.freeze_first_layers(strategy.freeze_layers)
        else:
            model.freeze_encoder(False)
        result = train(
            task,
            train_loader,
            phase_cfg,
            run_dir=run_dir / phase if len(phases) > 1 else run_dir,
            evaluate=evaluate,
            select=f"valid/{metric}",
            mode="max" if HIGHER_IS_BETTER[metric] else "min",
            resume=resume,
            param_groups=model.parameter_groups(enc_lr, head_lr, phase_cfg.weight_decay),
        )
    assert result is not None  # there is always at least one phase
    return result


def _epochs_run(result: Any) -> int | None:
    history = getattr(result, "history", None) or []
    epochs = [h.get("epoch") for h in history if h.get("epoch") is not None]
    return int(max(epochs)) + 1 if epochs else None


def finetune_identity(cfg: FinetuneConfig) -> RunIdentity:
    """What a fine-tuning run directory belongs to: ``cfg`` without :data:`IGNORED_KEYS`."""
    return RunIdentity("finetune", without_keys(to_dict(cfg), IGNORED_KEYS), IGNORED_KEYS)


def _legacy_identity(path: Path) -> RunIdentity:
    """The identity of a run directory's ``config.yaml`` (folders without ``run.json``)."""
    return finetune_identity(load_config(FinetuneConfig, path))


def dataset_hashes(dataset: MoleculeDataset) -> list[dict[str, str]]:
    """``[{"path", "sha256"}]`` of the files the dataset was read from (and OGB split files).

    The source's hash is the one the feature cache was keyed on when the dataset was loaded.
    """
    source = Path(dataset.source)
    recorded = (dataset.store.meta.get("key") or {}).get("source_sha256")
    first = [{"path": str(source), "sha256": recorded}] if recorded else file_hashes([source])
    split_files = []
    if dataset.split_name == "ogb-scaffold":
        split_dir = source.parent.parent / "split" / "scaffold"
        split_files = [split_dir / f"{part}.csv.gz" for part in ("train", "valid", "test")]
    return first + file_hashes(split_files)


def run_finetune(
    cfg: FinetuneConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Run ``cfg`` over all its seeds and write ``run_dir/results.json``; returns the results.

    Args:
        cfg: The run.
        resume: Continue interrupted seeds from their ``checkpoints/last.pt``.
        overwrite: Replace the outputs of a run of another config in ``cfg.run_dir``.

    Raises:
        RunDirError: ``cfg.run_dir`` holds results of another config or input data (and
            ``overwrite`` is False), or another run is using it.
    """
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    with RunDirectory(run_dir, finetune_identity(cfg), read_legacy=_legacy_identity) as claim:
        claim.check(resume=resume, overwrite=overwrite)
        dataset = load_dataset_from_config(cfg.data)
        if cfg.model.init:  # an unreadable checkpoint fails here, before anything is written
            graph_encoder_config(cfg.model.init)
        data = dataset_hashes(dataset)
        claim.commit(cfg, data=data)
        _log_dataset(dataset)
        claim.mark_started()
        seeds = [_run_seed(cfg, dataset, seed, claim, resume=resume) for seed in cfg.seeds]
        summary = _summary(cfg, dataset, seeds, claim.fingerprint, data)
        summary["wall_time_s"] = round(time.perf_counter() - start, 2)
        write_json_atomic(run_dir / "results.json", summary, default=str)
        write_run_report(run_dir)
    return summary


def _log_dataset(dataset: MoleculeDataset) -> None:
    logger.info(
        "%s: %d molecules, %d tasks (%s, %s), split %s = %s",
        dataset.name,
        len(dataset),
        dataset.num_tasks,
        dataset.task_type,
        dataset.metric,
        dataset.split_name,
        dataset.split.sizes,
    )


def _run_seed(
    cfg: FinetuneConfig, dataset: MoleculeDataset, seed: int, claim: RunDirectory, *, resume: bool
) -> dict[str, Any]:
    """One seed's result: read back if ``seed_<s>/result.json`` exists, else trained."""

    def train(seed_dir: Path) -> dict[str, Any]:
        return finetune_seed(
            cfg, dataset, seed, seed_dir, resume=resume, fingerprint=claim.fingerprint
        )

    res, trained = reuse_or_run_seed(claim, seed, train)
    if not trained:
        return res
    metric = dataset.metric
    logger.info(
        "seed %d: valid %s=%.4f, test %s=%.4f",
        seed,
        metric,
        res["valid"][metric],
        metric,
        res["test"][metric],
    )
    return res


def _summary(
    cfg: FinetuneConfig,
    dataset: MoleculeDataset,
    seeds: list[dict[str, Any]],
    fingerprint: str,
    data: list[dict[str, str]],
) -> dict[str, Any]:
    """``results.json``'s content (the wall time is added by the caller)."""
    metric = dataset.metric
    return {
        "dataset": dataset.name,
        "metric": metric,
        "task_type": dataset.task_type,
        "num_tasks": dataset.num_tasks,
        "split": {"name": dataset.split_name, "sizes": list(dataset.split.sizes)},
        "data_info": dataset.info,
        "seeds": seeds,
        "epochs_run": {str(s["seed"]): s.get("epochs_run") for s in seeds},
        "valid": _metric_stats([s["valid"][metric] for s in seeds]),
        "test": _metric_stats([s["test"][metric] for s in seeds]),
        "config": to_dict(cfg),
        "config_fingerprint": fingerprint,
        "data": data,
        **provenance(),
    }


def load_property_model(directory: str | Path) -> PropertyModel:
    """A fine-tuned model saved by :func:`finetune_seed` (``PropertyModel.from_pretrained``)."""
    return PropertyModel.from_pretrained(directory)
