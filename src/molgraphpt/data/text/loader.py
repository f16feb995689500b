"""The pair loader :class:`PairLoader` and the precomputed text vectors it can serve.

A batch carries graphs, tokenized texts or :class:`TextFeatures` vectors, and optional SMILES
tokens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.data.batch import MolTextBatch, TextInputs, TextTokens
from molgraphpt.data.loader import GraphLoader
from molgraphpt.data.text.dataset import PairDataset
from molgraphpt.errors import ConfigError

__all__ = ["PairLoader", "TextFeatures"]

# The package's name, not this module's: log records keep the logger they had before the split.
logger = logging.getLogger("molgraphpt.data.text")


@dataclass(frozen=True)
class TextFeatures:
    """Precomputed text vectors of some pairs (e.g. a frozen encoder's pooled outputs).

    Attributes:
        positions: Dataset positions ``[k]`` int64, strictly increasing.
        values: ``[k, hidden]`` (any float dtype; float16 on disk): ``values[j]`` belongs to
            the pair at ``positions[j]``.

    Raises:
        ConfigError: ``positions`` is not strictly increasing or does not match ``values``.
    """

    positions: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.int64)
        object.__setattr__(self, "positions", positions)
        if self.values.ndim != 2 or len(self.values) != len(positions):
            raise ConfigError(
                "text_features",
                f"{len(positions)} positions, values of shape {tuple(self.values.shape)}",
                expected="one row of values [k, hidden] per position",
            )
        if len(positions) > 1 and not (np.diff(positions) > 0).all():
            raise ConfigError(
                "text_features.positions", "not strictly increasing", expected="sorted positions"
            )

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Rows of ``values`` ``[B]`` holding dataset positions ``index`` ``[B]``.

        Raises:
            ConfigError: A position has no vector.
        """
        index = np.asarray(index, dtype=np.int64)
        rows = np.searchsorted(self.positions, index)
        found = rows < len(self.positions)
        found[found] = self.positions[rows[found]] == index[found]
        if not found.all():
            missing = index[~found][:5].tolist()
            raise ConfigError(
                "text_features",
                f"no vector for dataset positions {missing}",
                expected="features computed for every position the loader iterates over",
            )
        return rows

    def lookup(self, index: np.ndarray) -> torch.Tensor:
        """Vectors of dataset positions ``index`` ``[B]``: ``[B, hidden]`` float32.

        Raises:
            ConfigError: A position has no vector.
        """
        return torch.from_numpy(np.asarray(self.values[self.rows(index)], dtype=np.float32))


class PairLoader(GraphLoader):
    """Batches of molecules with their tokenized texts (and optionally SMILES tokens).

    Same order, resume (``iter_epoch(epoch, start)``), DDP sharding and worker behaviour as
    :class:`~molgraphpt.data.loader.GraphLoader`.

    Args:
        dataset: The pairs.
        indices: Positions in ``dataset`` to iterate over (all when None).
        tokenizer: Text tokenizer: any Hugging Face tokenizer (called with ``padding=True,
            truncation=True, max_length=..., return_tensors="pt"``), or None for no text tokens.
        max_length: Longest tokenized text; longer texts are truncated to it (silently, per
            batch: the loader does not tokenize the whole dataset up front to count them;
            ``molgraphpt retrieval`` counts and logs the texts longer than the model's limit).
        smiles_tokenizer: KV-PLM SMILES tokenizer; sets ``batch.text.smiles``.
        smiles_max_length: Longest SMILES token row (``[CLS]`` and ``[SEP]`` included).
        text_features: Precomputed text vectors covering ``indices``; each batch then carries
            them as ``batch.text.pooled`` ``[B, hidden]`` float32 (objectives that embed the text
            use them instead of running the text encoder). Usually given with
            ``tokenizer=None``.
        batch_size, shuffle, seed, drop_last, num_workers, rank, world_size: As for
            :class:`~molgraphpt.data.loader.GraphLoader`.

    Each batch is a :class:`MolTextBatch` with ``graph``, ``text`` a
    :class:`~molgraphpt.data.batch.TextInputs` (``tokens``: a ``TextTokens`` ``[B, L]`` int64
    from ``tokenizer``; ``smiles``: a ``TextTokens`` ``[B, Ls]`` from ``smiles_tokenizer``;
    ``pooled``: ``[B, hidden]`` from ``text_features``; each None when not asked for, and
    ``text`` None when none is), ``index`` ``[B]`` (dataset positions) and ``meta["texts"]``
    (the raw texts, in batch order).
    """

    def __init__(
        self,
        dataset: PairDataset,
        indices: np.ndarray | None = None,
        *,
        tokenizer: Any,
        max_length: int = 128,
        smiles_tokenizer: SmilesTokenizer | None = None,
        smiles_max_length: int = 64,
        text_features: TextFeatures | None = None,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if indices is not None and len(indices):
            index = np.asarray(indices, dtype=np.int64)
            if index.min() < 0 or index.max() >= len(dataset):
                raise ConfigError(
                    "indices", "out of range", expected=f"positions in [0, {len(dataset)})"
                )
        super().__init__(
            dataset.store,
            indices,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            num_workers=num_workers,
            with_labels=False,
            rank=rank,
            world_size=world_size,
        )
        if tokenizer is None and smiles_tokenizer is None and text_features is None:
            logger.warning(
                "PairLoader without tokenizer and smiles_tokenizer: batches carry no text"
            )
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ConfigError("max_length", max_length, expected="an integer >= 2")
        self.dataset = dataset
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.smiles_tokenizer = smiles_tokenizer
        self.smiles_max_length = smiles_max_length
        self.text_features = text_features
        if text_features is not None and len(self.indices):
            text_features.rows(self.indices)  # fail now, not mid-epoch (no values copied)

    def collate(self, index: np.ndarray) -> MolTextBatch:
        """The batch of dataset positions ``index`` ``[batch_size]``."""
        batch = super().collate(index)
        texts = [self.dataset.texts[int(i)] for i in index]
        tokens = self._text_tokens(texts) if self.tokenizer is not None else None
        smiles = self._smiles_tokens(index) if self.smiles_tokenizer is not None else None
        pooled = self.text_features.lookup(index) if self.text_features is not None else None
        if tokens is not None or smiles is not None or pooled is not None:
            batch.text = TextInputs(tokens=tokens, smiles=smiles, pooled=pooled)
        batch.meta["texts"] = texts
        return batch

    def _text_tokens(self, texts: list[str]) -> TextTokens:
        """Word tokens ``[B, L]`` int64 of ``texts``, padded to the longest."""
        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return TextTokens(
            torch.as_tensor(enc["input_ids"], dtype=torch.long),
            torch.as_tensor(enc["attention_mask"], dtype=torch.long),
        )

    def _smiles_tokens(self, index: np.ndarray) -> TextTokens:
        """SMILES BPE tokens ``[B, Ls]`` int64 of the molecules at dataset positions ``index``."""
        assert self.smiles_tokenizer is not None
        smiles = [self.dataset.smiles[int(i)] for i in index]
        enc = self.smiles_tokenizer.encode_batch(smiles, max_length=self.smiles_max_length)
        return TextTokens(
            torch.from_numpy(enc["input_ids"]), torch.from_numpy(enc["attention_mask"])
        )

    def iter_epoch(self, epoch: int = 0, start: int = 0) -> Iterator[MolTextBatch]:
        """Yield the batches of ``epoch``, skipping the first ``start``."""
        if self.num_workers > 0:
            # Forked workers must not use the Rust tokenizer's thread pool (HF's own advice).
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        return super().iter_epoch(epoch, start)
