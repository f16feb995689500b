"""Cross-modal retrieval between molecules and texts: ranks, MRR, Hits@k, KV-PLM in-batch accuracy.

A retrieval pool is ``N`` (molecule, text) pairs. Scores form a matrix ``scores [N, N]`` whose row
``i`` is query ``i`` and whose column ``j`` is candidate ``j``; the positive of row ``i`` is column
``i``. ``text_to_mol`` uses the texts as queries and the molecules as candidates (Text2Mol, Edwards
et al. 2021), ``mol_to_text`` the reverse; with embeddings ``M [N, D]`` and ``T [N, D]`` the
matrices are ``T @ M.T`` and ``M @ T.T`` (each the transpose of the other).

Conventions, shared by every function here:

* **Ranks are 1-based** and ``rank = 1 + #{candidates j : scores[i, j] > scores[i, i]}``: only
  *strictly* greater scores count, so **ties favour the positive** (a row of equal scores gives
  rank 1). This is the convention of Text2Mol's evaluation code; it matters for text→molecule
  retrieval, where a pool holding the same molecule twice gives two identical candidate columns.
* **NaN scores raise** :class:`NonFiniteScoresError`: a NaN compares false with everything and
  would silently give rank 1.
* **Duplicates.** By default every pair is its own positive and every other column is a
  negative, even one holding the same molecule (or the same text): the number Text2Mol reports.
  With ``groups`` (``dedupe=True`` in :func:`evaluate_retrieval`), columns in the same group as
  the query's positive are removed from its candidate list (the "filtered" setting of link
  prediction): a query is never penalised for ranking another pair of its own molecule above
  its positive. ``evaluate_retrieval`` groups pairs by canonical SMILES.
* **KV-PLM in-batch accuracy** (Zeng et al. 2022, the ``acc`` of its PCdes retrieval table): the
  pool is permuted with a seeded :class:`torch.Generator` and cut into consecutive groups of
  ``batch_size`` pairs; inside a group, a query is correct when its partner is the best of the
  group's candidates (ties favour the positive, as for ranks). The last group is kept even when
  it is smaller, so every pair counts once; the accuracy is the number of correct queries over
  ``N`` (the per-group accuracies weighted by group size). A smaller last group is easier, which
  matters only when ``N`` is small against ``batch_size``.

Scores are compared in float32. :func:`evaluate_retrieval` never builds the ``N x N`` matrix: it
computes ranks over blocks of queries (``block_size x N`` scores at a time), so a pool of 50k
pairs needs ``block_size * 50k * 4`` bytes, not ``50k * 50k * 4``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from molgraphpt.errors import MolGraphPTError, ShapeError

logger = logging.getLogger(__name__)

#: Keys of :func:`retrieval_metrics`, in the order tables print them.
METRIC_KEYS = ("mrr", "hits1", "hits10", "recall20", "mean_rank", "median_rank")
DIRECTIONS = ("text_to_mol", "mol_to_text")


class NonFiniteScoresError(MolGraphPTError, ValueError):
    """Retrieval scores (or the embeddings they come from) contain NaN."""


# ------------------------------------------------------------------------------ checks, groups


def _check_square(scores: Tensor) -> Tensor:
    if not isinstance(scores, Tensor):
        scores = torch.as_tensor(np.asarray(scores))
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1]:
        raise ShapeError(
            f"retrieval scores must be a square matrix [N, N] (row = query, column = candidate, "
            f"positive of row i = column i), got shape {tuple(scores.shape)}"
        )
    if scores.shape[0] == 0:
        raise ShapeError("retrieval scores are empty (N = 0): the pool has no pairs")
    return scores.float()


def _check_nan(values: Tensor, what: str) -> None:
    if torch.isnan(values).any():
        count = int(torch.isnan(values).sum())
        raise NonFiniteScoresError(
            f"{what} contain {count} NaN value(s); ranks would be meaningless. Check the model "
            f"(a diverged checkpoint gives NaN embeddings) and its inputs"
        )


def _check_groups(
    groups: Tensor | Sequence[int] | None, n: int, device: torch.device
) -> Tensor | None:
    if groups is None:
        return None
    out = torch.as_tensor(groups, device=device).long()
    if out.shape != (n,):
        raise ShapeError(f"groups must have shape ({n},) (one id per pair), got {tuple(out.shape)}")
    return out


def duplicate_groups(keys: Sequence[str]) -> Tensor:
    """Group id ``[N]`` int64 per pair: pairs with equal ``keys`` (e.g. canonical SMILES) share one.

    Ids are numbered in order of first appearance.
    """
    ids: dict[str, int] = {}
    return torch.tensor([ids.setdefault(k, len(ids)) for k in keys], dtype=torch.long)


# ----------------------------------------------------------------------------------- ranks


def _block_ranks(block: Tensor, rows: Tensor, groups: Tensor | None) -> Tensor:
    """Ranks of the queries ``rows`` whose scores against all ``N`` candidates are ``block``."""
    positive = block.gather(1, rows[:, None])  # [b, 1]
    better = block > positive
    if groups is not None:  # the query's own group never competes
        better &= groups[None, :] != groups[rows][:, None]
    return better.sum(1) + 1


def rank_of_positives(
    scores: Tensor, *, groups: Tensor | Sequence[int] | None = None, block_size: int = 1024
) -> Tensor:
    """1-based rank of each row's positive (column ``i`` of row ``i``) among all columns.

    ``rank[i] = 1 + #{j : scores[i, j] > scores[i, i]}``, counting only strictly greater scores:
    ties favour the positive. With ``groups``, columns ``j != i`` with ``groups[j] == groups[i]``
    are not counted (see the module docstring).

    Args:
        scores: ``[N, N]`` similarity matrix (any float dtype; compared in float32).
        groups: Optional ``[N]`` integer group id per pair (duplicates share an id).
        block_size: Rows compared at a time (bounds the temporary boolean matrix).

    Returns:
        ``[N]`` int64 ranks in ``[1, N]``.

    Raises:
        ShapeError: ``scores`` is not a non-empty square matrix, or ``groups`` has the wrong shape.
        NonFiniteScoresError: ``scores`` contains NaN.
    """
    scores = _check_square(scores)
    _check_nan(scores, "retrieval scores")
    n = scores.shape[0]
    groups_t = _check_groups(groups, n, scores.device)
    out = []
    for start in range(0, n, block_size):
        rows = torch.arange(start, min(start + block_size, n), device=scores.device)
        out.append(_block_ranks(scores[start : start + len(rows)], rows, groups_t))
    return torch.cat(out)


def streamed_ranks(
    queries: Tensor,
    candidates: Tensor,
    *,
    groups: Tensor | Sequence[int] | None = None,
    block_size: int = 1024,
) -> Tensor:
    """Ranks as :func:`rank_of_positives` of ``queries @ candidates.T``, without the full matrix.

    Args:
        queries: ``[N, D]`` query embeddings; query ``i``'s positive is candidate ``i``.
        candidates: ``[N, D]`` candidate embeddings (same device).
        groups: Optional ``[N]`` group ids, as for :func:`rank_of_positives`.
        block_size: Queries scored at a time: memory is ``block_size * N`` floats.

    Returns:
        ``[N]`` int64 ranks (on the embeddings' device).
    """
    queries, candidates = _check_pair_embeddings(queries, candidates)
    n = queries.shape[0]
    groups_t = _check_groups(groups, n, queries.device)
    out = []
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        block = queries[start:stop] @ candidates.T  # [b, N]
        rows = torch.arange(start, stop, device=queries.device)
        out.append(_block_ranks(block, rows, groups_t))
    return torch.cat(out)


def _check_pair_embeddings(queries: Tensor, candidates: Tensor) -> tuple[Tensor, Tensor]:
    if queries.dim() != 2 or queries.shape != candidates.shape:
        raise ShapeError(
            f"query and candidate embeddings must both be [N, D] with the same N and D, got "
            f"{tuple(queries.shape)} and {tuple(candidates.shape)}"
        )
    if queries.shape[0] == 0:
        raise ShapeError("retrieval pool is empty (N = 0)")
    queries, candidates = queries.float(), candidates.float()
    _check_nan(queries, "query embeddings")
    _check_nan(candidates, "candidate embeddings")
    return queries, candidates


# --------------------------------------------------------------------------------- metrics


def metrics_from_ranks(ranks: Tensor) -> dict[str, float]:
    """MRR, Hits@1, Hits@10, Recall@20 (fractions in ``[0, 1]``), mean and median rank.

    With one positive per query, Hits@k and Recall@k are the same quantity (the fraction of
    queries whose positive is in the top ``k``); both names are kept because Text2Mol-style
    papers report "Hits@1/10" and MoleculeSTM-style papers "Recall@20". The median of an even
    number of ranks is the mean of the two middle ones.
    """
    r = ranks.detach().double().cpu()
    if r.numel() == 0:
        raise ShapeError("no ranks to summarise (empty pool)")
    return {
        "mrr": float((1.0 / r).mean()),
        "hits1": float((r <= 1).double().mean()),
        "hits10": float((r <= 10).double().mean()),
        "recall20": float((r <= 20).double().mean()),
        "mean_rank": float(r.mean()),
        "median_rank": float(np.median(r.numpy())),
    }


def retrieval_metrics(
    scores: Tensor, *, groups: Tensor | Sequence[int] | None = None
) -> dict[str, float]:
    """:func:`metrics_from_ranks` of :func:`rank_of_positives` of ``scores [N, N]``.

    Returns ``{"mrr", "hits1", "hits10", "mean_rank", "median_rank", "recall20"}``; ranks are
    1-based and ties favour the positive.
    """
    return metrics_from_ranks(rank_of_positives(scores, groups=groups))


# ------------------------------------------------------------------------ in-batch accuracy


def _kvplm_groups(n: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``[G, batch_size]`` of the seeded groups (padded with 0) and their validity mask."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    num_groups = math.ceil(n / batch_size)
    idx = torch.zeros(num_groups * batch_size, dtype=torch.long)
    valid = torch.zeros(num_groups * batch_size, dtype=torch.bool)
    idx[:n], valid[:n] = perm, True
    return idx.view(num_groups, batch_size), valid.view(num_groups, batch_size)


def _group_accuracy(block: Tensor, idx: Tensor, valid: Tensor, groups: Tensor | None) -> float:
    """Fraction of valid queries of ``block [G, B, B]`` whose diagonal entry is a group maximum."""
    positive = block.diagonal(dim1=1, dim2=2)[:, :, None]  # [G, B, 1]
    better = block > positive
    better &= valid[:, None, :]  # padding candidates never compete
    if groups is not None:  # the query's own group never competes
        g = groups[idx]  # [G, B]
        better &= g[:, None, :] != g[:, :, None]
    correct = ~better.any(-1) & valid
    return float(correct.sum()) / float(valid.sum())


def in_batch_accuracy(
    scores: Tensor,
    batch_size: int = 64,
    seed: int = 0,
    *,
    groups: Tensor | Sequence[int] | None = None,
) -> float:
    """KV-PLM in-batch retrieval accuracy of ``scores [N, N]`` (see the module docstring).

    The pool is permuted with ``torch.randperm(N, generator=torch.Generator().manual_seed(seed))``
    and cut into consecutive groups of ``batch_size`` (the last one possibly smaller, kept); a
    query is correct when no other candidate of its group scores strictly higher than its partner.

    Returns:
        Correct queries / ``N``, in ``[0, 1]``.
    """
    scores = _check_square(scores)
    _check_nan(scores, "retrieval scores")
    n = scores.shape[0]
    groups_t = _check_groups(groups, n, scores.device)
    idx, valid = (t.to(scores.device) for t in _kvplm_groups(n, batch_size, seed))
    block = scores[idx[:, :, None], idx[:, None, :]]  # [G, B, B]
    return _group_accuracy(block, idx, valid, groups_t)


def streamed_in_batch_accuracy(
    queries: Tensor,
    candidates: Tensor,
    batch_size: int = 64,
    seed: int = 0,
    *,
    groups: Tensor | Sequence[int] | None = None,
) -> float:
    """:func:`in_batch_accuracy` of ``queries @ candidates.T`` from ``[N, D]`` embeddings.

    Only the ``[G, batch_size, batch_size]`` group blocks are computed.
    """
    queries, candidates = _check_pair_embeddings(queries, candidates)
    n = queries.shape[0]
    groups_t = _check_groups(groups, n, queries.device)
    idx, valid = (t.to(queries.device) for t in _kvplm_groups(n, batch_size, seed))
    q, c = queries[idx], candidates[idx]  # [G, B, D]
    block = torch.bmm(q, c.transpose(1, 2))  # [G, B, B]
    return _group_accuracy(block, idx, valid, groups_t)


# ------------------------------------------------------------------------- from embeddings


def retrieval_report(
    mol: Tensor,
    txt: Tensor,
    keys: Sequence[str],
    *,
    dedupe: bool = False,
    kvplm_batch_size: int = 64,
    seed: int = 0,
    block_size: int = 1024,
) -> dict[str, Any]:
    """Both directions' metrics of paired embeddings ``mol[i]`` ↔ ``txt[i]``.

    Args:
        mol: Molecule embeddings ``[N, D]``, L2-normalised (scores are cosine similarities).
        txt: Text embeddings ``[N, D]``, L2-normalised.
        keys: ``N`` canonical SMILES (they decide which pairs share a molecule).
        dedupe: ``False`` (as Text2Mol reports): every pair is its own positive and all other
            pairs are negatives. ``True``: pairs of one molecule are one group, and a query does
            not compete against the other pairs of its group (the "filtered" setting).
            ``num_unique_molecules`` is reported either way.
        kvplm_batch_size: Group size of the KV-PLM in-batch accuracy.
        seed: Seed of the KV-PLM permutation.
        block_size: Queries scored at a time.

    Returns:
        ``{"num_pairs", "num_unique_molecules", "dedupe", "text_to_mol": {metrics},
        "mol_to_text": {metrics}, "kvplm_acc64": {"text_to_mol", "mol_to_text"},
        "kvplm_batch_size", "seed"}``, metrics as :func:`retrieval_metrics`.

    Raises:
        ShapeError: The shapes do not pair up.
        NonFiniteScoresError: NaN embeddings.
    """
    if mol.shape[0] != txt.shape[0] or len(keys) != mol.shape[0]:
        raise ShapeError(
            f"got {mol.shape[0]} molecule and {txt.shape[0]} text embeddings and {len(keys)} "
            "canonical keys: they must pair up"
        )
    unique = duplicate_groups(list(keys))
    groups = unique.to(mol.device) if dedupe else None
    out: dict[str, Any] = {
        "num_pairs": int(mol.shape[0]),
        "num_unique_molecules": int(unique.max()) + 1,
        "dedupe": bool(dedupe),
    }
    directions = {"text_to_mol": (txt, mol), "mol_to_text": (mol, txt)}
    for name, (q, c) in directions.items():
        out[name] = metrics_from_ranks(streamed_ranks(q, c, groups=groups, block_size=block_size))
    out["kvplm_acc64"] = {
        name: streamed_in_batch_accuracy(q, c, kvplm_batch_size, seed, groups=groups)
        for name, (q, c) in directions.items()
    }
    out.update(kvplm_batch_size=kvplm_batch_size, seed=seed)
    return out


def canonical_keys(smiles: Sequence[str]) -> list[str]:
    """Canonical SMILES of each entry, or the stripped string itself when RDKit rejects it."""
    from molgraphpt.chem.smiles import canonical_smiles

    keys = []
    for s in smiles:
        try:
            keys.append(canonical_smiles(s))
        except MolGraphPTError:
            keys.append(s.strip() if isinstance(s, str) else repr(s))
    return keys


def format_table(results: dict[str, Any]) -> str:
    """A small fixed-width table of :func:`retrieval_report`'s metrics for the terminal."""
    header = f"{'direction':<12}" + "".join(f"{k:>12}" for k in METRIC_KEYS) + f"{'kvplm_acc':>12}"
    lines = [header, "-" * len(header)]
    for name in DIRECTIONS:
        m = results[name]
        cells = "".join(
            f"{m[k]:>12.1f}" if k.endswith("rank") else f"{m[k]:>12.4f}" for k in METRIC_KEYS
        )
        lines.append(f"{name:<12}{cells}{results['kvplm_acc64'][name]:>12.4f}")
    return "\n".join(lines)
