"""Graph encoders: atom embedding, ``L`` message-passing layers, jumping knowledge, readout.

All architectures share the layer loop of OGB's ``GNN_node`` / ``GNN_node_Virtualnode`` (the one
Hu et al. 2020 use): ``h_{l+1} = dropout(act(norm(conv_l(h_l))))`` with no ReLU after the last
layer, an optional residual connection and an optional virtual node. They differ in ``conv_l`` only.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from molgraphpt.errors import ShapeError
from molgraphpt.models.graph.config import GRAPH_ENCODERS, GraphEncoderConfig
from molgraphpt.models.graph.convs import GATLayer, GCNConv, GINConv, GINELayer
from molgraphpt.models.graph.layers import (
    CategoricalEmbedding,
    Readout,
    VirtualNode,
    atom_embedding,
    combine_layers,
    dropout,
    norm_layer,
)
from molgraphpt.models.outputs import GraphEncoderOutput


class GraphEncoder(nn.Module):
    """Base class of the registered graph encoders; subclasses only define :meth:`make_conv`.

    Args:
        cfg: Architecture. ``cfg.arch`` is informative here; :func:`build_graph_encoder` uses it
            to pick the subclass.

    Attributes:
        cfg: The config the encoder was built from.
        hidden_dim: Width of each layer, ``cfg.hidden_dim``.
        output_dim: Width of the returned node and graph representations, ``cfg.output_dim``.
        atom_embedding: Embedding of the 9 atom columns (OGB vocabulary + mask token).
        convs: The ``L`` message-passing layers, each with its own bond embedding.
        norms: ``BatchNorm1d`` (or identity) after each layer.
        virtual_node: :class:`VirtualNode`, or ``None``.
        readout: Graph pooling.
    """

    def __init__(self, cfg: GraphEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hidden_dim = cfg.hidden_dim
        self.output_dim = cfg.output_dim
        self.atom_embedding = atom_embedding(cfg.hidden_dim)
        self.convs = nn.ModuleList(self.make_conv(cfg) for _ in range(cfg.num_layers))
        self.norms = nn.ModuleList(
            norm_layer(cfg.hidden_dim, cfg.batch_norm) for _ in range(cfg.num_layers)
        )
        self.virtual_node = (
            VirtualNode(cfg.hidden_dim, cfg.num_layers, cfg.dropout, cfg.residual, cfg.batch_norm)
            if cfg.virtual_node
            else None
        )
        self.readout = Readout(cfg.readout, cfg.output_dim)
        # Whether forward may encode the bond columns once for all layers (see CategoricalEmbedding
        # .encode): every layer takes codes and embeds them through a product table of one layout.
        bond_embeddings = [getattr(conv, "bond_embedding", None) for conv in self.convs]
        self.shared_bond_codes = (
            all(getattr(conv, "accepts_bond_codes", False) for conv in self.convs)
            and all(
                isinstance(emb, CategoricalEmbedding) and emb.use_product_table
                for emb in bond_embeddings
            )
            and len({emb.dims for emb in bond_embeddings}) == 1
        )

    def make_conv(self, cfg: GraphEncoderConfig) -> nn.Module:
        """Build one message-passing layer ``(x, edge_index, edge_attr) -> x``."""
        raise NotImplementedError

    def input_modules(self) -> list[nn.Module]:
        """Modules that produce the layer-0 input: the atom embedding and the virtual-node init."""
        modules: list[nn.Module] = [self.atom_embedding]
        if self.virtual_node is not None:
            modules.append(self.virtual_node.embedding)
        return modules

    def layer_modules(self, index: int) -> list[nn.Module]:
        """Modules of layer ``index``: conv (with its bond embedding), norm, virtual-node update."""
        modules: list[nn.Module] = [self.convs[index], self.norms[index]]
        if self.virtual_node is not None and index < len(self.virtual_node.mlps):
            modules.append(self.virtual_node.mlps[index])
        return modules

    def forward(self, graph: Any) -> GraphEncoderOutput:
        """Encode a batch of molecular graphs.

        Args:
            graph: PyG ``Batch`` (or ``Data`` for one graph) with ``x`` ``[num_nodes, 9]`` int64,
                ``edge_index`` ``[2, num_edges]``, ``edge_attr`` ``[num_edges, 3]`` int64 and
                ``batch`` ``[num_nodes]`` (optional for a single ``Data``).

        Returns:
            ``GraphEncoderOutput`` with ``node`` ``[num_nodes, output_dim]`` and ``graph``
            ``[num_graphs, output_dim]``.

        Raises:
            ShapeError: ``edge_attr`` is missing or the features do not have the OGB layout.
        """
        x, edge_index, edge_attr = graph.x, graph.edge_index, graph.edge_attr
        if edge_attr is None:
            raise ShapeError(
                "graph.edge_attr is required: [num_edges, 3] int64 OGB bond features "
                "(use an empty [0, 3] tensor for molecules without bonds)"
            )
        if self.shared_bond_codes:  # validate and encode the bonds once, not once per layer
            edge_attr = self.convs[0].bond_embedding.encode(edge_attr)
        batch, num_graphs = _batch_vector(graph, x)
        cfg = self.cfg
        layers = [self.atom_embedding(x)]  # h_0 .. h_L, each [num_nodes, hidden_dim]
        vn_state = self.virtual_node.initial(num_graphs) if self.virtual_node is not None else None
        for index in range(cfg.num_layers):
            if vn_state is not None:
                # As OGB: the layer input *and* the stored h_l include the virtual node.
                # (In place on the fresh gather: h_l + vn[batch], one buffer fewer.)
                layers[index] = vn_state.index_select(0, batch).add_(layers[index])
            h = self.norms[index](self.convs[index](layers[index], edge_index, edge_attr))
            # OGB applies ReLU (not after the last layer), then dropout. Dropout first is the same
            # (the mask is >= 0), and lets both run in place on BatchNorm's output, which no
            # backward needs: autograd keeps only the mask and the ReLU result. (Without a norm,
            # h is the conv's output, which a conv from outside might need: no in-place then.)
            inplace = cfg.batch_norm
            h = dropout(h, cfg.dropout, self.training, inplace=inplace)
            if index < cfg.num_layers - 1:
                h = F.relu(h, inplace=inplace)
            if cfg.residual:
                h = h + layers[index]
            layers.append(h)
            if self.virtual_node is not None and index < cfg.num_layers - 1:
                vn_state = self.virtual_node.update(index, layers[index], vn_state, batch)
        node = combine_layers(layers, cfg.jk)
        return GraphEncoderOutput(node=node, graph=self.readout(node, batch, num_graphs))


def _batch_vector(graph: Any, x: Tensor) -> tuple[Tensor, int]:
    """Graph index of each node ``[num_nodes]`` and the number of graphs."""
    batch = getattr(graph, "batch", None)
    if batch is None:
        return torch.zeros(x.size(0), dtype=torch.long, device=x.device), 1
    num_graphs = getattr(graph, "num_graphs", None)
    if isinstance(num_graphs, int):
        return batch, num_graphs
    # A bare Data carrying a batch vector: one host sync to size the readout.
    return batch, int(batch.max()) + 1 if batch.numel() > 0 else 0


@GRAPH_ENCODERS.register("gin")
class GINEncoder(GraphEncoder):
    """Edge-aware GIN of Hu et al. 2020 (arXiv:1905.12265) / OGB, see :class:`GINConv`."""

    def make_conv(self, cfg: GraphEncoderConfig) -> nn.Module:
        """Build one :class:`GINConv`."""
        return GINConv(cfg.hidden_dim, cfg.batch_norm)


@GRAPH_ENCODERS.register("gine")
class GINEEncoder(GraphEncoder):
    """GIN with PyG's ``GINEConv`` (Hu et al. 2020, arXiv:1905.12265), see :class:`GINELayer`."""

    def make_conv(self, cfg: GraphEncoderConfig) -> nn.Module:
        """Build one :class:`GINELayer`."""
        return GINELayer(cfg.hidden_dim, cfg.batch_norm)


@GRAPH_ENCODERS.register("gcn")
class GCNEncoder(GraphEncoder):
    """GCN (Kipf & Welling 2017, arXiv:1609.02907) with OGB's bond features (:class:`GCNConv`)."""

    def make_conv(self, cfg: GraphEncoderConfig) -> nn.Module:
        """Build one :class:`GCNConv`."""
        return GCNConv(cfg.hidden_dim)


@GRAPH_ENCODERS.register("gat")
class GATEncoder(GraphEncoder):
    """GATv2 (Brody et al. 2022, arXiv:2105.14491) with bond features, see :class:`GATLayer`."""

    def make_conv(self, cfg: GraphEncoderConfig) -> nn.Module:
        """Build one :class:`GATLayer`."""
        return GATLayer(cfg.hidden_dim, cfg.heads)


def build_graph_encoder(cfg: GraphEncoderConfig) -> GraphEncoder:
    """Instantiate the encoder registered under ``cfg.arch``.

    Encoders registered from outside should subclass :class:`GraphEncoder` (or at least expose
    ``output_dim`` and return :class:`GraphEncoderOutput`).

    Raises:
        UnknownNameError: ``cfg.arch`` is not registered in ``GRAPH_ENCODERS``.
    """
    return cast(GraphEncoder, GRAPH_ENCODERS.get(cfg.arch)(cfg))
