"""Retrieval metrics: hand-computed ranks (ties), KV-PLM in-batch accuracy, block streaming."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from molgraphpt.errors import MolGraphPTError, ShapeError
from molgraphpt.evaluation.retrieval import (
    NonFiniteScoresError,
    canonical_keys,
    duplicate_groups,
    format_table,
    in_batch_accuracy,
    metrics_from_ranks,
    rank_of_positives,
    retrieval_metrics,
    retrieval_report,
    streamed_in_batch_accuracy,
    streamed_ranks,
)
from molgraphpt.recipes.retrieval import evaluate_retrieval

# row 0: the positive ties with column 2 -> rank 1 (ties favour the positive)
# row 1: 0.8 and 0.3 beat 0.1 -> rank 3 ; row 2: 0.7 beats 0.6 -> rank 2
SCORES = torch.tensor([[0.9, 0.5, 0.9], [0.8, 0.1, 0.3], [0.2, 0.7, 0.6]])


def test_ranks_by_hand_with_ties():
    assert rank_of_positives(SCORES).tolist() == [1, 3, 2]
    m = retrieval_metrics(SCORES)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert m["hits1"] == pytest.approx(1 / 3)
    assert m["hits10"] == 1.0 and m["recall20"] == 1.0
    assert m["mean_rank"] == 2.0 and m["median_rank"] == 2.0
    assert set(m) == {"mrr", "hits1", "hits10", "mean_rank", "median_rank", "recall20"}


def test_all_equal_scores_rank_first():
    assert rank_of_positives(torch.ones(4, 4)).tolist() == [1, 1, 1, 1]


def test_groups_filter_duplicates_of_the_query():
    # pairs 1 and 2 are the same molecule: row 1 no longer loses to column 2, row 2 to column 1
    assert rank_of_positives(SCORES, groups=[0, 1, 1]).tolist() == [1, 2, 1]
    assert duplicate_groups(["a", "b", "a", "c"]).tolist() == [0, 1, 0, 2]


def test_metrics_hits_cutoffs_and_even_median():
    m = metrics_from_ranks(torch.tensor([1, 10, 11, 20, 21, 100]))
    assert m["hits1"] == pytest.approx(1 / 6)
    assert m["hits10"] == pytest.approx(2 / 6)
    assert m["recall20"] == pytest.approx(4 / 6)
    assert m["median_rank"] == 15.5  # mean of the two middle ranks
    assert m["mrr"] == pytest.approx(sum(1 / r for r in (1, 10, 11, 20, 21, 100)) / 6)


def test_perfect_scores():
    m = retrieval_metrics(torch.eye(7) + 0.01 * torch.rand(7, 7) * (1 - torch.eye(7)))
    assert m["mrr"] == 1.0 and m["hits1"] == 1.0 and m["mean_rank"] == 1.0
    assert in_batch_accuracy(torch.eye(7), batch_size=3) == 1.0


def test_worst_scores():
    m = retrieval_metrics(-torch.eye(5))
    assert m["mean_rank"] == 5.0 and m["hits1"] == 0.0 and m["mrr"] == pytest.approx(0.2)


def test_in_batch_accuracy_by_hand():
    # torch.randperm(5, generator=Generator().manual_seed(0)) = [4, 0, 1, 3, 2]
    # -> groups {4, 0}, {1, 3} and the kept partial group {2}
    assert torch.randperm(5, generator=torch.Generator().manual_seed(0)).tolist() == [4, 0, 1, 3, 2]
    s = torch.ones(5, 5)  # entries outside a query's group must not matter
    s[4, 4], s[4, 0] = 0.5, 0.9  # query 4 loses to 0: wrong
    s[0, 0], s[0, 4] = 0.5, 0.1  # query 0 correct
    s[1, 1], s[1, 3] = 0.5, 0.5  # tie: correct (ties favour the positive)
    s[3, 3], s[3, 1] = 0.2, 0.4  # query 3 loses to 1: wrong
    s[2, 2] = 0.0  # alone in its group: correct
    assert in_batch_accuracy(s, batch_size=2, seed=0) == pytest.approx(3 / 5)
    # a group as large as the pool is plain top-1 accuracy
    assert in_batch_accuracy(s, batch_size=5) == retrieval_metrics(s)["hits1"]


def test_streaming_equals_full_matrix():
    gen = torch.Generator().manual_seed(0)
    q = nn.functional.normalize(torch.randn(300, 16, generator=gen), dim=1)
    c = nn.functional.normalize(q + 0.8 * torch.randn(300, 16, generator=gen), dim=1)
    full = q @ c.T
    groups = torch.randint(0, 250, (300,), generator=gen)
    for g in (None, groups):
        expected = rank_of_positives(full, groups=g)
        assert torch.equal(streamed_ranks(q, c, groups=g, block_size=64), expected)
        assert torch.equal(rank_of_positives(full, groups=g, block_size=7), expected)
        for seed in (0, 3):
            assert streamed_in_batch_accuracy(q, c, 64, seed, groups=g) == in_batch_accuracy(
                full, 64, seed, groups=g
            )
    ranks = rank_of_positives(full)
    assert 0 < retrieval_metrics(full)["mrr"] < 1 and ranks.min() >= 1 and ranks.max() <= 300


def test_errors():
    bad = SCORES.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(NonFiniteScoresError, match="NaN"):
        rank_of_positives(bad)
    with pytest.raises(NonFiniteScoresError):
        in_batch_accuracy(bad, batch_size=2)
    assert issubclass(NonFiniteScoresError, MolGraphPTError)
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        rank_of_positives(torch.zeros(2, 3))
    with pytest.raises(ShapeError):
        rank_of_positives(SCORES, groups=[0, 1])
    with pytest.raises(ShapeError):
        streamed_ranks(torch.zeros(3, 4), torch.zeros(2, 4))


def _embeddings(table: dict[str, list[float]], keys: list[str]) -> torch.Tensor:
    return nn.functional.normalize(torch.tensor([table[k] for k in keys]), dim=1)


def test_retrieval_report_schema_and_dedupe():
    # "CCO" and "OCC" are one molecule (same embedding) with two different descriptions
    mol = {"CCO": [1.0, 0.0], "OCC": [1.0, 0.0], "c1ccccc1": [0.0, 1.0]}
    txt = {"ethanol a": [1.0, 0.1], "ethanol b": [1.0, 0.0], "benzene": [0.1, 1.0]}
    smiles, texts = ["CCO", "OCC", "c1ccccc1"], ["ethanol a", "ethanol b", "benzene"]
    m, t = _embeddings(mol, smiles), _embeddings(txt, texts)
    keys = canonical_keys(smiles)
    assert keys[0] == keys[1] != keys[2]
    res = retrieval_report(m, t, keys)
    assert res["num_pairs"] == 3 and res["num_unique_molecules"] == 2 and not res["dedupe"]
    for d in ("text_to_mol", "mol_to_text"):
        assert set(res[d]) == {"mrr", "hits1", "hits10", "mean_rank", "median_rank", "recall20"}
        assert 0 <= res["kvplm_acc64"][d] <= 1
    # text->mol: duplicate molecule columns tie with the positive, so every text ranks first
    assert res["text_to_mol"]["hits1"] == 1.0
    # mol->text: "CCO" (query 0) prefers "ethanol b" (cos 1) over its own "ethanol a"
    assert res["mol_to_text"]["hits1"] == pytest.approx(2 / 3)
    deduped = retrieval_report(m, t, keys, dedupe=True)
    assert deduped["dedupe"] and deduped["mol_to_text"]["hits1"] == 1.0
    table = format_table(res)
    assert "text_to_mol" in table and "mol_to_text" in table and "mrr" in table


def test_retrieval_report_rejects_mismatched_pairs():
    two, one = torch.eye(2), torch.eye(2)[:1]
    with pytest.raises(ShapeError, match="2 molecule and 1 text"):
        retrieval_report(two, one, ["C", "CC"])
    with pytest.raises(ShapeError, match="1 canonical keys"):
        retrieval_report(two, two, ["C"])
    with pytest.raises(ShapeError, match="2 SMILES but 1 texts"):
        evaluate_retrieval(None, ["C", "CC"], ["methane"])  # checked before the model is used
    with pytest.raises(ShapeError, match="empty"):
        evaluate_retrieval(None, [], [])
