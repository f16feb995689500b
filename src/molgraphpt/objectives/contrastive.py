"""Graph-level contrastive objectives: Deep Graph Infomax (``infomax``) and GraphCL (``graphcl``).

Randomness follows :class:`~molgraphpt.objectives.base.StochasticTask` (global torch RNG by
default, a private generator with ``seed``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.transforms import AUGMENTATIONS, augment
from molgraphpt.errors import ConfigError
from molgraphpt.objectives.base import (
    TASKS,
    StochasticTask,
    TaskOutput,
    check_choice,
    check_fraction,
    check_int,
    check_positive,
    check_seed,
)
from molgraphpt.objectives.losses import nt_xent

# ------------------------------------------------------------------------------- Infomax


@dataclass(frozen=True)
class InfomaxConfig:
    """Options of :class:`DeepGraphInfomax` (defaults: pretrain-gnns ``pretrain_deepgraphinfomax``).

    Args:
        negative: Which summary a node is contrasted with: ``"shift"`` pairs graph ``i`` with
            graph ``i + 1`` of the batch (pretrain-gnns' ``cycle_index``, deterministic) and
            ``"random"`` with graph ``i + s`` for a random shift ``s`` in ``[1, num_graphs)``
            drawn each batch.
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    negative: Literal["shift", "random"] = "shift"
    seed: int | None = None

    def __post_init__(self) -> None:
        check_choice("infomax.negative", self.negative, ("shift", "random"))
        check_seed("infomax.seed", self.seed)


class BilinearDiscriminator(nn.Module):
    """Score ``x^T W s`` of node ``x`` against summary ``s`` (DGI's discriminator).

    ``W`` is initialised uniformly in ``[-1/sqrt(dim), 1/sqrt(dim)]`` as in pretrain-gnns / PyG.

    Args:
        dim: Width of nodes and summaries.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))
        bound = 1.0 / math.sqrt(dim)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, node: Tensor, summary: Tensor) -> Tensor:
        """Scores ``[num_nodes]`` of ``node`` ``[num_nodes, dim]`` vs ``summary`` (same shape)."""
        return (node * (summary @ self.weight.t())).sum(dim=-1)


@TASKS.register("infomax")
class DeepGraphInfomax(StochasticTask):
    """Deep Graph Infomax (Veličković et al. 2019, arXiv:1809.10341), graph-level variant.

    As in Hu et al. 2020 (arXiv:1905.12265): the summary of a molecule is ``sigmoid`` of its
    pooled node representations (the encoder's readout, mean by default as there), and a bilinear
    discriminator is trained with binary cross-entropy to tell each node's own summary (label 1)
    from another molecule's summary (label 0).

    Args:
        encoder: Graph encoder (borrowed).
        cfg: Options.
    """

    config_cls = InfomaxConfig

    def __init__(self, encoder: nn.Module, cfg: InfomaxConfig) -> None:
        super().__init__(cfg.seed)
        self.encoder = encoder
        self.cfg = cfg
        self.discriminator = BilinearDiscriminator(int(encoder.output_dim))

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """``BCE(D(h_i, s_own), 1) + BCE(D(h_i, s_other), 0)`` over all atoms."""
        graph = batch.require("graph")
        out = self.encoder(graph)
        node = out.node  # [num_nodes, output_dim]
        summary = torch.sigmoid(out.graph)  # [num_graphs, output_dim]
        num_graphs = summary.size(0)
        shift = 1
        if self.cfg.negative == "random" and num_graphs > 2:
            draw = torch.randint(1, num_graphs, (1,), generator=self.generator)
            shift = int(draw)
        other = (torch.arange(num_graphs, device=node.device) + shift) % max(num_graphs, 1)
        pos = self.discriminator(node, summary[graph.batch]).float()
        neg = self.discriminator(node, summary[other][graph.batch]).float()
        loss = F.binary_cross_entropy_with_logits(
            pos, torch.ones_like(pos)
        ) + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
        acc = 0.5 * ((pos > 0).float().mean() + (neg < 0).float().mean())
        return TaskOutput(loss, {"loss": loss.detach(), "acc": acc.detach()})


# ------------------------------------------------------------------------------- GraphCL

_VIEW_CHOICES = (*AUGMENTATIONS, "random", "none")


@dataclass(frozen=True)
class GraphCLConfig:
    """Options of :class:`GraphCL` (defaults: GraphCL's chem transfer-learning setup).

    Args:
        aug1: Augmentation of the first view: one of ``drop_nodes``, ``perturb_edges``,
            ``subgraph``, ``mask_attributes``, ``random`` (one of ``random_augs`` drawn per
            molecule) or ``none``.
        aug2: Augmentation of the second view (same choices).
        aug_ratio: Corruption ratio of every augmentation, in ``[0, 1)`` (GraphCL: 0.2).
        random_augs: Augmentations ``random`` draws from. GraphCL's chem script draws from
            ``(drop_nodes, subgraph)``; the default uses all four.
        temperature: NT-Xent temperature (GraphCL: 0.1).
        proj_dim: Width of the projection head (None: the encoder's ``output_dim``, as GraphCL's
            300 -> 300 -> 300 head).
        symmetric: Average the NT-Xent over both view orders (GraphCL: one direction).
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    aug1: str = "random"
    aug2: str = "random"
    aug_ratio: float = 0.2
    random_augs: tuple[str, ...] = AUGMENTATIONS
    temperature: float = 0.1
    proj_dim: int | None = None
    symmetric: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        check_choice("graphcl.aug1", self.aug1, _VIEW_CHOICES)
        check_choice("graphcl.aug2", self.aug2, _VIEW_CHOICES)
        check_fraction("graphcl.aug_ratio", self.aug_ratio, low_open=False)
        if isinstance(self.random_augs, str) or not self.random_augs:
            raise ConfigError(
                "graphcl.random_augs", self.random_augs, expected="a non-empty list of names"
            )
        object.__setattr__(self, "random_augs", tuple(self.random_augs))
        for name in self.random_augs:
            check_choice("graphcl.random_augs", name, AUGMENTATIONS)
        check_positive("graphcl.temperature", self.temperature)
        if self.proj_dim is not None:
            check_int("graphcl.proj_dim", self.proj_dim, minimum=1)
        if not isinstance(self.symmetric, bool):
            raise ConfigError("graphcl.symmetric", self.symmetric, expected="true/false")
        check_seed("graphcl.seed", self.seed)


@TASKS.register("graphcl")
class GraphCL(StochasticTask):
    """Graph contrastive learning with augmentations (You et al. 2020, arXiv:2010.13902).

    Two augmented views of every molecule are encoded, pooled (the encoder's readout, mean by
    default as GraphCL) and projected by a 2-layer MLP; NT-Xent (GraphCL's form, see
    :func:`~molgraphpt.objectives.losses.nt_xent`) pulls the two views of a molecule together and
    pushes the other molecules' views away.

    Args:
        encoder: Graph encoder (borrowed).
        cfg: Options.
    """

    config_cls = GraphCLConfig

    def __init__(self, encoder: nn.Module, cfg: GraphCLConfig) -> None:
        super().__init__(cfg.seed)
        self.encoder = encoder
        self.cfg = cfg
        dim = int(encoder.output_dim)
        proj = cfg.proj_dim or dim
        self.projection = nn.Sequential(nn.Linear(dim, proj), nn.ReLU(), nn.Linear(proj, proj))

    def _view(self, graph: object, name: str) -> object:
        augs = self.cfg.random_augs if name == "random" else (name,)
        return augment(graph, augs, self.cfg.aug_ratio, self.generator)

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """NT-Xent between the projections of two augmented views."""
        graph = batch.require("graph")
        z1 = self.projection(self.encoder(self._view(graph, self.cfg.aug1)).graph)
        z2 = self.projection(self.encoder(self._view(graph, self.cfg.aug2)).graph)
        loss = nt_xent(z1, z2, self.cfg.temperature, symmetric=self.cfg.symmetric)
        with torch.no_grad():
            sim = F.normalize(z1.float(), dim=-1) @ F.normalize(z2.float(), dim=-1).t()
            target = torch.arange(sim.size(0), device=sim.device)
            acc = (sim.argmax(dim=-1) == target).float().mean()
        return TaskOutput(loss, {"loss": loss.detach(), "acc": acc})
