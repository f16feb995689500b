"""Relation-classification metrics (pure numpy): micro/macro F1, per-label P/R/F1.

Every prediction is a single label id, as in sklearn's multiclass ``f1_score``:

* ``micro_f1`` pools true positives, false positives and false negatives over **all** labels.
  With one predicted label per example this equals **accuracy** (every error is one false
  positive and one false negative). It is the ChemProt number of SciBERT and KV-PLM, whose
  files hold positive relations only.
* ``micro_f1_positive`` (only when a negative label is declared) pools over the labels other
  than the negative one: sklearn's ``f1_score(average="micro", labels=positive_labels)``, the
  BLURB / ChemProt-with-``false`` convention.
* ``macro_f1`` is the unweighted mean of the per-label F1 over the labels that occur in the gold
  or the predicted ids (sklearn's default label set); ``macro_f1_positive`` leaves the negative
  label out of that set.

A label never predicted has precision 0 (sklearn's ``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["per_label_scores", "relation_scores"]


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, ...]:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-300), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1.0), 0.0)
    return precision, recall, f1


def _counts(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> tuple[np.ndarray, ...]:
    tp = np.bincount(y_true[y_true == y_pred], minlength=num_labels)
    pred = np.bincount(y_pred, minlength=num_labels)
    gold = np.bincount(y_true, minlength=num_labels)
    return tp, pred - tp, gold - tp, gold


def per_label_scores(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """``{label: {precision, recall, f1, support}}`` for every label of ``labels``."""
    yt, yp = _check(y_true, y_pred, len(labels))
    tp, fp, fn, gold = _counts(yt, yp, len(labels))
    precision, recall, f1 = _prf(tp, fp, fn)
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(gold[i]),
        }
        for i, name in enumerate(labels)
    }


def relation_scores(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    labels: Sequence[str],
    negative_label: str | None = None,
) -> dict[str, Any]:
    """Micro/macro F1, accuracy and per-label scores of single-label predictions.

    Args:
        y_true: Gold label ids ``[n]`` (indices into ``labels``).
        y_pred: Predicted label ids ``[n]``.
        labels: Label names in id order.
        negative_label: The "no relation" label, if any: adds ``micro_f1_positive`` and
            ``macro_f1_positive`` (the negative label left out; see the module docstring).

    Returns:
        ``{"micro_f1", "macro_f1", "accuracy", "num_examples", "per_label"}`` (+ the positive
        variants); F1 values are NaN for an empty input.

    Raises:
        ValueError: Lengths differ, an id is outside ``labels``, or ``negative_label`` is not a
            label.
    """
    yt, yp = _check(y_true, y_pred, len(labels))
    n = len(yt)
    tp, fp, fn, _ = _counts(yt, yp, len(labels))
    present = np.union1d(yt, yp)
    _, _, f1 = _prf(tp, fp, fn)
    nan = float("nan")
    out: dict[str, Any] = {
        "micro_f1": float(_prf(tp.sum(), fp.sum(), fn.sum())[2]) if n else nan,
        "macro_f1": float(f1[present].mean()) if n else nan,
        "accuracy": float((yt == yp).mean()) if n else nan,
        "num_examples": int(n),
    }
    if negative_label is not None:
        if negative_label not in labels:
            raise ValueError(f"negative label {negative_label!r} is not one of {list(labels)}")
        neg = list(labels).index(negative_label)
        pos = np.array([i for i in range(len(labels)) if i != neg], dtype=np.int64)
        pos_present = np.setdiff1d(present, [neg])
        micro = _prf(tp[pos].sum(), fp[pos].sum(), fn[pos].sum())[2]
        out["micro_f1_positive"] = float(micro) if n else nan
        out["macro_f1_positive"] = float(f1[pos_present].mean()) if pos_present.size else nan
    out["per_label"] = per_label_scores(yt, yp, labels)
    return out


def _check(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true, dtype=np.int64).reshape(-1)
    yp = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {len(yt)} ids but y_pred {len(yp)}")
    for name, ids in (("y_true", yt), ("y_pred", yp)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
            raise ValueError(f"{name} holds ids outside [0, {num_labels})")
    return yt, yp
