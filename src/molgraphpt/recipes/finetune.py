"""Fine-tuning recipe: dataset → model (maybe from a checkpoint) → training over seeds → results.

For every seed the model with the best validation metric is kept (Hu et al. 2020: "test at the
best validation epoch"), saved as a ``save_pretrained`` directory, and scored on the test split.
``results.json`` gathers the per-seed numbers and their mean ± std, the resolved config, the
library versions and the wall time. A seed whose ``result.json`` exists is not run again, and an
interrupted seed resumes from its last checkpoint when ``resume=True``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import save_config, to_dict
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
from molgraphpt.provenance import git_revision, versions
from molgraphpt.training.config import TrainConfig
from molgraphpt.training.loop import TrainResult, train

logger = logging.getLogger(__name__)


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
    cfg: FinetuneConfig, dataset: MoleculeDataset, seed: int, run_dir: Path, *, resume: bool
) -> dict[str, Any]:
    """Fine-tune one seed; returns ``{"seed", "valid", "test", "best_epoch", ...}``.

    Composes: model (:func:`build_model`), objective (:class:`PropertyPrediction`, regression
    targets standardised on the training split), loaders, the strategy's phases through
    :func:`~molgraphpt.training.loop.train`, then the best model saved to ``run_dir/model``
    and scored on the validation and test splits.
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
        "best_epoch": result.best_epoch,
        "best_step": result.best_step,
        "epochs_run": _epochs_run(result),
        "train_graphs_per_s": result.train_graphs_per_s,
        "wall_time_s": result.wall_time_s,
    }
    for part, loader in loaders.items():
        out[part] = score(dataset, loader.indices, predict(task, loader, device))
    write_json_atomic(run_dir / "result.json", out)
    return out


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


def run_finetune(cfg: FinetuneConfig, *, resume: bool = False) -> dict[str, Any]:
    """Run ``cfg`` over all its seeds and write ``run_dir/results.json``; returns the results."""
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    dataset = load_dataset_from_config(cfg.data)
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
    seeds = []
    for seed in cfg.seeds:
        seed_dir = run_dir / f"seed_{seed}"
        done = seed_dir / "result.json"
        if done.exists():
            logger.info("seed %d already finished: %s", seed, done)
            seeds.append(json.loads(done.read_text()))
            continue
        seed_dir.mkdir(parents=True, exist_ok=True)
        seeds.append(finetune_seed(cfg, dataset, seed, seed_dir, resume=resume))
        res = seeds[-1]
        logger.info(
            "seed %d: valid %s=%.4f, test %s=%.4f",
            seed,
            dataset.metric,
            res["valid"][dataset.metric],
            dataset.metric,
            res["test"][dataset.metric],
        )
    metric = dataset.metric
    summary = {
        "dataset": dataset.name,
        "metric": metric,
        "task_type": dataset.task_type,
        "num_tasks": dataset.num_tasks,
        "split": {"name": dataset.split_name, "sizes": list(dataset.split.sizes)},
        "data_info": dataset.info,
        "seeds": seeds,
        "valid": _metric_stats([s["valid"][metric] for s in seeds]),
        "test": _metric_stats([s["test"][metric] for s in seeds]),
        "config": to_dict(cfg),
        "versions": versions(),
        "git_revision": git_revision(),
        "wall_time_s": round(time.perf_counter() - start, 2),
    }
    write_json_atomic(run_dir / "results.json", summary, default=str)
    return summary


def load_property_model(directory: str | Path) -> PropertyModel:
    """A fine-tuned model saved by :func:`finetune_seed` (``PropertyModel.from_pretrained``)."""
    return PropertyModel.from_pretrained(directory)
