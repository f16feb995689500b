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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from molgraphpt.errors import MolGraphPTError, ShapeError

if TYPE_CHECKING:  # pragma: no cover
    from molgraphpt.data.text import PairTable
    from molgraphpt.models.moltext import MolTextModel

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


# ------------------------------------------------------------------------------- a model


@torch.no_grad()
def evaluate_retrieval(
    model: MolTextModel,
    smiles: Sequence[str],
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    dedupe: bool = False,
    kvplm_batch_size: int = 64,
    seed: int = 0,
    block_size: int = 1024,
    keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Text↔molecule retrieval metrics of ``model`` over the pairs ``(smiles[i], texts[i])``.

    Embeds every molecule with ``model.encode_smiles`` and every text with ``model.encode_texts``
    (L2-normalised, so scores are cosine similarities), then ranks each query against the whole
    pool, streaming over blocks of ``block_size`` queries.

    Args:
        model: A :class:`~molgraphpt.models.moltext.MolTextModel` (anything with
            ``encode_smiles(list[str], batch_size=)`` and ``encode_texts(list[str], batch_size=)``
            returning ``[N, D]`` tensors). It is put in eval mode and, with ``device``, moved there.
        smiles: ``N`` SMILES strings.
        texts: ``N`` texts; ``texts[i]`` describes ``smiles[i]``.
        batch_size: Encoding batch size for both modalities.
        device: Where to encode and score (default: the model stays where it is and scores are
            computed where its embeddings come back).
        dedupe: ``False`` (default, as Text2Mol reports): every pair is its own positive and all
            other pairs are negatives. ``True``: pairs whose SMILES have the same canonical form
            are one group, and a query does not compete against the other pairs of its group
            (the "filtered" setting). ``num_unique_molecules`` is reported either way.
        kvplm_batch_size: Group size of the KV-PLM in-batch accuracy.
        seed: Seed of the KV-PLM permutation.
        block_size: Queries scored at a time.
        keys: Canonical SMILES of ``smiles`` when the caller already has them (they decide
            which pairs share a molecule); computed with RDKit when None.

    Returns:
        ``{"num_pairs", "num_unique_molecules", "dedupe", "text_to_mol": {metrics},
        "mol_to_text": {metrics}, "kvplm_acc64": {"text_to_mol", "mol_to_text"},
        "kvplm_batch_size", "seed", "encode_seconds"}``, metrics as :func:`retrieval_metrics`.

    Raises:
        ShapeError: ``smiles`` and ``texts`` differ in length, the pool is empty, or the model
            returns embeddings of the wrong shape.
        NonFiniteScoresError: The model produced NaN embeddings.
    """
    smiles, texts = list(smiles), list(texts)
    if len(smiles) != len(texts):
        raise ShapeError(f"got {len(smiles)} SMILES but {len(texts)} texts: they must pair up")
    if not smiles:
        raise ShapeError("retrieval pool is empty: no (SMILES, text) pairs")
    if device is not None:
        model.to(device)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        mol = model.encode_smiles(smiles, batch_size=batch_size)
        txt = model.encode_texts(texts, batch_size=batch_size)
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - start
    if mol.shape[0] != len(smiles) or txt.shape[0] != len(texts):
        raise ShapeError(
            f"the model returned {mol.shape[0]} molecule and {txt.shape[0]} text embeddings for "
            f"{len(smiles)} pairs"
        )
    where = torch.device(device) if device is not None else mol.device
    mol, txt = mol.to(where), txt.to(where)
    if keys is not None and len(keys) != len(smiles):
        raise ShapeError(f"got {len(keys)} canonical keys for {len(smiles)} SMILES")
    unique = duplicate_groups(list(keys) if keys is not None else _canonical_keys(smiles))
    groups = unique.to(mol.device) if dedupe else None
    out: dict[str, Any] = {
        "num_pairs": len(smiles),
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
    out.update(kvplm_batch_size=kvplm_batch_size, seed=seed, encode_seconds=round(seconds, 3))
    return out


def _canonical_keys(smiles: Sequence[str]) -> list[str]:
    """Canonical SMILES of each entry, or the stripped string itself when RDKit rejects it."""
    from molgraphpt.chem.smiles import canonical_smiles

    keys = []
    for s in smiles:
        try:
            keys.append(canonical_smiles(s))
        except MolGraphPTError:
            keys.append(s.strip())
    return keys


# ----------------------------------------------------------------------------- from files


def evaluate_retrieval_file(
    model_dir: str | Path,
    pairs: str | Path,
    *,
    smiles_col: str | None = None,
    text_col: str | None = None,
    pair_format: str | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    device: str | None = None,
    dedupe: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Load a saved ``MolTextModel`` and a pairs file and run :func:`evaluate_retrieval`.

    Rows whose SMILES RDKit rejects are dropped and counted (``skipped_invalid``); ``limit``
    keeps the first ``limit`` valid pairs. The result also records the inputs and
    :func:`~molgraphpt.evaluation.finetune.versions`.

    Args:
        model_dir: A directory written by ``MolTextModel.save_pretrained``.
        pairs: A pairs file :func:`molgraphpt.data.text.load_pairs` reads.
        smiles_col: SMILES column (guessed when None).
        text_col: Text column (guessed when None).
        pair_format: ``csv``, ``tsv``, ``jsonl``, ``lpm24_props`` (guessed when None).
        limit: Keep only the first ``limit`` valid pairs.
        batch_size: Encoding batch size.
        device: Where to run the model (``"cpu"``, ``"cuda"``...).
        dedupe: See :func:`evaluate_retrieval`.
        seed: Seed of the KV-PLM groups.

    Raises:
        CheckpointError: ``model_dir`` is not a MolTextModel directory.
        FileNotFoundError: ``pairs`` does not exist.
        DataFormatError: The pairs file cannot be read (from ``molgraphpt.data.text``).
    """
    from molgraphpt.chem.smiles import canonical_smiles
    from molgraphpt.errors import CheckpointError, DataFormatError, InvalidSmilesError
    from molgraphpt.evaluation.finetune import versions

    start = time.perf_counter()
    model_path = Path(model_dir)
    if not model_path.is_dir():
        raise CheckpointError(
            f"model directory {str(model_path)!r} does not exist or is not a directory; pass the "
            f"folder written by MolTextModel.save_pretrained (it holds config.yaml and text/)"
        )
    pairs_path = Path(pairs)
    if not pairs_path.exists():
        raise FileNotFoundError(f"pairs file {str(pairs_path)!r} does not exist")
    table = _read_pairs(pairs_path, smiles_col=smiles_col, text_col=text_col, fmt=pair_format)
    smiles, texts, keys, skipped = [], [], [], 0
    for s, t in zip(table.smiles, table.texts, strict=True):
        if limit is not None and len(smiles) >= limit:
            break
        try:
            keys.append(canonical_smiles(s))
        except InvalidSmilesError:
            skipped += 1
            continue
        smiles.append(s)
        texts.append(t)
    if not smiles:
        raise DataFormatError(
            f"no usable (SMILES, text) pairs in {str(pairs_path)!r}: {len(table.smiles)} row(s) "
            f"read, {skipped} with invalid SMILES"
        )
    model = _load_moltext(model_path)
    if skipped:
        logger.warning("skipped %d pair(s) with invalid SMILES in %s", skipped, pairs_path)
    logger.info("evaluating retrieval over %d pairs from %s", len(smiles), pairs_path)
    res = evaluate_retrieval(
        model,
        smiles,
        texts,
        batch_size=batch_size,
        device=device,
        dedupe=dedupe,
        seed=seed,
        keys=keys,
    )
    res.update(
        model=str(model_path),
        pairs=str(pairs_path),
        skipped_invalid=skipped,
        limit=limit,
        versions=versions(),
        wall_time_s=round(time.perf_counter() - start, 2),
    )
    return res


def _load_moltext(directory: Path) -> MolTextModel:
    from molgraphpt.models.moltext import MolTextModel

    return MolTextModel.from_pretrained(directory)


def _read_pairs(
    path: Path, *, smiles_col: str | None, text_col: str | None, fmt: str | None
) -> PairTable:
    from molgraphpt.data.text import load_pairs
    from molgraphpt.errors import DataFormatError

    spec = {
        "path": str(path),
        "format": fmt or "auto",
        "smiles_col": smiles_col,
        "text_col": text_col,
    }
    try:
        return load_pairs(spec)
    except (MolGraphPTError, FileNotFoundError):
        raise
    except (ValueError, KeyError, OSError, UnicodeDecodeError) as err:
        raise DataFormatError(
            f"cannot read SMILES-text pairs from {str(path)!r}: {type(err).__name__}: {err}. "
            f"Pass --smiles-col/--text-col (or --format) if the columns were not recognised"
        ) from err


def format_table(results: dict[str, Any]) -> str:
    """A small fixed-width table of the metrics of :func:`evaluate_retrieval` for the terminal."""
    header = f"{'direction':<12}" + "".join(f"{k:>12}" for k in METRIC_KEYS) + f"{'kvplm_acc':>12}"
    lines = [header, "-" * len(header)]
    for name in DIRECTIONS:
        m = results[name]
        cells = "".join(
            f"{m[k]:>12.1f}" if k.endswith("rank") else f"{m[k]:>12.4f}" for k in METRIC_KEYS
        )
        lines.append(f"{name:<12}{cells}{results['kvplm_acc64'][name]:>12.4f}")
    return "\n".join(lines)
