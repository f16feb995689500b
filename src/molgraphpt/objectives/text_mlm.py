"""Masked modelling on the text encoder: ``mlm`` (BERT) and ``kvplm_mlm`` (KV-PLM).

Both objectives borrow a :class:`~molgraphpt.models.moltext.MolTextModel` (``needs_text_model =
True``) and own their prediction heads. They read the batch's word tokens
(:meth:`~molgraphpt.data.batch.MolTextBatch.text_tokens`), and ``kvplm_mlm`` also its SMILES
tokens (:meth:`~molgraphpt.data.batch.MolTextBatch.smiles_tokens`). Predictions are computed only
at the masked positions, so a 30k-word vocabulary costs ``num_masked x vocab`` and not
``batch x len x vocab``.

``kvplm_mlm`` follows KV-PLM (Zeng et al., "A deep-learning system bridging molecule structure and
biomedical text with comprehension comparable to human professionals", Nat. Commun. 13, 862,
2022): the molecule's SMILES, cut by a BPE tokenizer trained on SMILES, is a second "language"
with its own embedding table (``model.smiles_embeddings``) in the same transformer. What we build:
one packed sequence per pair, ``[CLS] text [SEP] smiles-BPE [SEP]`` (segment 0 for the text,
segment 1 for the SMILES, no padding between the two parts), 15% of the word tokens and 15% of
the SMILES tokens masked, words predicted by a head tied to the word embeddings and SMILES tokens
by a head tied to the SMILES embeddings. KV-PLM inserted the SMILES in place of the molecule's
name inside the sentence; our pair datasets carry no entity span, so the SMILES follows the text.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.transforms.tokens import IGNORE_INDEX, MaskedTokens, mask_tokens
from molgraphpt.errors import ConfigError
from molgraphpt.objectives.base import (
    TASKS,
    StochasticTask,
    TaskOutput,
    check_fraction,
    check_seed,
)
from molgraphpt.objectives.losses import accuracy

__all__ = [
    "KVPLMConfig",
    "KVPLMMaskedModeling",
    "MLMHead",
    "MaskedLMConfig",
    "MaskedLanguageModeling",
    "mask_words",
    "pack_text_and_smiles",
    "text_special_ids",
]


class MLMHead(nn.Module):
    """BERT's prediction head: dense, GELU, LayerNorm, then a decoder tied to an embedding table.

    Args:
        hidden_size: Width of the token states.
        embedding: The input embedding whose weight ``[vocab, hidden_size]`` is the decoder
            (borrowed, not copied: tying as BERT does).
    """

    def __init__(self, hidden_size: int, embedding: nn.Embedding) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.embedding = [embedding]  # a list: not registered twice as a submodule
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def forward(self, hidden: Tensor) -> Tensor:
        """Logits ``[..., vocab]`` of token states ``[..., hidden_size]``."""
        h = self.norm(F.gelu(self.dense(hidden)))
        return F.linear(h, self.embedding[0].weight, self.bias)


def text_special_ids(text_encoder: nn.Module) -> list[int]:
    """Ids of the text tokenizer's special tokens (never masked)."""
    tok = text_encoder.tokenizer
    ids = getattr(tok, "all_special_ids", None)
    if ids is None:
        ids = [text_encoder.pad_token_id, text_encoder.cls_token_id, text_encoder.sep_token_id]
    return [int(i) for i in ids if i is not None]


def mask_words(
    text_encoder: nn.Module,
    ids: Tensor,
    attention: Tensor,
    *,
    rate: float,
    generator: torch.Generator | None,
    replace_mask: float = 0.8,
    replace_random: float = 0.1,
) -> MaskedTokens:
    """BERT-mask the word tokens ``[batch_size, seq_len]`` of ``text_encoder``'s vocabulary."""
    return mask_tokens(
        ids,
        attention,
        rate=rate,
        mask_id=int(text_encoder.mask_token_id),
        vocab_size=int(text_encoder.word_embeddings.num_embeddings),
        special_ids=text_special_ids(text_encoder),
        generator=generator,
        replace_mask=replace_mask,
        replace_random=replace_random,
    )


# ----------------------------------------------------------------------------------- mlm


@dataclass(frozen=True)
class MaskedLMConfig:
    """Options of :class:`MaskedLanguageModeling` (defaults: BERT).

    Args:
        mask_rate: Share of the word tokens selected, in ``(0, 1)``.
        replace_mask: Share of the selected tokens replaced by [MASK] (the rest: 10% random,
            10% unchanged with the defaults).
        replace_random: Share replaced by a random token.
        seed: None (global RNG, checkpointed) or the seed of a private generator.
    """

    mask_rate: float = 0.15
    replace_mask: float = 0.8
    replace_random: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fraction("mlm.mask_rate", self.mask_rate)
        check_fraction("mlm.replace_mask", self.replace_mask, low_open=False, high_open=False)
        check_fraction("mlm.replace_random", self.replace_random, low_open=False, high_open=False)
        if self.replace_mask + self.replace_random > 1:
            raise ConfigError(
                "mlm.replace_mask + replace_random",
                self.replace_mask + self.replace_random,
                expected="at most 1",
            )
        check_seed("mlm.seed", self.seed)


@TASKS.register("mlm")
class MaskedLanguageModeling(StochasticTask):
    """Masked language modelling on the text encoder (Devlin et al. 2019, arXiv:1810.04805).

    Args:
        model: The molecule–text model (borrowed); only ``model.text`` is used.
        cfg: Options.
    """

    config_cls = MaskedLMConfig
    needs_text_model = True
    requires = frozenset({"text"})

    def __init__(self, model: nn.Module, cfg: MaskedLMConfig) -> None:
        super().__init__(cfg.seed)
        self.model = model
        self.cfg = cfg
        text = model.text
        self.head = MLMHead(text.hidden_size, text.word_embeddings)

    def mask(self, ids: Tensor, attention: Tensor) -> tuple[Tensor, Tensor]:
        """Corrupted ids and labels ``[batch_size, seq_len]`` (``IGNORE_INDEX`` = not predicted)."""
        out = mask_words(
            self.model.text,
            ids,
            attention,
            rate=self.cfg.mask_rate,
            generator=self.generator,
            replace_mask=self.cfg.replace_mask,
            replace_random=self.cfg.replace_random,
        )
        return out.input_ids, out.labels

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Cross-entropy of the masked word tokens."""
        text = batch.text_tokens()
        ids, attention = text.input_ids, text.attention_mask
        corrupted, labels = self.mask(ids, attention)
        tokens = self.model.text(input_ids=corrupted, attention_mask=attention).tokens
        selected = labels != IGNORE_INDEX
        logits = self.head(tokens[selected])  # [num_masked, vocab]
        target = labels[selected]
        loss = F.cross_entropy(logits.float(), target)
        return TaskOutput(
            loss,
            {"loss": loss.detach(), "acc": accuracy(logits, target)},
        )


# ------------------------------------------------------------------------------- kv-plm


@dataclass(frozen=True)
class KVPLMConfig:
    """Options of :class:`KVPLMMaskedModeling`.

    Args:
        mask_rate: Share of the word tokens selected, in ``(0, 1)``.
        smiles_mask_rate: Share of the SMILES BPE tokens selected, in ``(0, 1)``.
        smiles_weight: Weight of the SMILES loss in the sum with the word loss.
        seed: None (global RNG) or the seed of a private generator.
    """

    mask_rate: float = 0.15
    smiles_mask_rate: float = 0.15
    smiles_weight: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fraction("kvplm_mlm.mask_rate", self.mask_rate)
        check_fraction("kvplm_mlm.smiles_mask_rate", self.smiles_mask_rate)
        if not isinstance(self.smiles_weight, (int, float)) or self.smiles_weight < 0:
            raise ConfigError(
                "kvplm_mlm.smiles_weight", self.smiles_weight, expected="a number >= 0"
            )
        check_seed("kvplm_mlm.seed", self.seed)


def pack_text_and_smiles(
    text_embeds: Tensor, text_mask: Tensor, smiles_embeds: Tensor, smiles_mask: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pack ``[text][smiles]`` per row without padding in between.

    The SMILES part drops its first token (the SMILES tokenizer's [CLS]): the text's [CLS] starts
    the pair. Row ``b`` holds its ``lt_b`` real text tokens, then its ``ls_b - 1`` SMILES tokens,
    then padding.

    Args:
        text_embeds: ``[batch_size, text_len, hidden]``.
        text_mask: ``[batch_size, text_len]``, real tokens first, padding last (tokenizers pad
            on the right).
        smiles_embeds: ``[batch_size, smiles_len, hidden]``.
        smiles_mask: ``[batch_size, smiles_len]``, real tokens first.

    Returns:
        ``(embeds [batch_size, L, hidden], attention_mask [batch_size, L], token_type_ids
        [batch_size, L], smiles_pos [batch_size, smiles_len])`` where ``smiles_pos[b, k]`` is the
        packed position of SMILES token ``k`` (only meaningful where ``smiles_mask`` is 1 and
        ``k >= 1``); text token ``j`` stays at position ``j``.
    """
    bsz, text_len, hidden = text_embeds.shape
    smiles_len = smiles_embeds.size(1)
    lt = text_mask.long().sum(dim=1)  # [batch_size]
    ls = smiles_mask.long().sum(dim=1)
    total = int((lt + (ls - 1).clamp(min=0)).max())
    trash = total  # one extra slot receives every padding row, then is cut off
    j = torch.arange(text_len, device=text_embeds.device)
    k = torch.arange(smiles_len, device=text_embeds.device)
    text_valid = text_mask.bool()
    smiles_valid = smiles_mask.bool() & (k >= 1)
    text_pos = torch.where(text_valid, j.expand(bsz, -1), torch.full_like(text_mask.long(), trash))
    smiles_pos = lt[:, None] + k[None, :] - 1
    smiles_target = torch.where(smiles_valid, smiles_pos, torch.full_like(smiles_pos, trash))
    index = torch.cat([text_pos, smiles_target], dim=1)  # [batch_size, text_len + smiles_len]
    source = torch.cat([text_embeds, smiles_embeds], dim=1)
    out = source.new_zeros(bsz, total + 1, hidden)
    out = out.scatter(1, index[..., None].expand(-1, -1, hidden), source)[:, :total]
    attention = torch.zeros(bsz, total + 1, dtype=text_mask.dtype, device=text_mask.device)
    attention = attention.scatter(1, index, torch.ones_like(index, dtype=text_mask.dtype))
    types = torch.zeros(bsz, total + 1, dtype=torch.long, device=text_mask.device)
    types = types.scatter(1, smiles_target, torch.ones_like(smiles_target))
    return out, attention[:, :total], types[:, :total], smiles_pos


@TASKS.register("kvplm_mlm")
class KVPLMMaskedModeling(StochasticTask):
    """KV-PLM masked modelling over text and the molecule's SMILES as a second language.

    See the module docstring for the sequence layout. Needs a model with a SMILES embedding
    table (``model.smiles_embeddings``, ``model.smiles_tokenizer``) and batches with word tokens
    and SMILES tokens (``batch.text.smiles``: ``PairLoader`` with a ``smiles_tokenizer``).

    Args:
        model: The molecule–text model (borrowed).
        cfg: Options.

    Raises:
        ConfigError: The model has no SMILES embedding table.
    """

    config_cls = KVPLMConfig
    needs_text_model = True
    requires = frozenset({"text", "smiles"})

    def __init__(self, model: nn.Module, cfg: KVPLMConfig) -> None:
        super().__init__(cfg.seed)
        if getattr(model, "smiles_embeddings", None) is None or model.smiles_tokenizer is None:
            raise ConfigError(
                "kvplm_mlm",
                "model without SMILES embeddings",
                expected="a MolTextModel with a SMILES tokenizer",
                hint="set smiles_tokenizer (a BPE vocabulary size) in the run config",
            )
        self.model = model
        self.cfg = cfg
        text = model.text
        self.word_head = MLMHead(text.hidden_size, text.word_embeddings)
        self.smiles_head = MLMHead(text.hidden_size, model.smiles_embeddings)
        tok = model.smiles_tokenizer
        self.smiles_special = [tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id]

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Word loss + ``smiles_weight`` x SMILES loss, over one packed text+SMILES sequence."""
        text, smiles_tokens = batch.text_tokens(), batch.smiles_tokens()
        ids, attention = text.input_ids, text.attention_mask
        s_ids, s_mask = smiles_tokens.input_ids, smiles_tokens.attention_mask
        encoder, tok = self.model.text, self.model.smiles_tokenizer
        words = mask_words(
            encoder, ids, attention, rate=self.cfg.mask_rate, generator=self.generator
        )
        smiles = mask_tokens(
            s_ids,
            s_mask,
            rate=self.cfg.smiles_mask_rate,
            mask_id=int(tok.mask_id),
            vocab_size=int(tok.vocab_size),
            special_ids=self.smiles_special,
            generator=self.generator,
        )
        embeds, packed_mask, types, smiles_pos = pack_text_and_smiles(
            encoder.word_embeddings(words.input_ids),
            attention,
            self.model.smiles_embeddings(smiles.input_ids),
            s_mask,
        )
        states = encoder(inputs_embeds=embeds, attention_mask=packed_mask, token_type_ids=types)
        tokens = states.tokens  # [batch_size, L, hidden]
        word_sel = words.selected
        word_logits = self.word_head(tokens[:, : ids.size(1)][word_sel])
        word_target = words.labels[word_sel]
        word_loss = F.cross_entropy(word_logits.float(), word_target)
        s_sel = smiles.selected
        rows = torch.arange(ids.size(0), device=ids.device)[:, None].expand_as(s_sel)
        s_logits = self.smiles_head(tokens[rows[s_sel], smiles_pos[s_sel]])
        s_target = smiles.labels[s_sel]
        s_loss = (
            F.cross_entropy(s_logits.float(), s_target)
            if s_target.numel()
            else s_logits.sum() * 0.0
        )
        loss = word_loss + self.cfg.smiles_weight * s_loss
        logs = {
            "loss": loss.detach(),
            "word_loss": word_loss.detach(),
            "word_acc": accuracy(word_logits, word_target),
            "smiles_loss": s_loss.detach(),
            "smiles_acc": accuracy(s_logits, s_target),
        }
        return TaskOutput(loss, logs)
