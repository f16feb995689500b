"""Relation metrics against sklearn.metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from molgraphpt.evaluation.relation_metrics import relation_scores

LABELS = ("false", "A", "B", "C", "D")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, 60)  # label D never gold
    y_pred = np.where(rng.random(60) < 0.6, y_true, rng.integers(0, 5, 60))
    out = relation_scores(y_true, y_pred, LABELS, negative_label="false")
    assert out["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert out["micro_f1"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert out["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    positive = [1, 2, 3, 4]
    assert out["micro_f1_positive"] == pytest.approx(
        f1_score(y_true, y_pred, average="micro", labels=positive, zero_division=0)
    )
    present = [i for i in positive if i in set(y_true) | set(y_pred)]
    assert out["macro_f1_positive"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0)
    )
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(5), zero_division=0)
    for i, name in enumerate(LABELS):
        got = out["per_label"][name]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p[i], r[i], f[i]))
        assert got["support"] == s[i]


def test_without_negative_label_and_edge_cases():
    out = relation_scores([0, 1, 1], [0, 1, 0], ("A", "B"))
    assert "micro_f1_positive" not in out and out["micro_f1"] == pytest.approx(2 / 3)
    empty = relation_scores([], [], ("A", "B"))
    assert np.isnan(empty["micro_f1"]) and empty["num_examples"] == 0
    with pytest.raises(ValueError, match="outside"):
        relation_scores([0, 2], [0, 1], ("A", "B"))
    with pytest.raises(ValueError, match="negative label"):
        relation_scores([0], [0], ("A", "B"), negative_label="false")
