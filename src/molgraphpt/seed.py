"""Seeding: one call to make a run repeatable, and generators derived from (seed, keys)."""

from __future__ import annotations

import hashlib
import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed that depends on ``seed`` and every key (e.g. epoch, worker id, index)."""
    text = ":".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def derive_generator(seed: int, *keys: int | str) -> torch.Generator:
    """A ``torch.Generator`` seeded from ``derive_seed(seed, *keys)``."""
    import torch

    gen = torch.Generator()
    gen.manual_seed(derive_seed(seed, *keys))
    return gen


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global RNGs.

    Args:
        seed: The run seed.
        deterministic: Also ask torch for deterministic kernels (slower on GPU).
    """
    import torch

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
