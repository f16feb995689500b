"""Token masking for masked language modelling (BERT's 80/10/10 rule), pure and seeded.

:func:`mask_tokens` corrupts a padded batch of token ids ``[batch_size, seq_len]`` and returns the
corrupted ids with the labels to predict (``-100`` where nothing is predicted, the value
``torch.nn.functional.cross_entropy`` ignores). Used by ``mlm``, ``kvplm_mlm`` (on the text and on
the SMILES tokens) and ``cross_modal_mlm``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from molgraphpt.data.transforms._batch import _check_rate
from molgraphpt.errors import ConfigError

#: Label of the positions that are not predicted (``cross_entropy``'s default ``ignore_index``).
IGNORE_INDEX: int = -100


@dataclass(frozen=True)
class MaskedTokens:
    """A corrupted token batch and its targets.

    Attributes:
        input_ids: Corrupted ids ``[batch_size, seq_len]`` (int64).
        labels: Original id at every selected position, ``IGNORE_INDEX`` elsewhere
            ``[batch_size, seq_len]`` (int64).
    """

    input_ids: Tensor
    labels: Tensor

    @property
    def selected(self) -> Tensor:
        """Positions to predict ``[batch_size, seq_len]`` (bool)."""
        return self.labels != IGNORE_INDEX


def mask_tokens(
    input_ids: Tensor,
    attention_mask: Tensor,
    *,
    rate: float,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int] = (),
    generator: torch.Generator | None = None,
    replace_mask: float = 0.8,
    replace_random: float = 0.1,
) -> MaskedTokens:
    """Select ``rate`` of the real tokens of every sequence and corrupt them as BERT does.

    Each real (attention mask 1), non-special token is selected with probability ``rate``; a
    sequence with at least one such token always gets at least one selected (the one with the
    smallest random draw), so short texts still give a loss. A selected token becomes ``mask_id``
    with probability ``replace_mask``, a uniformly random id with probability ``replace_random``,
    and stays unchanged otherwise.

    Args:
        input_ids: Token ids ``[batch_size, seq_len]`` (int64). Not modified.
        attention_mask: 1 for real tokens, 0 for padding ``[batch_size, seq_len]``.
        rate: Selection probability, in ``(0, 1)``.
        mask_id: Id of the mask token.
        vocab_size: Random replacements are drawn from ``[0, vocab_size)``.
        special_ids: Ids never selected ([CLS], [SEP], [PAD], ...).
        generator: Source of randomness (None: torch's global RNG); draws are made on the CPU,
            so a seed gives the same masks on every device.
        replace_mask: Share of the selected tokens replaced by ``mask_id``.
        replace_random: Share replaced by a random id (``replace_mask + replace_random <= 1``).

    Returns:
        :class:`MaskedTokens`.
    """
    _check_rate("mask_tokens.rate", rate)
    if not (0 <= replace_mask and 0 <= replace_random and replace_mask + replace_random <= 1):
        raise ConfigError(
            "mask_tokens.replace_mask/replace_random",
            (replace_mask, replace_random),
            expected="two numbers >= 0 summing to at most 1",
        )
    device = input_ids.device
    ids = input_ids.cpu()
    maskable = attention_mask.cpu().bool()
    special = torch.tensor(sorted(set(int(i) for i in special_ids)), dtype=ids.dtype)
    if special.numel():
        maskable &= ~torch.isin(ids, special)
    draw = torch.rand(ids.shape, generator=generator)
    selected = maskable & (draw < rate)
    # At least one selected token in every sequence that has a maskable token.
    first = draw.masked_fill(~maskable, 2.0).argmin(dim=1, keepdim=True)  # [batch_size, 1]
    has_any = maskable.any(dim=1, keepdim=True)
    selected |= torch.zeros_like(selected).scatter_(1, first, has_any)
    kind = torch.rand(ids.shape, generator=generator)
    to_mask = selected & (kind < replace_mask)
    to_random = selected & (kind >= replace_mask) & (kind < replace_mask + replace_random)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    corrupted = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    corrupted = torch.where(to_random, random_ids, corrupted)
    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    return MaskedTokens(corrupted.to(device), labels.to(device))
