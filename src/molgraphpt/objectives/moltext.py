"""Molecule–text objectives: ``mol_text_contrastive``, ``cross_modal_mlm``, ``mol_text_matching``.

Every objective here borrows a :class:`~molgraphpt.models.moltext.MolTextModel`
(``needs_text_model = True``): its graph encoder, its text encoder and, for the contrastive loss,
its projection heads and learnable temperature, which are part of the saved model because
retrieval uses them. They read the batch's word tokens
(:meth:`~molgraphpt.data.batch.MolTextBatch.text_tokens`); ``mol_text_contrastive`` reads its
cached pooled text vectors (``batch.text.pooled``) instead when the batch carries them.

What ``cross_modal_mlm`` is (the issue left the design open): two light fusion blocks
(:class:`~molgraphpt.models.fusion.CrossAttentionBlock`, one layer each) on top of the unimodal
encoders, as in ALBEF/BLIP's fusion but shallow:

* **text side** — the text with 15% of its word tokens masked goes through the text encoder; its
  token states attend to the node states of the (intact) molecule graph; a BERT head tied to the
  word embeddings predicts the masked words. The molecule is "available" to fill in words such as
  the functional groups it carries.
* **atom side** — the graph with 15% of its atoms masked (Hu et al.'s ``MaskAtom``) goes through
  the graph encoder; its node states attend to the token states of the (intact) text; a linear
  head predicts the masked atom types.

Why this and not node tokens inside the BERT input (MoMu/MolCA-style soft prompts): the two
encoders stay separately usable (retrieval, ``embed``, property fine-tuning never need the other
modality), the text encoder needs no foreign embeddings, the fusion costs one layer, and the
unimodal MLM and attribute masking losses remain the special case where the fusion learns to
ignore the other side (so a gap between ``cross_modal_mlm`` and ``mlm`` measures what the other
modality adds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.transforms import mask_atoms
from molgraphpt.errors import ConfigError
from molgraphpt.models.fusion import CrossAttentionBlock
from molgraphpt.objectives.base import (
    NUM_ATOM_TYPES,
    TASKS,
    PretrainTask,
    StochasticTask,
    TaskOutput,
    check_choice,
    check_fraction,
    check_int,
    check_seed,
)
from molgraphpt.objectives.losses import accuracy
from molgraphpt.objectives.text_mlm import MLMHead, mask_words

__all__ = [
    "CrossModalMLM",
    "CrossModalMLMConfig",
    "MolTextContrastive",
    "MolTextContrastiveConfig",
    "MolTextMatching",
    "MolTextMatchingConfig",
    "gather_with_grad",
]

_MAX_LOGIT_SCALE = 100.0


def _text_inputs(batch: MolTextBatch) -> tuple[Tensor, Tensor]:
    """``(input_ids, attention_mask)`` ``[batch_size, seq_len]`` of the batch's word tokens."""
    tokens = batch.text_tokens()
    return tokens.input_ids, tokens.attention_mask


def dense_nodes(encoder: nn.Module, graph: Any) -> tuple[Tensor, Tensor]:
    """Node states of ``graph`` padded per molecule: ``([B, N_max, dim], mask [B, N_max])``."""
    nodes = encoder(graph).node  # [num_nodes, dim]
    return to_dense_batch(nodes, graph.batch, batch_size=graph.num_graphs)


def gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """Concatenate ``x`` ``[n_r, dim]`` of every DDP rank, keeping the gradient of every part.

    Ranks may hold different batch sizes (a last, short batch): every part is padded to the
    largest and the padding rows are dropped after the gather.

    Returns:
        ``(all_rows [sum_r n_r, dim], offset)``, ``offset`` being where this rank's rows start.
        Without an initialized process group (or with one rank) returns ``(x, 0)``.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return x, 0
    world = torch_dist.get_world_size()
    if world == 1:
        return x, 0
    from torch.distributed.nn.functional import all_gather

    size = torch.tensor([x.size(0)], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    torch_dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    longest = max(counts)
    padded = F.pad(x, (0, 0, 0, longest - x.size(0)))
    parts = all_gather(padded)  # differentiable: each rank gets the gradient of its own rows
    rank = torch_dist.get_rank()
    rows = torch.cat([part[:n] for part, n in zip(parts, counts)], dim=0)
    return rows, sum(counts[:rank])


# ----------------------------------------------------------------------------- contrastive


@dataclass(frozen=True)
class MolTextContrastiveConfig:
    """Options of :class:`MolTextContrastive`.

    Args:
        gather: Under DDP, use the pairs of every rank as negatives (gathered with gradient).
        learnable_temperature: Train ``model.logit_scale`` (else it stays at its initial value).
        label_smoothing: Label smoothing of both cross-entropies, in ``[0, 1)``.
    """

    gather: bool = True
    learnable_temperature: bool = True
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        for name in ("gather", "learnable_temperature"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"mol_text_contrastive.{name}", getattr(self, name), expected="true/false"
                )
        check_fraction("mol_text_contrastive.label_smoothing", self.label_smoothing, low_open=False)


@TASKS.register("mol_text_contrastive")
class MolTextContrastive(PretrainTask):
    """Symmetric InfoNCE between molecule and text embeddings (CLIP; MoMu, MoleculeSTM).

    ``s_ij = exp(logit_scale) * <g_i, t_j>`` with L2-normalised projections ``g = graph_proj(
    readout)`` and ``t = text_proj(pooled text)``; the loss is the mean of the molecule→text and
    text→molecule cross-entropies with the diagonal as targets. The scale is clamped to 100.

    Args:
        model: The molecule–text model (borrowed).
        cfg: Options.
    """

    config_cls = MolTextContrastiveConfig
    needs_text_model = True
    requires = frozenset({"graph", "text"})
    accepts_text_features = True  # a frozen text encoder's cached pooled outputs will do

    def __init__(self, model: nn.Module, cfg: MolTextContrastiveConfig) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Symmetric InfoNCE over the batch (over all ranks' batches with ``gather``)."""
        graph_emb = self.model.embed_graphs(batch.require("graph"))  # [B, proj]
        text = batch.require("text")
        if text.pooled is not None:  # a frozen text encoder's cached pooled outputs
            text_emb = self.model.embed_text_features(text.pooled)  # [B, proj]
        else:
            text_emb = self.model.embed_texts(batch.text_tokens().as_dict())  # [B, proj]
        offset = 0
        all_graph, all_text = graph_emb, text_emb
        if self.cfg.gather:
            all_graph, offset = gather_with_grad(graph_emb)
            all_text, _ = gather_with_grad(text_emb)
        log_scale = self.model.logit_scale
        if not self.cfg.learnable_temperature:
            log_scale = log_scale.detach()
        scale = log_scale.exp().clamp(max=_MAX_LOGIT_SCALE)
        logits_m2t = scale * graph_emb @ all_text.T  # [B, B_all]
        logits_t2m = scale * text_emb @ all_graph.T
        target = torch.arange(graph_emb.size(0), device=graph_emb.device) + offset
        smooth = self.cfg.label_smoothing
        loss_m2t = F.cross_entropy(logits_m2t.float(), target, label_smoothing=smooth)
        loss_t2m = F.cross_entropy(logits_t2m.float(), target, label_smoothing=smooth)
        loss = 0.5 * (loss_m2t + loss_t2m)
        logs = {
            "loss": loss.detach(),
            "acc_m2t": accuracy(logits_m2t, target),
            "acc_t2m": accuracy(logits_t2m, target),
            "temperature": (1.0 / scale).detach(),
        }
        return TaskOutput(loss, logs)


# --------------------------------------------------------------------------- cross-modal mlm


@dataclass(frozen=True)
class CrossModalMLMConfig:
    """Options of :class:`CrossModalMLM`.

    Args:
        directions: ``"both"``, ``"text"`` (masked words with the molecule) or ``"atoms"``
            (masked atoms with the text).
        mask_rate: Share of word tokens masked (BERT's 80/10/10 rule).
        atom_mask_rate: Share of atoms masked (``floor(n * rate) + 1`` per molecule).
        heads: Attention heads of each fusion block (must divide its width).
        dropout: Dropout in the fusion blocks.
        seed: None (global RNG) or the seed of a private generator.
    """

    directions: str = "both"
    mask_rate: float = 0.15
    atom_mask_rate: float = 0.15
    heads: int = 4
    dropout: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_choice("cross_modal_mlm.directions", self.directions, ("both", "text", "atoms"))
        check_fraction("cross_modal_mlm.mask_rate", self.mask_rate)
        check_fraction("cross_modal_mlm.atom_mask_rate", self.atom_mask_rate)
        check_int("cross_modal_mlm.heads", self.heads, minimum=1)
        check_fraction("cross_modal_mlm.dropout", self.dropout, low_open=False)
        check_seed("cross_modal_mlm.seed", self.seed)


@TASKS.register("cross_modal_mlm")
class CrossModalMLM(StochasticTask):
    """Masked words predicted with the molecule, masked atoms predicted with the text.

    See the module docstring for the design. Logs ``text_loss``/``text_acc`` and
    ``atom_loss``/``atom_acc``; the loss is their sum.

    Args:
        model: The molecule–text model (borrowed).
        cfg: Options.
    """

    config_cls = CrossModalMLMConfig
    needs_text_model = True
    requires = frozenset({"graph", "text"})

    def __init__(self, model: nn.Module, cfg: CrossModalMLMConfig) -> None:
        super().__init__(cfg.seed)
        self.model = model
        self.cfg = cfg
        text_dim = int(model.text.hidden_size)
        graph_dim = int(model.graph.output_dim)
        if cfg.directions in ("both", "text"):
            self.text_fusion = CrossAttentionBlock(text_dim, graph_dim, cfg.heads, cfg.dropout)
            self.word_head = MLMHead(text_dim, model.text.word_embeddings)
        if cfg.directions in ("both", "atoms"):
            self.atom_fusion = CrossAttentionBlock(graph_dim, text_dim, cfg.heads, cfg.dropout)
            self.atom_head = nn.Linear(graph_dim, NUM_ATOM_TYPES)

    def _text_loss(self, batch: MolTextBatch) -> tuple[Tensor, dict[str, Tensor]]:
        ids, attention = _text_inputs(batch)
        text = self.model.text
        masked = mask_words(text, ids, attention, rate=self.cfg.mask_rate, generator=self.generator)
        tokens = text(input_ids=masked.input_ids, attention_mask=attention).tokens
        dense, node_mask = dense_nodes(self.model.graph, batch.require("graph"))
        fused = self.text_fusion(tokens, dense, node_mask)  # [B, L, text_dim]
        sel = masked.selected
        logits = self.word_head(fused[sel])
        target = masked.labels[sel]
        loss = F.cross_entropy(logits.float(), target)
        return loss, {"text_loss": loss.detach(), "text_acc": accuracy(logits, target)}

    def _atom_loss(self, batch: MolTextBatch) -> tuple[Tensor, dict[str, Tensor]]:
        ids, attention = _text_inputs(batch)
        tokens = self.model.text(input_ids=ids, attention_mask=attention).tokens
        masked = mask_atoms(
            batch.require("graph"), self.cfg.atom_mask_rate, generator=self.generator
        )
        dense, node_mask = dense_nodes(self.model.graph, masked.graph)
        fused = self.atom_fusion(dense, tokens, attention.bool())  # [B, N_max, graph_dim]
        flat = fused[node_mask]  # back to [num_nodes, graph_dim], in node order
        logits = self.atom_head(flat[masked.index])
        loss = F.cross_entropy(logits.float(), masked.target)
        return loss, {"atom_loss": loss.detach(), "atom_acc": accuracy(logits, masked.target)}

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Sum of the enabled directions' cross-entropies."""
        total: Tensor | None = None
        logs: dict[str, Tensor] = {}
        if self.cfg.directions in ("both", "text"):
            term, extra = self._text_loss(batch)
            total, logs = term, {**logs, **extra}
        if self.cfg.directions in ("both", "atoms"):
            term, extra = self._atom_loss(batch)
            total = term if total is None else total + term
            logs.update(extra)
        assert total is not None
        logs["loss"] = total.detach()
        return TaskOutput(total, logs)


# ------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class MolTextMatchingConfig:
    """Options of :class:`MolTextMatching`.

    Args:
        heads: Attention heads of the fusion block.
        dropout: Dropout in the fusion block.
        seed: None (global RNG) or the seed of a private generator (negative sampling).
    """

    heads: int = 4
    dropout: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_int("mol_text_matching.heads", self.heads, minimum=1)
        check_fraction("mol_text_matching.dropout", self.dropout, low_open=False)
        check_seed("mol_text_matching.seed", self.seed)


@TASKS.register("mol_text_matching")
class MolTextMatching(StochasticTask):
    """Binary molecule–text matching with hard negatives mined in the batch (ALBEF's ITM).

    For every molecule one negative text, and for every text one negative molecule, is drawn
    from the batch with probability ``softmax`` of the (detached) embedding similarity, the
    positive excluded: the negatives are the pairs the contrastive embedding confuses. The text
    tokens attend to the molecule's nodes (:class:`CrossAttentionBlock`) and a linear head on the
    fused first token ([CLS]) classifies match / no match. Batches of one pair give a zero loss.

    Args:
        model: The molecule–text model (borrowed).
        cfg: Options.
    """

    config_cls = MolTextMatchingConfig
    needs_text_model = True
    requires = frozenset({"graph", "text"})

    def __init__(self, model: nn.Module, cfg: MolTextMatchingConfig) -> None:
        super().__init__(cfg.seed)
        self.model = model
        self.cfg = cfg
        text_dim = int(model.text.hidden_size)
        self.fusion = CrossAttentionBlock(
            text_dim, int(model.graph.output_dim), cfg.heads, cfg.dropout
        )
        self.head = nn.Linear(text_dim, 2)

    def _negatives(self, sim: Tensor) -> Tensor:
        """One index per row drawn from ``softmax(sim)`` with the diagonal excluded ``[B]``."""
        weights = torch.softmax(sim.float(), dim=1).cpu()
        weights.fill_diagonal_(0.0)
        weights = weights + 1e-12 * (1 - torch.eye(len(weights)))  # no all-zero rows
        return torch.multinomial(weights, 1, generator=self.generator).view(-1).to(sim.device)

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Cross-entropy of match / no-match over B positives and 2B mined negatives."""
        text = batch.text_tokens()
        ids, attention = text.input_ids, text.attention_mask
        graph = batch.require("graph")
        dense, node_mask = dense_nodes(self.model.graph, graph)
        tokens = self.model.text(input_ids=ids, attention_mask=attention).tokens
        bsz = ids.size(0)
        if bsz < 2:
            zero = (self.head(tokens[:, 0]).sum() + dense.sum()) * 0.0
            return TaskOutput(zero, {"loss": zero.detach()})
        with torch.no_grad():
            g = self.model.embed_graphs(graph)
            t = self.model.embed_texts(text.as_dict())
            sim = g @ t.T  # [B, B]
        neg_text = self._negatives(sim)  # for molecule i, a text
        neg_mol = self._negatives(sim.T)  # for text j, a molecule
        arange = torch.arange(bsz, device=ids.device)
        text_rows = torch.cat([arange, neg_text, arange])
        mol_rows = torch.cat([arange, arange, neg_mol])
        fused = self.fusion(tokens[text_rows], dense[mol_rows], node_mask[mol_rows])
        logits = self.head(fused[:, 0])  # [3B, 2]
        target = torch.cat([torch.ones(bsz), torch.zeros(2 * bsz)]).long().to(ids.device)
        loss = F.cross_entropy(logits.float(), target)
        return TaskOutput(loss, {"loss": loss.detach(), "acc": accuracy(logits, target)})
