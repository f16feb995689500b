"""Neural network modules built from frozen dataclass configs, and checkpoint directories.

Graph encoders live in :mod:`molgraphpt.models.graph`, prediction heads in
:mod:`molgraphpt.models.heads`, checkpoint I/O in :mod:`molgraphpt.models.serialization`.
Vocabulary sizes come from :mod:`molgraphpt.chem.features`; nothing here imports
:mod:`molgraphpt.data`.
"""

from __future__ import annotations

from molgraphpt.models.graph import (
    GRAPH_ENCODERS,
    CategoricalEmbedding,
    GraphEncoder,
    GraphEncoderConfig,
    build_graph_encoder,
)
from molgraphpt.models.heads import PropertyHead, PropertyModel, PropertyModelConfig
from molgraphpt.models.outputs import GraphEncoderOutput
from molgraphpt.models.serialization import (
    EncoderLoadReport,
    load_encoder_weights,
    load_pretrained,
    load_state,
    save_pretrained,
)

__all__ = [
    "GRAPH_ENCODERS",
    "CategoricalEmbedding",
    "EncoderLoadReport",
    "GraphEncoder",
    "GraphEncoderConfig",
    "GraphEncoderOutput",
    "PropertyHead",
    "PropertyModel",
    "PropertyModelConfig",
    "build_graph_encoder",
    "load_encoder_weights",
    "load_pretrained",
    "load_state",
    "save_pretrained",
]
