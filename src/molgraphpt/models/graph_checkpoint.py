"""The checkpoint of a pretrained graph encoder alone (graph-only pretraining's ``model/``).

``config.yaml`` holds ``encoder:`` (the architecture) and ``objectives:`` (what it was
pretrained with); the weights sit under ``graph_encoder.`` as in every other checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from molgraphpt.models.graph import GraphEncoder, GraphEncoderConfig, build_graph_encoder
from molgraphpt.models.pretrained import PretrainedModel


@dataclass(frozen=True)
class PretrainedEncoderConfig:
    """``config.yaml`` of a pretrained graph encoder checkpoint.

    Args:
        encoder: The encoder architecture.
        objectives: Names of the objectives it was pretrained with.
    """

    encoder: GraphEncoderConfig = field(default_factory=GraphEncoderConfig)
    objectives: tuple[str, ...] = ()


class PretrainedGraphEncoder(PretrainedModel):
    """A graph encoder with the record of how it was pretrained.

    Args:
        cfg: Architecture and objectives.
        graph_encoder: The trained encoder (default: a fresh one built from ``cfg.encoder``).

    Attributes:
        graph_encoder: The encoder (state-dict prefix ``graph_encoder.``).
    """

    model_type = "graph_encoder"
    config_class = PretrainedEncoderConfig

    def __init__(self, cfg: PretrainedEncoderConfig, graph_encoder: GraphEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.graph_encoder = (
            build_graph_encoder(cfg.encoder) if graph_encoder is None else graph_encoder
        )

    @classmethod
    def graph_config_of(cls, cfg: PretrainedEncoderConfig) -> GraphEncoderConfig:
        """``cfg.encoder``."""
        return cfg.encoder

    def forward(self, graph: Any) -> Any:
        """The encoder's :class:`~molgraphpt.models.outputs.GraphEncoderOutput` of a PyG batch."""
        return self.graph_encoder(graph)
