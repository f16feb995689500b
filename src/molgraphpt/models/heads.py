"""Prediction heads and the graph-property model used for fine-tuning.

:class:`PropertyModel` is a graph encoder plus a :class:`PropertyHead`, built from one
:class:`PropertyModelConfig`. It returns raw scores (logits for classification); losses, NaN label
masking and metrics belong to the objectives and evaluation layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn

from molgraphpt.errors import ConfigError
from molgraphpt.models.graph import GraphEncoder, GraphEncoderConfig, build_graph_encoder
from molgraphpt.models.param_groups import param_groups
from molgraphpt.models.pretrained import PretrainedModel

TASK_TYPES: tuple[str, ...] = ("classification", "regression")


class PropertyHead(nn.Module):
    """Multi-task prediction head on graph representations.

    ``Dropout - Linear(in_dim, num_tasks)`` when ``hidden_dim`` is ``None`` (the linear head of
    Hu et al. 2020), else ``Linear(in_dim, hidden_dim) - ReLU - Dropout - Linear(hidden_dim,
    num_tasks)``.

    Args:
        in_dim: Width of the graph representations.
        num_tasks: Number of outputs.
        hidden_dim: Width of the hidden layer, or ``None`` for a linear head.
        dropout: Dropout probability in ``[0, 1)``.
    """

    def __init__(
        self, in_dim: int, num_tasks: int, hidden_dim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if hidden_dim is None:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, num_tasks))
        else:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_dim),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_dim, num_tasks),
            )

    def forward(self, graph_repr: Tensor) -> Tensor:
        """Map ``[num_graphs, in_dim]`` representations to scores ``[num_graphs, num_tasks]``."""
        return self.net(graph_repr)


@dataclass(frozen=True)
class PropertyModelConfig:
    """A graph encoder plus a multi-task property head.

    Args:
        encoder: Graph encoder architecture.
        num_tasks: Number of predicted properties (>= 1).
        head_hidden_dim: Hidden width of the head, or ``None`` for a linear head.
        head_dropout: Dropout in the head, in ``[0, 1)``.
        task_type: ``"classification"`` (outputs are logits) or ``"regression"``. The model itself
            does not depend on it; objectives and metrics read it.

    Raises:
        ConfigError: A value is out of range.
    """

    encoder: GraphEncoderConfig = field(default_factory=GraphEncoderConfig)
    num_tasks: int = 1
    head_hidden_dim: int | None = None
    head_dropout: float = 0.0
    task_type: Literal["classification", "regression"] = "classification"

    def __post_init__(self) -> None:
        if not isinstance(self.encoder, GraphEncoderConfig):
            raise ConfigError(
                "model.encoder", self.encoder, expected="a GraphEncoderConfig instance"
            )
        if (
            not isinstance(self.num_tasks, int)
            or isinstance(self.num_tasks, bool)
            or (self.num_tasks < 1)
        ):
            raise ConfigError("model.num_tasks", self.num_tasks, expected="an integer >= 1")
        hidden = self.head_hidden_dim
        if hidden is not None and (
            not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1
        ):
            raise ConfigError("model.head_hidden_dim", hidden, expected="null or an integer >= 1")
        dropout = self.head_dropout
        if (
            not isinstance(dropout, (int, float))
            or isinstance(dropout, bool)
            or not (0.0 <= dropout < 1.0)
        ):
            raise ConfigError("model.head_dropout", dropout, expected="a float in [0, 1)")
        if self.task_type not in TASK_TYPES:
            raise ConfigError(
                "model.task_type", self.task_type, expected=f"one of {', '.join(TASK_TYPES)}"
            )


class PropertyModel(PretrainedModel):
    """Graph encoder + :class:`PropertyHead`, with helpers for fine-tuning strategies.

    Frozen parts (see :meth:`freeze_encoder`, :meth:`freeze_first_layers`) get
    ``requires_grad=False`` and are kept in eval mode by :meth:`train`, so their BatchNorm
    statistics and dropout do not change either.

    Args:
        cfg: Model configuration.

    Attributes:
        cfg: The configuration.
        graph_encoder: The graph encoder (state-dict prefix ``"graph_encoder."``, as in every
            checkpoint); ``encoder`` is the same module.
        head: The prediction head (state-dict prefix ``"head."``).
    """

    model_type = "property"
    config_class = PropertyModelConfig

    def __init__(self, cfg: PropertyModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.graph_encoder = build_graph_encoder(cfg.encoder)
        self.head = PropertyHead(
            self.graph_encoder.output_dim, cfg.num_tasks, cfg.head_hidden_dim, cfg.head_dropout
        )
        self._frozen: list[nn.Module] = []

    @property
    def encoder(self) -> GraphEncoder:
        """The graph encoder (``graph_encoder``)."""
        return self.graph_encoder

    @classmethod
    def graph_config_of(cls, cfg: PropertyModelConfig) -> GraphEncoderConfig:
        """``cfg.encoder``."""
        return cfg.encoder

    def forward(self, graph: Any) -> Tensor:
        """Predict properties.

        Args:
            graph: PyG ``Batch`` as taken by the graph encoders.

        Returns:
            Scores ``[num_graphs, num_tasks]`` (logits for classification).
        """
        return self.head(self.encoder(graph).graph)

    def train(self, mode: bool = True) -> PropertyModel:
        """Set train/eval mode; frozen modules always stay in eval mode."""
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze (``frozen=True``) or unfreeze the whole encoder (linear probing).

        Unfreezing also undoes :meth:`freeze_first_layers`.
        """
        self._set_frozen([self.encoder] if frozen else [])

    def freeze_first_layers(self, num_layers: int) -> None:
        """Freeze the input embeddings and the first ``num_layers`` message-passing layers.

        Replaces any earlier freezing; ``0`` freezes the input embeddings only.

        Args:
            num_layers: How many layers to freeze, in ``[0, cfg.encoder.num_layers]``.

        Raises:
            ConfigError: ``num_layers`` is out of range.
        """
        total = self.cfg.encoder.num_layers
        if (
            not isinstance(num_layers, int)
            or isinstance(num_layers, bool)
            or not (0 <= num_layers <= total)
        ):
            raise ConfigError(
                "freeze_first_layers", num_layers, expected=f"an integer in [0, {total}]"
            )
        modules = list(self.encoder.input_modules())
        for index in range(num_layers):
            modules.extend(self.encoder.layer_modules(index))
        self._set_frozen(modules)

    def _set_frozen(self, modules: list[nn.Module]) -> None:
        for param in self.parameters():
            param.requires_grad_(True)
        for module in modules:
            for param in module.parameters():
                param.requires_grad_(False)
        self._frozen = modules
        self.train(self.training)

    def parameter_groups(
        self, encoder_lr: float, head_lr: float, weight_decay: float = 0.0
    ) -> list[dict[str, Any]]:
        """Optimizer groups: the encoder at ``encoder_lr``, the head at ``head_lr``.

        Weight decay follows the package's one rule
        (:func:`~molgraphpt.models.param_groups.param_groups`: no decay for biases, norms,
        embedding tables and other 1-D parameters). Frozen parameters are left out.

        Args:
            encoder_lr: Learning rate of the encoder.
            head_lr: Learning rate of the head.
            weight_decay: Weight decay of the other parameters.

        Returns:
            A list to pass to ``torch.optim.AdamW(groups)`` or ``Adam``.
        """
        trains_head = any(p.requires_grad for p in self.head.parameters())
        return param_groups(
            self,
            weight_decay,
            lr=encoder_lr,
            head_lr=head_lr,
            head_prefixes=["head"] if trains_head else [],
        )
