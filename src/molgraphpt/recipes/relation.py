"""Relation-extraction fine-tuning: sentences → encoder with entity markers → best model per seed.

The shape of :mod:`molgraphpt.recipes.finetune`, over
:class:`~molgraphpt.models.relation.RelationModel`: for every seed the model with the best
validation micro-F1 (through the training loop's ``evaluate``) is kept, saved with
``save_pretrained`` and scored on the test split. Files in
``run_dir``:

* ``run.json`` / ``config.yaml`` — the config the folder belongs to (:class:`RunDirectory`:
  fingerprint, lock, ``--overwrite``);
* ``seed_<s>/`` — ``model/``, ``result.json``, ``metrics.csv`` (the loop's),
  ``valid_predictions.csv`` and ``test_predictions.csv`` (``line, text, label, predicted``
  and one probability column ``p_<label>`` per label); ``checkpoints/last.pt`` while it trains;
* ``results.json`` — per-seed scores, mean ± std of micro- and macro-F1 (and the positive-label
  micro-F1 when a negative label is declared), per-label precision/recall/F1 averaged over
  seeds, data and tokenization statistics, config, fingerprint, input hashes, provenance;
* ``metrics.csv`` — ``seed,split,name,value`` of the final scores;
* ``report.md`` + ``report/*.png`` — metrics tables, per-label scores, training curves and the
  test confusion matrix (:mod:`molgraphpt.report`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import load_config, to_dict
from molgraphpt.config.schema import RelationFinetuneConfig
from molgraphpt.data.relation import RelationData, RelationSplit, load_relation_data
from molgraphpt.data.relation_batch import RelationBatch, RelationLoader
from molgraphpt.evaluation.relation_metrics import relation_scores
from molgraphpt.models.relation import RelationEncoding, RelationModel, RelationModelConfig
from molgraphpt.models.text import TextEncoder, TextEncoderConfig
from molgraphpt.objectives.base import TaskOutput
from molgraphpt.recipes.run_dir import RunDirectory, RunIdentity, reuse_or_run_seed
from molgraphpt.recipes.run_record import file_hashes, provenance, without_keys
from molgraphpt.recipes.run_report import write_run_report
from molgraphpt.training.loop import train

__all__ = [
    "RelationClassification",
    "predict_logits",
    "predict_relation_file",
    "run_relation_finetune",
]

logger = logging.getLogger(__name__)

METRIC = "micro_f1"
IGNORED_KEYS = (
    "run_dir",
    "seeds",
    "train.seed",
    "train.progress",
    "train.log_every",
    "train.num_threads",
    "train.device",
    "data.data_root",
)


#: Data options a saved model records (``meta.json`` ``relation_data``) so that
#: :func:`predict_relation_file` reads new files the way the training files were read.
READ_KEYS = (
    "format",
    "text_col",
    "label_col",
    "entities",
    "head_markers",
    "tail_markers",
    "placeholders",
    "offset_cols",
    "max_length",
)


class RelationClassification(nn.Module):
    """Cross-entropy on a :class:`RelationModel` (the training loop's task).

    Args:
        model: The classifier.
        class_weights: ``[num_labels]`` cross-entropy weights, or None.
    """

    def __init__(self, model: RelationModel, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("class_weights", class_weights, persistent=False)

    def logits(self, batch: RelationBatch) -> torch.Tensor:
        """``[batch, num_labels]``."""
        return self.model(batch.input_ids, batch.attention_mask, batch.head_pos, batch.tail_pos)

    def forward(self, batch: RelationBatch) -> TaskOutput:
        """Loss and accuracy of ``batch``."""
        logits = self.logits(batch)
        y = batch.y
        assert y is not None
        loss = F.cross_entropy(logits.float(), y, weight=self.class_weights)
        acc = (logits.argmax(-1) == y).float().mean()
        return TaskOutput(loss, {"loss": loss.detach(), "acc": acc.detach()})


@torch.no_grad()
def predict_logits(
    task: RelationClassification, loader: RelationLoader, device: torch.device, batch_size: int
) -> np.ndarray:
    """Logits ``[n, num_labels]`` of every sentence of ``loader``, in its order.

    Sentences are batched by length (less padding); the output follows the loader's order.
    """
    was_training = task.training
    task.eval()
    lengths = np.array([len(ids) for ids in loader.input_ids])
    order = np.argsort(-lengths, kind="stable")
    out = np.zeros((len(loader), task.model.cfg.num_labels), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        logits = task.logits(loader.batch(chunk).to(device))
        out[chunk] = logits.float().cpu().numpy()
    task.train(was_training)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    x = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def relation_identity(cfg: RelationFinetuneConfig) -> RunIdentity:
    """What a relation run directory belongs to: ``cfg`` without :data:`IGNORED_KEYS`."""
    return RunIdentity("relation_finetune", without_keys(to_dict(cfg), IGNORED_KEYS), IGNORED_KEYS)


def _legacy_identity(path: Path) -> RunIdentity:
    return relation_identity(load_config(RelationFinetuneConfig, path))


def encoder_path(name_or_path: str) -> str:
    """The HF encoder to start from: a molgraphpt checkpoint's ``text/`` folder, else as given."""
    path = Path(name_or_path).expanduser()
    if (path / "meta.json").is_file() and (path / "text" / "config.json").is_file():
        return str(path / "text")
    return name_or_path


def build_model(cfg: RelationFinetuneConfig, data: RelationData) -> RelationModel:
    """A fresh :class:`RelationModel` over ``cfg.model.name_or_path`` for ``data``'s labels."""
    text = TextEncoderConfig(
        name_or_path=encoder_path(cfg.model.name_or_path), max_length=cfg.data.max_length
    )
    model_cfg = RelationModelConfig(
        text=text,
        num_labels=len(data.vocab),
        labels=data.vocab.labels,
        pooling=cfg.model.pooling,
        dropout=cfg.model.dropout,
        negative_label=data.vocab.negative_label,
    )
    encoder = random_text_encoder(text) if cfg.model.init == "random" else None
    return RelationModel(model_cfg, encoder)


def random_text_encoder(cfg: TextEncoderConfig) -> TextEncoder:
    """``cfg``'s architecture and tokenizer with freshly initialised weights (torch's RNG)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from molgraphpt.models.text import resolve_text_model

    resolved = resolve_text_model(cfg.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(resolved)
    model = AutoModel.from_config(AutoConfig.from_pretrained(resolved))
    return TextEncoder(cfg, model, tokenizer)


def encode_split(model: RelationModel, split: RelationSplit) -> RelationEncoding:
    """Token ids of a split's sentences (markers inserted, windowed to ``max_length``)."""
    ex = split.examples
    return model.encode([e.clean for e in ex], [e.head for e in ex], [e.tail for e in ex])


def class_weights(cfg: RelationFinetuneConfig, labels: np.ndarray, num: int) -> torch.Tensor | None:
    """``n / (num_labels * count)`` per label (0 for labels absent from training), or None."""
    if cfg.model.class_weights == "none":
        return None
    counts = np.bincount(labels, minlength=num).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _pad_id(model: RelationModel) -> int:
    pad = model.text.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


def relation_seed(
    cfg: RelationFinetuneConfig,
    data: RelationData,
    seed: int,
    run_dir: Path,
    *,
    resume: bool,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """Fine-tune one seed; returns ``{"seed", "valid", "test", "best_epoch", ...}``."""
    train_cfg = replace(cfg.train, seed=seed)
    device = _device(train_cfg.device)
    torch.manual_seed(seed)
    model = build_model(cfg, data)
    vocab = data.vocab
    encodings = {name: encode_split(model, split) for name, split in data.splits.items()}
    labels = {name: np.asarray(vocab.ids(split.labels)) for name, split in data.splits.items()}
    pad = _pad_id(model)

    def loader(name: str, shuffle: bool) -> RelationLoader:
        enc = encodings[name]
        return _split_loader(enc, labels[name], train_cfg.batch_size, pad, shuffle, seed)

    train_loader = loader("train", True)
    evals = {"valid": loader("dev", False), "test": loader("test", False)}
    weights = class_weights(cfg, labels["train"], len(vocab))
    task = RelationClassification(model, weights)
    eval_batch = train_cfg.batch_size * 4

    def evaluate(t: nn.Module) -> dict[str, float]:
        assert isinstance(t, RelationClassification)
        logits = predict_logits(t, evals["valid"], device, eval_batch)
        scores = relation_scores(
            labels["dev"], logits.argmax(1), vocab.labels, vocab.negative_label
        )
        return {f"valid/{k}": v for k, v in scores.items() if isinstance(v, float)}

    result = train(
        task,
        train_loader,
        train_cfg,
        run_dir=run_dir,
        evaluate=evaluate,
        select=f"valid/{METRIC}",
        mode="max",
        resume=resume,
    )
    _save_seed_model(model, cfg, seed, vocab.labels, run_dir)
    out: dict[str, Any] = {
        "seed": seed,
        "config_fingerprint": fingerprint,
        "best_epoch": result.best_epoch,
        "best_step": result.best_step,
        "epochs_run": _epochs_run(result.history),
        "train_sentences_per_s": result.train_graphs_per_s,
        "wall_time_s": result.wall_time_s,
        "device": str(device),
        "tokenization": {
            name: {"truncated": enc.truncated, "entity_cut": enc.entity_cut, "rows": len(enc)}
            for name, enc in encodings.items()
        },
    }
    out.update(_score_splits(task, evals, labels, data, device, eval_batch, run_dir))
    write_json_atomic(run_dir / "result.json", out)
    _drop_training_state(run_dir)
    return out


def _split_loader(
    enc: RelationEncoding, labels: np.ndarray, batch_size: int, pad: int, shuffle: bool, seed: int
) -> RelationLoader:
    """The batches of one encoded split (``labels``: its label ids) for training or scoring."""
    return RelationLoader(
        enc.input_ids,
        enc.head_pos,
        enc.tail_pos,
        labels,
        batch_size=batch_size,
        pad_id=pad,
        shuffle=shuffle,
        seed=seed,
    )


def _save_seed_model(
    model: RelationModel,
    cfg: RelationFinetuneConfig,
    seed: int,
    labels: tuple[str, ...],
    run_dir: Path,
) -> None:
    """Save a seed's best model to ``run_dir/model`` with its labels and data options."""
    model.save_pretrained(
        run_dir / "model",
        meta={
            "task": "relation",
            "seed": seed,
            "labels": list(labels),
            "relation_data": {k: v for k, v in to_dict(cfg.data).items() if k in READ_KEYS},
        },
    )


def _score_splits(
    task: RelationClassification,
    evals: dict[str, RelationLoader],
    labels: dict[str, np.ndarray],
    data: RelationData,
    device: torch.device,
    batch_size: int,
    run_dir: Path,
) -> dict[str, dict[str, Any]]:
    """Scores of the kept model on ``"valid"`` and ``"test"``; writes their predictions files."""
    vocab = data.vocab
    scores: dict[str, dict[str, Any]] = {}
    for part, split_name in (("valid", "dev"), ("test", "test")):
        started = time.perf_counter()
        logits = predict_logits(task, evals[part], device, batch_size)
        seconds = time.perf_counter() - started
        pred = logits.argmax(1)
        scores[part] = relation_scores(labels[split_name], pred, vocab.labels, vocab.negative_label)
        scores[part]["sentences_per_s"] = len(pred) / seconds if seconds > 0 else math.nan
        _write_predictions(
            run_dir / f"{part}_predictions.csv", data.splits[split_name], vocab.labels, logits
        )
    return scores


def predictions_text(split: RelationSplit, labels: tuple[str, ...], logits: np.ndarray) -> str:
    """CSV text: ``line, text, label, predicted, p_<label>...`` per sentence."""
    probs = _softmax(logits)
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["line", "text", "label", "predicted", *(f"p_{name}" for name in labels)])
    for ex, row, p in zip(split.examples, logits.argmax(1), probs, strict=True):
        writer.writerow(
            [ex.line, ex.text, ex.label or "", labels[int(row)], *(f"{v:.6g}" for v in p)]
        )
    return handle.getvalue()


def _write_predictions(
    path: Path, split: RelationSplit, labels: tuple[str, ...], logits: np.ndarray
) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(predictions_text(split, labels, logits), encoding="utf-8")
    tmp.replace(path)


def _epochs_run(history: list[dict[str, float]]) -> int | None:
    epochs = [h.get("epoch") for h in history if h.get("epoch") is not None]
    return int(max(epochs)) + 1 if epochs else None  # type: ignore[type-var]


def _drop_training_state(seed_dir: Path) -> None:
    checkpoints = seed_dir / "checkpoints"
    (checkpoints / "last.pt").unlink(missing_ok=True)
    (checkpoints / "last.pt.sha256").unlink(missing_ok=True)
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": math.nan, "std": math.nan}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=0))}


def run_relation_finetune(
    cfg: RelationFinetuneConfig, *, resume: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Run ``cfg`` over all its seeds and write ``run_dir/results.json``; returns the results.

    Raises:
        RunDirError: ``cfg.run_dir`` holds results of another config or input data (and
            ``overwrite`` is False), or another run is using it.
        DataFormatError: A bad data file (see :mod:`molgraphpt.data.relation`).
    """
    start = time.perf_counter()
    run_dir = Path(cfg.run_dir)
    with RunDirectory(run_dir, relation_identity(cfg), read_legacy=_legacy_identity) as claim:
        claim.check(resume=resume, overwrite=overwrite)
        data = load_relation_data(cfg.data)
        hashes = file_hashes([s.path for s in data.splits.values()])
        claim.commit(cfg, data=hashes)
        logger.info("relation data: %s", data.info()["sizes"])
        claim.mark_started()
        seeds = [_run_seed(cfg, data, seed, claim, resume=resume) for seed in cfg.seeds]
        summary = _summary(cfg, data, seeds, claim.fingerprint, hashes)
        summary["wall_time_s"] = round(time.perf_counter() - start, 2)
        write_json_atomic(run_dir / "results.json", summary, default=str)
        write_run_report(run_dir)
        _write_metrics(run_dir / "metrics.csv", seeds)
    return summary


def _run_seed(
    cfg: RelationFinetuneConfig,
    data: RelationData,
    seed: int,
    claim: RunDirectory,
    *,
    resume: bool,
) -> dict[str, Any]:
    """One seed's result: read back if ``seed_<s>/result.json`` exists, else trained."""

    def train(seed_dir: Path) -> dict[str, Any]:
        return relation_seed(
            cfg, data, seed, seed_dir, resume=resume, fingerprint=claim.fingerprint
        )

    res, trained = reuse_or_run_seed(claim, seed, train)
    if not trained:
        return res
    logger.info(
        "seed %d: valid micro-F1 %.4f, test micro-F1 %.4f (macro %.4f)",
        seed,
        res["valid"][METRIC],
        res["test"][METRIC],
        res["test"]["macro_f1"],
    )
    return res


_SUMMARY_METRICS = ("micro_f1", "macro_f1", "accuracy", "micro_f1_positive", "macro_f1_positive")


def _summary(
    cfg: RelationFinetuneConfig,
    data: RelationData,
    seeds: list[dict[str, Any]],
    fingerprint: str,
    hashes: list[dict[str, str]],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dataset": Path(data.train.path).parent.name,
        "task_type": "relation",
        "metric": METRIC,
        "num_labels": len(data.vocab),
        "data_info": data.info(),
        "seeds": seeds,
        "epochs_run": {str(s["seed"]): s.get("epochs_run") for s in seeds},
    }
    for part in ("valid", "test"):
        out[part] = _stats([s[part][METRIC] for s in seeds])
        for name in _SUMMARY_METRICS[1:]:
            if all(name in s[part] for s in seeds):
                out[f"{part}_{name}"] = _stats([s[part][name] for s in seeds])
        out[f"{part}_per_label"] = {
            label: {
                key: _stats([s[part]["per_label"][label][key] for s in seeds])["mean"]
                for key in ("precision", "recall", "f1")
            }
            | {"support": seeds[0][part]["per_label"][label]["support"]}
            for label in data.vocab.labels
        }
    return {**out, "config": to_dict(cfg), "config_fingerprint": fingerprint, "data": hashes} | (
        provenance()
    )


def _write_metrics(path: Path, seeds: list[dict[str, Any]]) -> None:
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["seed", "split", "name", "value"])
    for s in seeds:
        for part in ("valid", "test"):
            for name in _SUMMARY_METRICS:
                if name in s[part]:
                    writer.writerow([s["seed"], part, name, s[part][name]])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(handle.getvalue(), encoding="utf-8")
    tmp.replace(path)


def predict_relation_file(
    model_dir: str | Path,
    input_path: str | Path,
    out_path: str | Path,
    *,
    batch_size: int = 64,
    device: str = "cpu",
    on_invalid: str = "raise",
    **data_options: Any,
) -> dict[str, Any]:
    """Predict the relation of every row of ``input_path`` with a saved :class:`RelationModel`.

    The file is read with the data options the model was trained with (``meta.json``
    ``relation_data``), updated by ``data_options`` (e.g. ``entities="placeholders"``,
    ``text_col="sentence"``); labels are optional. ``out_path`` ending in ``.jsonl`` gets one
    JSON object per row, anything else a CSV (``line, text, label, predicted, p_<label>...``).

    Returns:
        ``{"model", "input", "out", "rows", "skipped", "truncated", "entity_cut"}`` and, when
        every row has a label the model knows, its ``scores`` (:func:`relation_scores`).

    Raises:
        CheckpointError: ``model_dir`` is not a relation checkpoint.
        DataFormatError: A bad row (with ``on_invalid="raise"``).
    """
    from molgraphpt.data.relation import read_relation_file
    from molgraphpt.data.relation_config import RelationDataConfig
    from molgraphpt.errors import CheckpointError
    from molgraphpt.models.pretrained import load

    model = load(model_dir)
    if not isinstance(model, RelationModel):
        raise CheckpointError(
            f"{model_dir} holds a {model.model_type!r} model; predict needs a relation model "
            "(seed_<s>/model of a task: relation fine-tuning run)"
        )
    options = _read_options(model_dir, data_options)
    cfg = RelationDataConfig(folder=str(Path(input_path).parent), on_invalid=on_invalid, **options)
    split = read_relation_file(input_path, cfg, require_label=False)
    enc = encode_split(model, split)
    loader = RelationLoader(
        enc.input_ids, enc.head_pos, enc.tail_pos, None, batch_size=batch_size,
        pad_id=_pad_id(model),
    )  # fmt: skip
    task = RelationClassification(model).to(torch.device(device))
    logits = predict_logits(task, loader, torch.device(device), batch_size)
    labels = model.labels
    out = Path(out_path)
    _write_prediction_file(out, split, labels, logits)
    result: dict[str, Any] = {
        "model": str(model_dir),
        "input": str(input_path),
        "out": str(out),
        "rows": len(split),
        "skipped": split.skipped,
        "truncated": enc.truncated,
        "entity_cut": enc.entity_cut,
    }
    gold = split.labels
    if all(label in labels for label in gold):
        table = {name: i for i, name in enumerate(labels)}
        result["scores"] = relation_scores(
            [table[str(g)] for g in gold], logits.argmax(1), labels, model.cfg.negative_label
        )
    return result


def _read_options(model_dir: str | Path, data_options: dict[str, Any]) -> dict[str, Any]:
    """The saved data options (``meta.json`` ``relation_data``) updated by the non-None given."""
    from molgraphpt.models.serialization import load_meta

    saved = dict(load_meta(model_dir).get("relation_data") or {})
    options = {**saved, **{k: v for k, v in data_options.items() if v is not None}}
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    options.pop("max_length", None)
    return options


def _write_prediction_file(
    out: Path, split: RelationSplit, labels: tuple[str, ...], logits: np.ndarray
) -> None:
    """Write the predictions to ``out``: JSON lines if it ends in ``.jsonl``, else a CSV."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.name.endswith(".jsonl"):
        probs = _softmax(logits)
        lines = [
            json.dumps(
                {
                    "line": ex.line,
                    "text": ex.text,
                    "label": ex.label,
                    "predicted": labels[int(np.argmax(p))],
                    "probabilities": {name: float(v) for name, v in zip(labels, p, strict=True)},
                }
            )
            for ex, p in zip(split.examples, probs, strict=True)
        ]
        out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    else:
        out.write_text(predictions_text(split, labels, logits), encoding="utf-8")
