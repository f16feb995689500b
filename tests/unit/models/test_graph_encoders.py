from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing, global_add_pool

from molgraphpt.chem.features import ATOM_FEATURE_DIMS, MASK_ATOM_TYPE
from molgraphpt.errors import ConfigError, ShapeError, UnknownNameError
from molgraphpt.models import GRAPH_ENCODERS, GraphEncoderConfig, build_graph_encoder
from molgraphpt.models.graph import CategoricalEmbedding, GINConv, bond_embedding

ARCHS = ("gin", "gine", "gcn", "gat")


def tiny(**overrides) -> GraphEncoderConfig:
    base = dict(hidden_dim=16, num_layers=2, dropout=0.1, heads=2)
    return GraphEncoderConfig(**{**base, **overrides})


@pytest.mark.parametrize(
    "arch,jk,readout,virtual_node",
    list(
        itertools.product(
            ARCHS, ("last", "sum", "cat", "max"), ("mean", "sum", "max", "attention"), (False, True)
        )
    ),
)
def test_shapes_finite_and_every_parameter_gets_a_gradient(batch, arch, jk, readout, virtual_node):
    cfg = tiny(arch=arch, jk=jk, readout=readout, virtual_node=virtual_node, residual=virtual_node)
    encoder = build_graph_encoder(cfg).train()
    out = encoder(batch)
    width = 16 * 3 if jk == "cat" else 16
    assert cfg.output_dim == encoder.output_dim == width
    assert out.node.shape == (batch.num_nodes, width)
    assert out.graph.shape == (batch.num_graphs, width)
    assert torch.isfinite(out.node).all() and torch.isfinite(out.graph).all()
    (out.graph.square().sum() + out.node.sum()).backward()
    no_grad = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not no_grad
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_single_data_without_batch_vector(arch):
    cfg = tiny(arch=arch, virtual_node=True)
    encoder = build_graph_encoder(cfg).eval()
    graph = Data(
        x=torch.zeros(3, len(ATOM_FEATURE_DIMS), dtype=torch.long),
        edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]),
        edge_attr=torch.zeros(4, 3, dtype=torch.long),
    )
    out = encoder(graph)
    assert out.node.shape == (3, 16) and out.graph.shape == (1, 16)


# --------------------------------------------------------------------------- OGB reference


class ReferenceGINConv(MessagePassing):
    """OGB ``examples/graphproppred/mol/conv.py`` GINConv, written with ``propagate``."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__(aggr="add")
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim, 2 * emb_dim),
            nn.BatchNorm1d(2 * emb_dim),
            nn.ReLU(),
            nn.Linear(2 * emb_dim, emb_dim),
        )
        self.eps = nn.Parameter(torch.Tensor([0]))
        self.bond_embedding = bond_embedding(emb_dim)

    def forward(self, x, edge_index, edge_attr):
        edge_embedding = self.bond_embedding(edge_attr)
        return self.mlp(
            (1 + self.eps) * x + self.propagate(edge_index, x=x, edge_attr=edge_embedding)
        )

    def message(self, x_j, edge_attr):
        return F.relu(x_j + edge_attr)

    def update(self, aggr_out):
        return aggr_out


def reference_gnn_node(encoder, ref_convs, data, *, drop_ratio=0.0, jk="last", residual=False):
    """OGB ``GNN_node`` / ``GNN_node_Virtualnode.forward`` transcribed, around ``ref_convs``."""
    x, edge_index, edge_attr, batch = data.x, data.edge_index, data.edge_attr, data.batch
    num_layer = len(ref_convs)
    vn = encoder.virtual_node
    if vn is not None:
        virtualnode_embedding = vn.embedding(
            torch.zeros(batch[-1].item() + 1).to(edge_index.dtype).to(edge_index.device)
        )
    h_list = [encoder.atom_embedding(x)]
    for layer in range(num_layer):
        if vn is not None:
            h_list[layer] = h_list[layer] + virtualnode_embedding[batch]
        h = ref_convs[layer](h_list[layer], edge_index, edge_attr)
        h = encoder.norms[layer](h)
        if layer == num_layer - 1:
            h = F.dropout(h, drop_ratio, training=encoder.training)
        else:
            h = F.dropout(F.relu(h), drop_ratio, training=encoder.training)
        if residual:
            h = h + h_list[layer]
        h_list.append(h)
        if vn is not None and layer < num_layer - 1:
            temp = global_add_pool(h_list[layer], batch) + virtualnode_embedding
            update = F.dropout(vn.mlps[layer](temp), drop_ratio, training=encoder.training)
            virtualnode_embedding = virtualnode_embedding + update if residual else update
    if jk == "last":
        return h_list[-1]
    return sum(h_list)  # OGB "sum" includes h_0


def test_gin_conv_equals_ogb_message_passing_formulation(batch):
    torch.manual_seed(0)
    ours = GINConv(16)
    ref = ReferenceGINConv(16)
    with torch.no_grad():
        ours.eps.fill_(0.3)
    ref.load_state_dict(ours.state_dict())
    h = torch.randn(batch.num_nodes, 16)
    for mode in (True, False):
        ours.train(mode), ref.train(mode)
        torch.testing.assert_close(
            ours(h, batch.edge_index, batch.edge_attr), ref(h, batch.edge_index, batch.edge_attr)
        )


@pytest.mark.parametrize(
    "virtual_node,residual,jk", [(False, False, "last"), (True, True, "sum"), (True, False, "last")]
)
def test_gin_encoder_equals_ogb_gnn_node(batch, virtual_node, residual, jk):
    torch.manual_seed(0)
    cfg = tiny(
        arch="gin", num_layers=3, dropout=0.0, jk=jk, virtual_node=virtual_node, residual=residual
    )
    encoder = build_graph_encoder(cfg)
    with torch.no_grad():  # non-trivial eps and virtual-node init
        for conv in encoder.convs:
            conv.eps.uniform_(-0.5, 0.5)
        if virtual_node:
            encoder.virtual_node.embedding.weight.normal_()
    ref_convs = nn.ModuleList(ReferenceGINConv(16) for _ in range(3))
    for ref, conv in zip(ref_convs, encoder.convs):
        ref.load_state_dict(conv.state_dict())
    for mode in (False, True):
        encoder.train(mode), ref_convs.train(mode)
        expected = reference_gnn_node(encoder, ref_convs, batch, jk=jk, residual=residual)
        torch.testing.assert_close(encoder(batch).node, expected)


def test_gine_matches_gin_with_the_same_weights(batch):
    torch.manual_seed(0)
    gin = build_graph_encoder(tiny(arch="gin", dropout=0.0)).eval()
    gine = build_graph_encoder(tiny(arch="gine", dropout=0.0)).eval()
    state = {}
    for key, value in gin.state_dict().items():
        key = key.replace(".mlp.", ".conv.nn.").replace(".eps", ".conv.eps")
        state[key] = value
    gine.load_state_dict(state)
    torch.testing.assert_close(gine(batch).graph, gin(batch).graph)


# ----------------------------------------------------------------------------- embeddings


def test_categorical_embedding_is_a_sum_of_columns():
    emb = CategoricalEmbedding((3, 4), 8)
    features = torch.tensor([[2, 1], [0, 3]])
    expected = emb.embeddings[0].weight[features[:, 0]] + emb.embeddings[1].weight[features[:, 1]]
    torch.testing.assert_close(emb(features), expected)


def test_atom_embedding_accepts_the_mask_token(batch):
    encoder = build_graph_encoder(tiny())
    assert encoder.atom_embedding.embeddings[0].num_embeddings == ATOM_FEATURE_DIMS[0] + 1
    batch.x[0, 0] = MASK_ATOM_TYPE
    assert torch.isfinite(encoder(batch).graph).all()


def test_bad_inputs_raise_shape_error(batch):
    encoder = build_graph_encoder(tiny())
    with pytest.raises(ShapeError, match=r"\[num_items, 9\]"):
        encoder.atom_embedding(batch.x[:, :5])
    with pytest.raises(ShapeError, match="integer"):
        encoder.atom_embedding(batch.x.float())
    batch.edge_attr = None
    with pytest.raises(ShapeError, match="edge_attr is required"):
        encoder(batch)


# ---------------------------------------------------------------------------------- config


def test_unknown_arch_is_a_registry_error_with_suggestion():
    with pytest.raises(UnknownNameError, match="did you mean 'gin'"):
        GraphEncoderConfig(arch="gni")
    assert set(ARCHS) <= set(GRAPH_ENCODERS.names())


@pytest.mark.parametrize(
    "overrides",
    [
        {"hidden_dim": 0},
        {"num_layers": 0},
        {"num_layers": 2.0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"jk": "concat"},
        {"readout": "attn"},
        {"virtual_node": "yes"},
        {"heads": 0},
        {"arch": "gat", "hidden_dim": 10, "heads": 4},
    ],
)
def test_invalid_config_values(overrides):
    with pytest.raises(ConfigError):
        GraphEncoderConfig(**overrides)


def test_output_dim_for_cat_includes_the_input_embedding():
    assert GraphEncoderConfig(jk="cat").output_dim == 300 * 6
    assert GraphEncoderConfig(jk="sum").output_dim == 300


def test_parameter_counts_of_default_gin():
    def count(**kw):
        return sum(p.numel() for p in build_graph_encoder(GraphEncoderConfig(**kw)).parameters())

    # atom embedding 175*300 + 5 x (bond 13*300 + MLP 361200 + eps 1 + BN 600)
    assert count() == 1_885_505
    # + virtual node: embedding 300 + 4 x (Linear 180600 + BN 1200 + Linear 180300 + BN 600)
    assert count(virtual_node=True) == 1_885_505 + 300 + 4 * 362_700
