"""Molecular graph encoders built from :class:`GraphEncoderConfig` and looked up by ``arch``.

Registered architectures: ``gin`` (Hu et al. / OGB edge-aware GIN), ``gine`` (PyG ``GINEConv``),
``gcn`` (OGB GCN with bond features), ``gat`` (``GATv2Conv`` with bond features).
"""

from __future__ import annotations

from molgraphpt.models.graph.config import GRAPH_ENCODERS, GraphEncoderConfig
from molgraphpt.models.graph.convs import GATLayer, GCNConv, GINConv, GINELayer
from molgraphpt.models.graph.gnn import (
    GATEncoder,
    GCNEncoder,
    GINEEncoder,
    GINEncoder,
    GraphEncoder,
    build_graph_encoder,
)
from molgraphpt.models.graph.layers import (
    ATOM_EMBEDDING_DIMS,
    CategoricalEmbedding,
    Readout,
    VirtualNode,
    atom_embedding,
    bond_embedding,
    combine_layers,
)

__all__ = [
    "ATOM_EMBEDDING_DIMS",
    "GRAPH_ENCODERS",
    "CategoricalEmbedding",
    "GATEncoder",
    "GATLayer",
    "GCNConv",
    "GCNEncoder",
    "GINConv",
    "GINEEncoder",
    "GINELayer",
    "GINEncoder",
    "GraphEncoder",
    "GraphEncoderConfig",
    "Readout",
    "VirtualNode",
    "atom_embedding",
    "bond_embedding",
    "build_graph_encoder",
    "combine_layers",
]
