"""Graph self-supervised objectives on node representations: masking, edges, GraphMAE.

Holds the node-level objectives :class:`AttributeMasking` (``attr_mask``),
:class:`EdgePrediction` (``edge_pred``) and :class:`GraphMAE` (``graphmae``). The graph-level
contrastive objectives live in :mod:`molgraphpt.objectives.contrastive` and context prediction in
:mod:`molgraphpt.objectives.context`. Randomness follows
:class:`~molgraphpt.objectives.base.StochasticTask` (global torch RNG by default, a private
generator with ``seed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.data.transforms import mask_atoms, negative_pairs, random_rank
from molgraphpt.errors import ConfigError
from molgraphpt.models.graph.layers import bond_embedding
from molgraphpt.objectives.base import (
    NUM_ATOM_TYPES,
    NUM_BOND_TYPES,
    TASKS,
    StochasticTask,
    TaskOutput,
    check_fraction,
    check_int,
    check_positive,
    check_seed,
)
from molgraphpt.objectives.losses import accuracy, sce_loss, zero_loss

# ---------------------------------------------------------------------- attribute masking


@dataclass(frozen=True)
class AttributeMaskingConfig:
    """Options of :class:`AttributeMasking` (defaults: pretrain-gnns ``pretrain_masking.py``).

    Args:
        mask_rate: Fraction of atoms masked per molecule, in ``(0, 1)``;
            ``floor(n * mask_rate) + 1`` atoms are masked.
        mask_bonds: Also mask the bonds touching masked atoms and predict their bond type.
        keep_atom_features: Keep the 8 non-type columns of masked atoms (default: set to 0).
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    mask_rate: float = 0.15
    mask_bonds: bool = False
    keep_atom_features: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fraction("attr_mask.mask_rate", self.mask_rate)
        for name in ("mask_bonds", "keep_atom_features"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"attr_mask.{name}", getattr(self, name), expected="true/false")
        check_seed("attr_mask.seed", self.seed)


@TASKS.register("attr_mask")
class AttributeMasking(StochasticTask):
    """Predict the atom type of masked atoms (Hu et al. 2020, arXiv:1905.12265).

    Atoms are masked with :func:`~molgraphpt.data.transforms.mask_atoms`; a linear head on their
    node representation predicts the 119 atom types (cross-entropy). With ``mask_bonds`` the bonds
    touching masked atoms are masked too, and a linear head on ``h_u + h_v`` predicts their bond
    type, its cross-entropy being added to the loss (as pretrain-gnns' ``mask_edge``).

    Args:
        encoder: Graph encoder (borrowed) returning ``node`` ``[num_nodes, output_dim]``.
        cfg: Options.
    """

    config_cls = AttributeMaskingConfig

    def __init__(self, encoder: nn.Module, cfg: AttributeMaskingConfig) -> None:
        super().__init__(cfg.seed)
        self.encoder = encoder
        self.cfg = cfg
        dim = int(encoder.output_dim)
        self.atom_head = nn.Linear(dim, NUM_ATOM_TYPES)
        self.bond_head = nn.Linear(dim, NUM_BOND_TYPES) if cfg.mask_bonds else None

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Cross-entropy of the masked atom types (plus masked bond types)."""
        masked = mask_atoms(
            batch.require("graph"),
            self.cfg.mask_rate,
            generator=self.generator,
            mask_bonds=self.cfg.mask_bonds,
            keep_features=self.cfg.keep_atom_features,
        )
        node = self.encoder(masked.graph).node  # [num_nodes, output_dim]
        logits = self.atom_head(node[masked.index])  # [num_masked, 119]
        loss = F.cross_entropy(logits.float(), masked.target)
        logs = {"atom_loss": loss.detach(), "atom_acc": accuracy(logits, masked.target)}
        if self.bond_head is not None and masked.bond_index is not None:
            ends = masked.graph.edge_index[:, masked.bond_index]  # [2, num_masked_bonds]
            bond_logits = self.bond_head(node[ends[0]] + node[ends[1]])
            if masked.bond_target.numel():
                bond_loss = F.cross_entropy(bond_logits.float(), masked.bond_target)
            else:
                bond_loss = zero_loss(bond_logits)
            loss = loss + bond_loss
            logs["bond_loss"] = bond_loss.detach()
            logs["bond_acc"] = accuracy(bond_logits, masked.bond_target)
        logs["loss"] = loss.detach()
        return TaskOutput(loss, logs)


# ------------------------------------------------------------------------ edge prediction


@dataclass(frozen=True)
class EdgePredictionConfig:
    """Options of :class:`EdgePrediction` (defaults: pretrain-gnns ``pretrain_edgepred.py``).

    Args:
        bond_rate: Fraction of each molecule's bonds used as positives, in ``(0, 1]``
            (``ceil(m * bond_rate)`` of ``m`` bonds; 1 uses all, as pretrain-gnns).
        neg_samples: Random non-bonded pairs drawn per positive bond (>= 1).
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    bond_rate: float = 1.0
    neg_samples: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fraction("edge_pred.bond_rate", self.bond_rate, high_open=False)
        check_int("edge_pred.neg_samples", self.neg_samples, minimum=1)
        check_seed("edge_pred.seed", self.seed)


@TASKS.register("edge_pred")
class EdgePrediction(StochasticTask):
    """Link reconstruction: bonded vs random atom pairs of the same molecule.

    The edge-prediction baseline of Hu et al. 2020 (arXiv:1905.12265), itself GraphSAGE's
    unsupervised loss (Hamilton et al. 2017, arXiv:1706.02216) / a graph auto-encoder (Kipf &
    Welling 2016, arXiv:1611.07308): the score of a pair is the dot product of its node
    representations, trained with binary cross-entropy, bonds as positives and random non-bonded
    pairs of the same molecule as negatives (``BCE(pos, 1) + BCE(neg, 0)``). The bonds stay in the
    input graph, as in pretrain-gnns. The objective has no parameters of its own.

    Args:
        encoder: Graph encoder (borrowed).
        cfg: Options.
    """

    config_cls = EdgePredictionConfig

    def __init__(self, encoder: nn.Module, cfg: EdgePredictionConfig) -> None:
        super().__init__(cfg.seed)
        self.encoder = encoder
        self.cfg = cfg

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """BCE of bonded pairs (label 1) and random non-bonded pairs (label 0)."""
        graph = batch.require("graph")
        node = self.encoder(graph).node  # [num_nodes, output_dim]
        bonds = graph.edge_index[:, 0::2]  # one direction per bond, [2, num_bonds]
        bond_graph = graph.batch[bonds[0]]
        if self.cfg.bond_rate < 1.0:
            num_graphs = int(graph.num_graphs)
            counts = torch.bincount(bond_graph, minlength=num_graphs)
            take = torch.ceil(counts.double() * self.cfg.bond_rate).long()
            keep = random_rank(bond_graph, num_graphs, self.generator) < take[bond_graph]
            bonds, bond_graph = bonds[:, keep], bond_graph[keep]
        if bonds.size(1) == 0:  # only bond-less molecules: nothing to reconstruct
            loss = zero_loss(node)
            return TaskOutput(loss, {"loss": loss.detach(), "acc": loss.new_zeros(())})
        neg, valid = negative_pairs(graph, bond_graph.repeat(self.cfg.neg_samples), self.generator)
        neg = neg[:, valid]
        pos_score = (node[bonds[0]] * node[bonds[1]]).sum(dim=-1).float()
        neg_score = (node[neg[0]] * node[neg[1]]).sum(dim=-1).float()
        loss = F.binary_cross_entropy_with_logits(pos_score, torch.ones_like(pos_score))
        if neg_score.numel():
            loss = loss + F.binary_cross_entropy_with_logits(neg_score, torch.zeros_like(neg_score))
        acc_pos = (pos_score > 0).float().mean()
        acc_neg = (neg_score < 0).float().mean() if neg_score.numel() else acc_pos.new_ones(())
        acc = 0.5 * (acc_pos + acc_neg)
        return TaskOutput(loss, {"loss": loss.detach(), "acc": acc.detach()})


# ------------------------------------------------------------------------------- GraphMAE


@dataclass(frozen=True)
class GraphMAEConfig:
    """Options of :class:`GraphMAE` (defaults: GraphMAE's ``chem/pretraining.py``).

    Args:
        mask_rate: Fraction of atoms masked per molecule, in ``(0, 1)``
            (``floor(n * mask_rate) + 1`` atoms, GraphMAE reuses Hu et al.'s ``MaskAtom``).
        alpha: Exponent of the scaled cosine error (``alpha_l``; >= 1 in the paper).
        keep_atom_features: Keep the 8 non-type columns of masked atoms (default: set to 0).
        seed: None (global RNG) or the seed of the objective's own generator.
    """

    mask_rate: float = 0.25
    alpha: float = 1.0
    keep_atom_features: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        check_fraction("graphmae.mask_rate", self.mask_rate)
        check_positive("graphmae.alpha", self.alpha)
        if not isinstance(self.keep_atom_features, bool):
            raise ConfigError(
                "graphmae.keep_atom_features", self.keep_atom_features, expected="true/false"
            )
        check_seed("graphmae.seed", self.seed)


class GINDecoder(nn.Module):
    """One edge-aware GIN layer mapping node states to ``out_dim`` logits (GraphMAE's decoder).

    ``out_i = mlp(x_i + sum_{j -> i} relu(x_j + bond(e_ji)))`` with
    ``mlp = Linear(h, 2h) - ReLU - Linear(2h, out_dim)`` (no normalization, as GraphMAE's
    decoder), and the bond embedding of our GIN layers. There is no learnable ``eps``: the loss
    is read at re-masked nodes, whose own state is 0, so an ``eps`` would get no gradient
    (GraphMAE's decoder has none either; it adds a self-loop instead).

    Args:
        hidden_dim: Input width ``h``.
        out_dim: Output width.
    """

    def __init__(self, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.bond_embedding = bond_embedding(hidden_dim)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_dim, 2 * hidden_dim), nn.ReLU(), nn.Linear(2 * hidden_dim, out_dim)
        )

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Map ``x`` ``[num_nodes, h]`` to ``[num_nodes, out_dim]``."""
        messages = F.relu(x.index_select(0, edge_index[0]) + self.bond_embedding(edge_attr))
        aggregated = torch.zeros_like(x).index_add_(0, edge_index[1], messages)
        return self.mlp(x + aggregated)


@TASKS.register("graphmae")
class GraphMAE(StochasticTask):
    """Masked graph auto-encoder (Hou et al. 2022, arXiv:2205.10803), molecular version.

    As GraphMAE's ``chem`` code: atoms are masked in the input (atom type set to the mask token,
    our categorical counterpart of GraphMAE's learnable ``[MASK]`` feature), the encoder's node
    states go through ``PReLU`` and a bias-free linear encoder-to-decoder projection, the masked
    nodes' states are *re-masked* (set to 0), a one-layer GIN decoder predicts 119 atom-type
    scores per node, and the loss is the scaled cosine error between the masked atoms'
    predictions and their one-hot atom types.

    Args:
        encoder: Graph encoder (borrowed).
        cfg: Options.
    """

    config_cls = GraphMAEConfig

    def __init__(self, encoder: nn.Module, cfg: GraphMAEConfig) -> None:
        super().__init__(cfg.seed)
        self.encoder = encoder
        self.cfg = cfg
        dim = int(encoder.output_dim)
        self.activation = nn.PReLU()
        self.encoder_to_decoder = nn.Linear(dim, dim, bias=False)
        self.decoder = GINDecoder(dim, NUM_ATOM_TYPES)

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Scaled cosine error of the reconstructed atom types of masked atoms."""
        masked = mask_atoms(
            batch.require("graph"),
            self.cfg.mask_rate,
            generator=self.generator,
            keep_features=self.cfg.keep_atom_features,
        )
        graph = masked.graph
        node = self.encoder(graph).node  # [num_nodes, output_dim]
        hidden = self.encoder_to_decoder(self.activation(node))
        is_masked = torch.zeros(node.size(0), dtype=torch.bool, device=node.device)
        is_masked[masked.index] = True
        hidden = hidden.masked_fill(is_masked.unsqueeze(-1), 0.0)  # re-mask
        recon = self.decoder(hidden, graph.edge_index, graph.edge_attr)  # [num_nodes, 119]
        pred = recon[masked.index]
        target = F.one_hot(masked.target, NUM_ATOM_TYPES).to(pred.dtype)
        loss = sce_loss(pred, target, self.cfg.alpha)
        acc = accuracy(pred, masked.target)
        return TaskOutput(loss, {"loss": loss.detach(), "acc": acc})
