"""Neural network modules built from frozen dataclass configs, and checkpoint directories.

Graph encoders live in :mod:`molgraphpt.models.graph`, prediction heads in
:mod:`molgraphpt.models.heads`. Every saved model class derives from
:class:`~molgraphpt.models.pretrained.PretrainedModel` (one ``save_pretrained`` /
``from_pretrained``); :func:`load` reads any checkpoint, :func:`load_graph_encoder` takes the
graph encoder out of any checkpoint that holds one; file-level checkpoint I/O is in
:mod:`molgraphpt.models.serialization`.
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
from molgraphpt.models.pretrained import (
    PretrainedModel,
    graph_encoder_config,
    load,
    load_graph_encoder,
)
from molgraphpt.models.relation import RelationModel, RelationModelConfig
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
    "PretrainedModel",
    "RelationModel",
    "RelationModelConfig",
    "graph_encoder_config",
    "load",
    "load_graph_encoder",
    "build_graph_encoder",
    "load_encoder_weights",
    "load_pretrained",
    "load_state",
    "save_pretrained",
]
