"""Per-seed prediction files of a fine-tuning run: ``seed_<s>/{valid,test}_predictions.csv``.

One row per molecule of the split, in split order. Columns: ``row`` (0-based position of the
molecule in the dataset, the index the split refers to), ``smiles``, then for every task
``<task>`` (the target, empty where missing) and ``<task>_pred`` (the prediction in target units
for regression, the probability of the positive class for classification). Each number is the
shortest text that reads back to the same value of its dtype (float32 targets: ``-5.45``, not
``-5.44999981``). ``molgraphpt report`` reads them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from molgraphpt._io import write_text_atomic
from molgraphpt.data.store import GraphStore
from molgraphpt.errors import CacheError

__all__ = ["predictions_csv", "probabilities", "write_predictions"]


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of ``logits`` (any shape), computed without overflow, as float64."""
    x = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _number(value: np.floating) -> str:
    """Shortest round-trip text of a NumPy float scalar; empty for NaN."""
    return "" if math.isnan(value) else str(value)


def predictions_csv(
    indices: np.ndarray,
    smiles: Sequence[str],
    task_names: Sequence[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
) -> str:
    """The CSV text of one split's predictions.

    Args:
        indices: Dataset positions of the molecules ``[n]``.
        smiles: Their SMILES ``[n]``.
        task_names: One name per task ``[num_tasks]``.
        y_true: Targets ``[n, num_tasks]`` (NaN where missing).
        y_pred: Predictions ``[n, num_tasks]`` (target units, or probabilities).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    header = ["row", "smiles"]
    for name in task_names:
        header += [name, f"{name}_pred"]
    writer.writerow(header)
    for i, index in enumerate(indices):
        row = [str(int(index)), smiles[i]]
        for t in range(len(task_names)):
            row += [_number(y_true[i, t]), _number(y_pred[i, t])]
        writer.writerow(row)
    return handle.getvalue()


def write_predictions(
    path: str | Path,
    store: GraphStore,
    indices: np.ndarray,
    task_names: Sequence[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
) -> Path:
    """Write :func:`predictions_csv` atomically to ``path``; SMILES come from ``store``.

    A store built without SMILES gives empty ``smiles`` cells.
    """

    def smiles_of(i: int) -> str:
        try:
            return store.smiles(int(i))
        except CacheError:
            return ""

    smiles = [smiles_of(i) for i in indices]
    return write_text_atomic(path, predictions_csv(indices, smiles, task_names, y_true, y_pred))
