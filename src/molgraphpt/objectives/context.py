"""Context prediction (``context_pred``): does this K-hop substructure belong to this context?

Randomness follows :class:`~molgraphpt.objectives.base.StochasticTask` (global torch RNG by
default, a private generator with ``seed``): one random center atom per molecule and batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.transforms import k_hop_context, sample_centers
from molgraphpt.errors import ConfigError
from molgraphpt.models.graph import GraphEncoderConfig, build_graph_encoder
from molgraphpt.objectives.base import (
    TASKS,
    StochasticTask,
    TaskOutput,
    check_choice,
    check_int,
    check_seed,
)
from molgraphpt.objectives.losses import zero_loss

_POOLS = {"mean": global_mean_pool, "sum": global_add_pool, "max": global_max_pool}


@dataclass(frozen=True)
class ContextPredictionConfig:
    """Options of :class:`ContextPrediction` (defaults: pretrain-gnns ``pretrain_contextpred.py``).

    pretrain-gnns ties ``k`` to the encoder depth (``num_layer = 5``), sets ``l1 = num_layer - 1``
    and ``l2 = l1 + csize`` with ``csize = 3``, which is also the context GNN's depth.

    Args:
        k: Substructure radius in hops (pretrain-gnns: the encoder's ``num_layers``, 5).
        r1: Inner radius of the context ring, excluded (4); must be ``< k`` so that the
            substructure and the context overlap.
        r2: Outer radius of the context ring, included (7).
        context_layers: Depth of the context encoder (None: ``r2 - r1``, pretrain-gnns' csize).
        neg_samples: Negative contexts per substructure, taken from the next molecules of the
            batch (>= 1).
        mode: ``"cbow"`` (substructure vs the pooled anchor representations) or ``"skipgram"``
            (substructure vs each anchor representation).
        context_pooling: Pooling of the anchor representations in ``cbow`` mode.
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    k: int = 5
    r1: int = 4
    r2: int = 7
    context_layers: int | None = None
    neg_samples: int = 1
    mode: Literal["cbow", "skipgram"] = "cbow"
    context_pooling: Literal["mean", "sum", "max"] = "mean"
    seed: int | None = None

    def __post_init__(self) -> None:
        check_int("context_pred.k", self.k, minimum=1)
        check_int("context_pred.r1", self.r1, minimum=0)
        check_int("context_pred.r2", self.r2, minimum=1)
        if self.r1 >= self.k:
            raise ConfigError(
                "context_pred.r1",
                self.r1,
                expected=f"an integer < k={self.k}",
                hint="substructure (<= k hops) and context (> r1 hops) must overlap",
            )
        if self.r2 <= self.r1:
            raise ConfigError("context_pred.r2", self.r2, expected=f"an integer > r1={self.r1}")
        if self.context_layers is not None:
            check_int("context_pred.context_layers", self.context_layers, minimum=1)
        check_int("context_pred.neg_samples", self.neg_samples, minimum=1)
        check_choice("context_pred.mode", self.mode, ("cbow", "skipgram"))
        check_choice("context_pred.context_pooling", self.context_pooling, tuple(_POOLS))
        check_seed("context_pred.seed", self.seed)


def context_encoder_config(encoder_cfg: GraphEncoderConfig, num_layers: int) -> GraphEncoderConfig:
    """Config of the context GNN: the main encoder's architecture with ``num_layers`` layers.

    With ``jk="cat"`` the main encoder's output width depends on its depth, so the context
    encoder uses ``jk="last"`` with ``hidden_dim = output_dim`` instead, to produce vectors of
    the same width.
    """
    cfg = replace(encoder_cfg, num_layers=num_layers)
    if cfg.output_dim != encoder_cfg.output_dim:
        cfg = replace(cfg, jk="last", hidden_dim=encoder_cfg.output_dim)
    return cfg


@TASKS.register("context_pred")
class ContextPrediction(StochasticTask):
    """Context prediction of Hu et al. 2020 (arXiv:1905.12265).

    For one random center atom per molecule, the main encoder embeds the ``k``-hop substructure
    (it runs on the induced substructure graph, and the center's representation is taken), and a
    separate, shallower context encoder embeds the context ring (``r1 < hops <= r2``), whose
    representations at the anchor atoms (in both) are averaged (``cbow``). A dot product scores
    (substructure, context) pairs; true pairs get label 1 and ``neg_samples`` pairs with the
    contexts of other molecules of the batch (cyclic shifts, as pretrain-gnns) get label 0:
    ``loss = BCE(pos) + neg_samples * BCE(neg)``. Molecules without context are left out (as
    pretrain-gnns' collator drops them); a batch where fewer than 2 context atoms exist in total
    contributes a zero loss (batch normalization cannot run on fewer than 2 nodes).

    Args:
        encoder: Main graph encoder (borrowed); must expose its ``cfg``
            (:class:`~molgraphpt.models.graph.GraphEncoderConfig`) to build the context encoder.
        cfg: Options.

    Attributes:
        context_encoder: The context GNN (owned by this objective).
    """

    config_cls = ContextPredictionConfig

    def __init__(self, encoder: nn.Module, cfg: ContextPredictionConfig) -> None:
        super().__init__(cfg.seed)
        encoder_cfg = getattr(encoder, "cfg", None)
        if not isinstance(encoder_cfg, GraphEncoderConfig):
            raise ConfigError(
                "context_pred encoder",
                type(encoder).__name__,
                expected="a molgraphpt graph encoder with a GraphEncoderConfig `cfg`",
            )
        self.encoder = encoder
        self.cfg = cfg
        depth = cfg.context_layers or cfg.r2 - cfg.r1
        self.context_encoder = build_graph_encoder(context_encoder_config(encoder_cfg, depth))

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """BCE of true vs shifted (substructure, context) pairs."""
        graph = batch.require("graph")
        cfg = self.cfg
        centers = sample_centers(graph, self.generator)
        pair = k_hop_context(graph, centers, cfg.k, cfg.r1, cfg.r2)
        substruct = self.encoder(pair.substructure).node[pair.center_index]  # [G, d]
        num_context_nodes = pair.context.x.size(0)
        if num_context_nodes < 2 or not bool(pair.has_context.any()):
            loss = zero_loss(substruct, *self.context_encoder.parameters())
            return TaskOutput(loss, {"loss": loss.detach(), "num_pairs": loss.new_zeros(())})
        anchors = self.context_encoder(pair.context).node[pair.anchor_index]  # [A, d]
        valid = pair.has_context.nonzero().view(-1)  # graphs with a context, [V]
        num_valid = valid.numel()
        if cfg.mode == "cbow":
            pooled = _POOLS[cfg.context_pooling](anchors, pair.anchor_batch, substruct.size(0))
            sub, ctx = substruct[valid], pooled[valid]  # [V, d]
            pos = (sub * ctx).sum(dim=-1)
            negs = [(sub * ctx.roll(-i, 0)).sum(dim=-1) for i in self._shifts(num_valid)]
        else:
            position = torch.full_like(pair.has_context, -1, dtype=torch.long)
            position[valid] = torch.arange(num_valid, device=valid.device)
            anchor_pos = position[pair.anchor_batch]  # [A] index among valid graphs
            sub = substruct[valid]
            pos = (sub[anchor_pos] * anchors).sum(dim=-1)
            negs = [
                (sub[(anchor_pos + i) % num_valid] * anchors).sum(dim=-1)
                for i in self._shifts(num_valid)
            ]
        pos = pos.float()
        neg = torch.cat(negs).float() if negs else pos.new_zeros(0)
        loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
        if neg.numel():
            loss_neg = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
            loss = loss + cfg.neg_samples * loss_neg
        acc_neg = (neg < 0).float().mean() if neg.numel() else pos.new_ones(())
        acc = 0.5 * ((pos > 0).float().mean() + acc_neg)
        logs = {"loss": loss.detach(), "acc": acc.detach()}
        logs["num_pairs"] = torch.tensor(float(num_valid), device=loss.device)
        return TaskOutput(loss, logs)

    def _shifts(self, num_valid: int) -> list[int]:
        """Cyclic shifts giving negatives; none when a single molecule has a context."""
        if num_valid < 2:
            return []
        return [1 + (i % (num_valid - 1)) for i in range(self.cfg.neg_samples)]

    def extra_repr(self) -> str:  # noqa: D102
        return f"k={self.cfg.k}, r1={self.cfg.r1}, r2={self.cfg.r2}, mode={self.cfg.mode!r}"
