"""Pooled outputs of a frozen text encoder, computed once and cached on disk.

A text encoder none of whose weights is trained (``text.freeze_layers: -1``, or every layer)
maps a text to the same pooled vector at every step, so a molecule–text run whose objectives
need only that vector (``mol_text_contrastive`` and the graph objectives) can compute it once
per text and train the graph side at GNN speed. Measured on the 2-core CPU machine
(benchmarks/moltext): ~96 pairs/s with MiniLM-L6's top layer trained online at 48 tokens,
~226 pairs/s (one thread, beside another run) with cached features of whole ChEBI-20
descriptions at 256 tokens (median 91 MiniLM tokens).

The cache file ``<cache root>/text-features/<key>.npy`` holds ``[num_texts, hidden]`` float16 in
input order. ``key`` is a SHA-256 over the encoder's weights (every parameter and buffer, by
name, dtype and bytes), its tokenizer (class, vocabulary size), ``max_length``, ``pooling`` and
the texts, so a cached file is never reused for another model, length or text. float16 halves the
file (1M texts x 384 = 0.77 GB) and keeps about three significant digits (the tests compare it
with float32 at 2e-3); the values are widened to float32 batch by batch in the loader.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence

import numpy as np
import torch

from molgraphpt._io import cache_root
from molgraphpt.errors import CacheError, ConfigError
from molgraphpt.models.text import TextEncoder

__all__ = [
    "TEXT_FEATURES_VERSION",
    "cached_text_features",
    "encode_pooled",
    "encoder_fingerprint",
    "is_frozen",
]

logger = logging.getLogger(__name__)

#: Part of the cache key; bump when what is stored changes.
TEXT_FEATURES_VERSION = 1
_SUBDIR = "text-features"


def is_frozen(encoder: TextEncoder) -> bool:
    """Whether no weight of the transformer is trained (its pooled output is a fixed function)."""
    return not any(p.requires_grad for p in encoder.model.parameters())


def encoder_fingerprint(encoder: TextEncoder) -> str:
    """SHA-256 (hex) of everything that determines ``encoder``'s pooled output for a text."""
    digest = hashlib.sha256()
    tok = encoder.tokenizer
    header = (
        f"v{TEXT_FEATURES_VERSION}|{type(encoder.model).__name__}|{type(tok).__name__}|"
        f"{len(tok)}|{encoder.cfg.max_length}|{encoder.cfg.pooling}|"
        f"{getattr(tok, 'do_lower_case', None)}"
    )
    digest.update(header.encode())
    for name, tensor in encoder.model.state_dict().items():
        digest.update(f"|{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def encode_pooled(
    encoder: TextEncoder, texts: Sequence[str], *, batch_size: int = 64, log_every: float = 60.0
) -> np.ndarray:
    """Pooled outputs ``[len(texts), hidden]`` float32 of ``encoder`` in eval mode, input order.

    Texts are run in batches of similar token length (sorted), so little work goes to padding.
    ``log_every`` seconds, the progress is logged.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", batch_size, expected="an integer >= 1")
    texts = list(texts)
    out = np.zeros((len(texts), encoder.hidden_size), dtype=np.float32)
    if not texts:
        return out
    lengths = encoder.tokenizer(
        texts, truncation=True, max_length=encoder.cfg.max_length, return_attention_mask=False
    )["input_ids"]
    order = np.argsort([len(ids) for ids in lengths], kind="stable")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    started = last = time.perf_counter()
    try:
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            tokens = encoder.tokenize([texts[i] for i in rows])
            pooled = encoder(
                tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
            ).pooled
            out[rows] = pooled.float().cpu().numpy()
            now = time.perf_counter()
            if now - last >= log_every:
                done = start + len(rows)
                logger.info(
                    "text features: %d/%d texts (%.0f/s)", done, len(texts), done / (now - started)
                )
                last = now
    finally:
        encoder.train(was_training)
    return out


def cached_text_features(
    encoder: TextEncoder,
    texts: Sequence[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Pooled outputs of a frozen ``encoder`` for ``texts``: ``[len(texts), hidden]`` float16.

    Read from the cache when this exact (model, length, pooling, texts) was encoded before,
    otherwise computed with :func:`encode_pooled` and written atomically (temporary file, then
    rename). The returned array is memory-mapped read-only when it comes from the cache.

    Raises:
        ConfigError: The encoder has trained weights (cached features would go stale).
        CacheError: A cache file exists with the wrong shape (delete it to rebuild).
    """
    if not is_frozen(encoder):
        raise ConfigError(
            "text.freeze_layers",
            encoder.cfg.freeze_layers,
            expected="-1 (or the model's number of layers): cached text features need a text "
            "encoder none of whose weights is trained",
        )
    texts = list(texts)
    digest = hashlib.sha256(encoder_fingerprint(encoder).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    directory = cache_root(cache_dir) / _SUBDIR
    path = directory / f"{digest.hexdigest()[:32]}.npy"
    shape = (len(texts), encoder.hidden_size)
    if path.exists():
        cached = np.load(path, mmap_mode="r")
        if cached.shape != shape:
            raise CacheError(
                f"cached text features {path} have shape {cached.shape}, expected {shape}; "
                "delete the file to rebuild it"
            )
        logger.info("text features of %d texts read from %s", len(texts), path)
        return cached
    started = time.perf_counter()
    values = encode_pooled(encoder, texts, batch_size=batch_size).astype(np.float16)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, values)
    os.replace(tmp, path)
    logger.info(
        "text features of %d texts computed in %.0f s, cached in %s",
        len(texts),
        time.perf_counter() - started,
        path,
    )
    return values
