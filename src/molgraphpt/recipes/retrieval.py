"""Retrieval evaluation recipe: checkpoint + pairs file → embeddings → metrics.

Composes :func:`molgraphpt.embed.encode_smiles` and ``MolTextModel.encode_texts`` (the model),
:func:`molgraphpt.data.text.load_pairs` (the data) and
:func:`molgraphpt.evaluation.retrieval.retrieval_report` (the metrics, whose module docstring
states the ranking conventions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from molgraphpt.data.config import PairSourceConfig
from molgraphpt.data.tables import check_file
from molgraphpt.data.text import PairTable, load_pairs
from molgraphpt.embed import encode_smiles
from molgraphpt.errors import CheckpointError, DataFormatError, MolGraphPTError, ShapeError
from molgraphpt.evaluation.retrieval import canonical_keys, retrieval_report
from molgraphpt.models.moltext import MolTextModel
from molgraphpt.provenance import git_revision, versions

__all__ = ["evaluate_retrieval", "evaluate_retrieval_file"]

logger = logging.getLogger(__name__)


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

    Embeds every molecule with :func:`~molgraphpt.embed.encode_smiles` and every text with
    ``model.encode_texts`` (L2-normalised, so scores are cosine similarities), then ranks each
    query against the whole pool with :func:`~molgraphpt.evaluation.retrieval.retrieval_report`,
    streaming over blocks of ``block_size`` queries (never the ``N x N`` matrix).

    Args:
        model: The molecule–text model; put in eval mode and, with ``device``, moved there.
        smiles: ``N`` SMILES strings.
        texts: ``N`` texts; ``texts[i]`` describes ``smiles[i]``.
        batch_size: Encoding batch size for both modalities.
        device: Where to encode and score (default: where the model is).
        dedupe: See :func:`~molgraphpt.evaluation.retrieval.retrieval_report`.
        kvplm_batch_size: Group size of the KV-PLM in-batch accuracy.
        seed: Seed of the KV-PLM permutation.
        block_size: Queries scored at a time.
        keys: Canonical SMILES of ``smiles`` when the caller already has them; computed with
            RDKit when None.

    Returns:
        :func:`retrieval_report`'s dict plus ``encode_seconds``.

    Raises:
        ShapeError: ``smiles`` and ``texts`` differ in length, or the pool is empty.
        InvalidSmilesError: A SMILES RDKit cannot parse.
        NonFiniteScoresError: The model produced NaN embeddings.
    """
    smiles, texts = list(smiles), list(texts)
    if len(smiles) != len(texts):
        raise ShapeError(f"got {len(smiles)} SMILES but {len(texts)} texts: they must pair up")
    if not smiles:
        raise ShapeError("retrieval pool is empty: no (SMILES, text) pairs")
    if device is not None:
        model.to(device)
    start = time.perf_counter()
    mol = encode_smiles(model, smiles, batch_size=batch_size)
    txt = model.encode_texts(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    where = torch.device(device) if device is not None else mol.device
    out = retrieval_report(
        mol.to(where),
        txt.to(where),
        list(keys) if keys is not None else canonical_keys(smiles),
        dedupe=dedupe,
        kvplm_batch_size=kvplm_batch_size,
        seed=seed,
        block_size=block_size,
    )
    out["encode_seconds"] = round(seconds, 3)
    return out


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

    Rows whose SMILES RDKit rejects are dropped and counted (``skipped_invalid``), as are rows
    with an empty SMILES or text (``skipped_empty``); ``limit`` keeps the first ``limit`` valid
    pairs. Texts longer than the text encoder's ``max_length`` are truncated when encoded and
    counted (``texts_truncated``). The result also records the inputs, the library versions and
    the git revision.

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
        DataFileNotFoundError: ``pairs`` does not exist (a ``FileNotFoundError``).
        DataFormatError: The pairs file cannot be read, or holds no valid pair.
    """
    start = time.perf_counter()
    model_path = _model_directory(model_dir)
    pairs_path = check_file(pairs, what="pairs file", hint="Check --pairs.")
    smiles, texts, keys, skipped, blank = _usable_pairs(
        pairs_path, smiles_col=smiles_col, text_col=text_col, fmt=pair_format, limit=limit
    )
    model = MolTextModel.from_pretrained(model_path)
    _warn_skipped(skipped, blank, pairs_path)
    over_long = _count_over_long(model, texts)
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
        skipped_empty=blank,
        texts_truncated=over_long,
        limit=limit,
        versions=versions(),
        git_revision=git_revision(),
        wall_time_s=round(time.perf_counter() - start, 2),
    )
    return res


def _model_directory(model_dir: str | Path) -> Path:
    """``model_dir`` as a Path, once it is known to be a directory.

    Raises:
        CheckpointError: ``model_dir`` does not exist or is not a directory.
    """
    model_path = Path(model_dir)
    if not model_path.is_dir():
        raise CheckpointError(
            f"model directory {str(model_path)!r} does not exist or is not a directory; pass the "
            f"folder written by MolTextModel.save_pretrained (it holds config.yaml and text/)"
        )
    return model_path


def _usable_pairs(
    pairs_path: Path,
    *,
    smiles_col: str | None,
    text_col: str | None,
    fmt: str | None,
    limit: int | None,
) -> tuple[list[str], list[str], list[str], int, int]:
    """``(smiles, texts, canonical keys, skipped invalid, skipped empty)`` of a pairs file.

    Raises:
        DataFormatError: The file cannot be read, or holds no valid pair.
    """
    table = _read_pairs(pairs_path, smiles_col=smiles_col, text_col=text_col, fmt=fmt)
    smiles, texts, keys, skipped = _valid_pairs(table, limit)
    blank = int(table.num_rows or 0) - len(table)
    if not smiles:
        raise DataFormatError(
            f"no usable (SMILES, text) pairs in {str(pairs_path)!r}: {table.num_rows} data row(s), "
            f"{blank} with an empty SMILES or text, {skipped} with invalid SMILES"
        )
    return smiles, texts, keys, skipped, blank


def _warn_skipped(skipped: int, blank: int, pairs_path: Path) -> None:
    """Log how many rows of ``pairs_path`` were dropped (invalid SMILES, empty fields), if any."""
    if skipped or blank:
        logger.warning(
            "skipped %d pair(s) with invalid SMILES and %d row(s) with an empty SMILES or text "
            "in %s",
            skipped,
            blank,
            pairs_path,
        )


def _count_over_long(model: MolTextModel, texts: list[str]) -> int | None:
    """How many ``texts`` are longer than the text encoder's ``max_length`` tokens (logged).

    Those texts are truncated when they are encoded. None when the model has no tokenizer.
    """
    encoder = getattr(model, "text", None)
    tokenizer = getattr(encoder, "tokenizer", None)
    limit = getattr(getattr(encoder, "cfg", None), "max_length", None)
    if tokenizer is None or limit is None or not texts:
        return None
    ids = tokenizer(texts, truncation=False, return_attention_mask=False, verbose=False)
    count = sum(len(row) > limit for row in ids["input_ids"])
    if count:
        logger.warning(
            "%d of %d texts are longer than the text encoder's max_length (%d tokens) and are "
            "truncated to it",
            count,
            len(texts),
            limit,
        )
    return int(count)


def _valid_pairs(
    table: PairTable, limit: int | None
) -> tuple[list[str], list[str], list[str], int]:
    """``(smiles, texts, canonical keys, skipped)`` of the first ``limit`` RDKit-valid rows."""
    from molgraphpt.chem.smiles import canonical_smiles
    from molgraphpt.errors import InvalidSmilesError

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
    return smiles, texts, keys, skipped


def _read_pairs(
    path: Path, *, smiles_col: str | None, text_col: str | None, fmt: str | None
) -> PairTable:
    spec = PairSourceConfig(
        str(path), format=fmt or "auto", smiles_col=smiles_col, text_col=text_col
    )
    try:
        return load_pairs(spec)
    except (MolGraphPTError, FileNotFoundError):
        raise
    except (ValueError, KeyError, OSError, UnicodeDecodeError) as err:
        raise DataFormatError(
            f"cannot read SMILES-text pairs from {str(path)!r}: {type(err).__name__}: {err}. "
            f"Pass --smiles-col/--text-col (or --format) if the columns were not recognised"
        ) from err
