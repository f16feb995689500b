"""A graph encoder and a text encoder projected into one embedding space (CLIP-style).

:class:`MolTextModel` holds a :class:`~molgraphpt.models.graph.GraphEncoder`, a
:class:`~molgraphpt.models.text.TextEncoder`, a projection head per modality, a learnable
``logit_scale`` and, for KV-PLM-style training on SMILES tokens, an optional SMILES embedding table
of the text transformer's width. Losses live in :mod:`molgraphpt.objectives`.

Checkpoint directory written by :meth:`MolTextModel.save_pretrained` (atomically: into a temporary
sibling directory, then renamed into place)::

    config.yaml            MolTextConfig: top-level graph: (GraphEncoderConfig), text:, ...
    model.safetensors      every tensor except the text transformer's (text.model.*); the graph
                           encoder under the prefix "graph_encoder." (as in every checkpoint),
                           so `molgraphpt finetune model.init=DIR` starts from it
    text/                  the Hugging Face model + tokenizer (loadable with a bare AutoModel)
    smiles_tokenizer.json  the SMILES tokenizer, when the model has one
    meta.json              provenance
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from molgraphpt.errors import CheckpointError, ConfigError, ShapeError
from molgraphpt.models.graph import GraphEncoder, GraphEncoderConfig, build_graph_encoder
from molgraphpt.models.pretrained import PretrainedModel
from molgraphpt.models.serialization import require_checkpoint
from molgraphpt.models.text import TextEncoder, TextEncoderConfig
from molgraphpt.models.text_features import encode_pooled

if TYPE_CHECKING:
    from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer

TEXT_DIR = "text"
SMILES_TOKENIZER_NAME = "smiles_tokenizer.json"
#: State-dict prefix of the text transformer; its weights are saved in ``text/``, not here.
TEXT_PREFIX = "text.model."
#: Upper bound of ``logit_scale`` (CLIP): the softmax temperature never drops below 1/100.
MAX_LOGIT_SCALE = math.log(100.0)
PROJECTIONS: tuple[str, ...] = ("linear", "mlp")


@dataclass(frozen=True)
class MolTextConfig:
    """Architecture of a molecule–text model.

    Args:
        graph: Graph encoder architecture.
        text: Text encoder (which model, pooling, freezing).
        proj_dim: Width of the shared embedding space.
        projection: Projection head of each modality: ``"linear"`` (one ``Linear``, as CLIP) or
            ``"mlp"`` (``Linear(d, d) - GELU - Linear(d, proj_dim)``, ``d`` the encoder width).
        temperature: Initial softmax temperature; ``logit_scale = log(1 / temperature)`` is
            learned and :meth:`MolTextModel.scale` clamps it to at most ``log(100)``, so
            ``temperature`` must be at least 0.01.
        smiles_vocab_size: Rows of the SMILES token embedding table fed to the text transformer
            (KV-PLM); ``0`` for none. Must equal the SMILES tokenizer's ``vocab_size``.

    Raises:
        ConfigError: A value is out of range.
    """

    graph: GraphEncoderConfig = field(default_factory=GraphEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    proj_dim: int = 256
    projection: Literal["linear", "mlp"] = "linear"
    temperature: float = 0.07
    smiles_vocab_size: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.graph, GraphEncoderConfig):
            raise ConfigError("model.graph", self.graph, expected="a GraphEncoderConfig")
        if not isinstance(self.text, TextEncoderConfig):
            raise ConfigError("model.text", self.text, expected="a TextEncoderConfig")
        check_projection_options(
            "model",
            proj_dim=self.proj_dim,
            projection=self.projection,
            temperature=self.temperature,
        )
        if not _is_int(self.smiles_vocab_size) or self.smiles_vocab_size < 0:
            raise ConfigError(
                "model.smiles_vocab_size",
                self.smiles_vocab_size,
                expected="an integer >= 0 (0: no SMILES embedding table)",
            )


def check_projection_options(
    prefix: str, *, proj_dim: object, projection: object, temperature: object
) -> None:
    """Check the shared-space options; one rule for ``MolTextConfig`` and ``moltext:`` configs.

    Args:
        prefix: Config section named in errors (``"model"`` or ``"moltext"``).
        proj_dim: Shared embedding width, an integer >= 1.
        projection: One of :data:`PROJECTIONS`.
        temperature: Initial temperature, at least 0.01 (the logit scale is clamped to 100).

    Raises:
        ConfigError: A value is out of range; the message names ``prefix.key``.
    """
    if not _is_int(proj_dim) or proj_dim < 1:  # type: ignore[operator]
        raise ConfigError(f"{prefix}.proj_dim", proj_dim, expected="an integer >= 1")
    if projection not in PROJECTIONS:
        raise ConfigError(
            f"{prefix}.projection", projection, expected=f"one of {', '.join(PROJECTIONS)}"
        )
    if (
        not isinstance(temperature, (int, float))
        or isinstance(temperature, bool)
        or not 0.01 <= temperature < math.inf
    ):
        raise ConfigError(
            f"{prefix}.temperature",
            temperature,
            expected="a float >= 0.01 (the logit scale is clamped to 100)",
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class ProjectionHead(nn.Module):
    """Map encoder outputs ``[batch, in_dim]`` into the shared space ``[batch, out_dim]``.

    Args:
        in_dim: Encoder width.
        out_dim: Shared embedding width.
        kind: ``"linear"`` or ``"mlp"`` (see :class:`MolTextConfig`).
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "linear") -> None:
        super().__init__()
        if kind == "linear":
            self.net = nn.Sequential(nn.Linear(in_dim, out_dim))
        elif kind == "mlp":
            self.net = nn.Sequential(
                nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim)
            )
        else:
            raise ConfigError("model.projection", kind, expected=f"one of {', '.join(PROJECTIONS)}")

    def forward(self, x: Tensor) -> Tensor:
        """Project ``[batch, in_dim]`` to ``[batch, out_dim]`` (not normalised)."""
        return self.net(x)


class MolTextModel(PretrainedModel):
    """Graph and text encoders with projection heads into one space and a learnable scale.

    Build it with :meth:`build` (loads the text model) or :meth:`from_pretrained`.

    Args:
        cfg: Model configuration.
        graph: The graph encoder (``output_dim`` wide).
        text: The text encoder (``hidden_size`` wide).
        smiles_tokenizer: Tokenizer of the SMILES embedding table, or ``None``.

    Attributes:
        cfg: The configuration.
        graph_encoder: Graph encoder (state-dict prefix ``"graph_encoder."``, as in every
            checkpoint); ``graph`` is the same module.
        text: Text encoder (prefix ``"text."``; the transformer is ``"text.model."``).
        graph_proj: ``graph.output_dim -> proj_dim``.
        text_proj: ``text.hidden_size -> proj_dim``.
        logit_scale: Scalar parameter, ``log(1 / temperature)`` at initialisation.
        smiles_embeddings: ``nn.Embedding(smiles_vocab_size, text.hidden_size)`` or ``None``.
        smiles_tokenizer: The SMILES tokenizer or ``None`` (not a module; saved as JSON).

    Raises:
        ConfigError: ``smiles_tokenizer`` does not match ``cfg.smiles_vocab_size``.
    """

    def __init__(
        self,
        cfg: MolTextConfig,
        graph: GraphEncoder,
        text: TextEncoder,
        smiles_tokenizer: SmilesTokenizer | None = None,
    ) -> None:
        super().__init__()
        if smiles_tokenizer is not None and smiles_tokenizer.vocab_size != cfg.smiles_vocab_size:
            raise ConfigError(
                "model.smiles_vocab_size",
                cfg.smiles_vocab_size,
                expected=f"the SMILES tokenizer's vocab_size={smiles_tokenizer.vocab_size}",
            )
        self.cfg = cfg
        self.graph_encoder = graph
        self.text = text
        self.graph_proj = ProjectionHead(int(graph.output_dim), cfg.proj_dim, cfg.projection)
        self.text_proj = ProjectionHead(text.hidden_size, cfg.proj_dim, cfg.projection)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.temperature)))
        self.smiles_embeddings: nn.Embedding | None = None
        if cfg.smiles_vocab_size:
            self.smiles_embeddings = nn.Embedding(cfg.smiles_vocab_size, text.hidden_size)
            std = float(getattr(text.model.config, "initializer_range", 0.02))
            nn.init.normal_(self.smiles_embeddings.weight, std=std)
        self.smiles_tokenizer = smiles_tokenizer

    model_type = "moltext"
    config_class = MolTextConfig

    @property
    def graph(self) -> GraphEncoder:
        """The graph encoder (``graph_encoder``)."""
        return self.graph_encoder

    @classmethod
    def graph_config_of(cls, cfg: MolTextConfig) -> GraphEncoderConfig:
        """``cfg.graph``."""
        return cfg.graph

    @classmethod
    def build(
        cls,
        cfg: MolTextConfig,
        *,
        text_encoder: TextEncoder | None = None,
        smiles_tokenizer: SmilesTokenizer | None = None,
    ) -> MolTextModel:
        """Build a model with a fresh graph encoder.

        Args:
            cfg: Configuration.
            text_encoder: An already loaded text encoder; default
                ``TextEncoder.from_config(cfg.text)``. When given, its ``cfg`` replaces
                ``cfg.text`` (so a saved checkpoint records the encoder actually used).
            smiles_tokenizer: Tokenizer for the SMILES embedding table.
        """
        if text_encoder is None:
            text_encoder = TextEncoder.from_config(cfg.text)
        elif text_encoder.cfg != cfg.text:
            cfg = replace(cfg, text=text_encoder.cfg)
        return cls(cfg, build_graph_encoder(cfg.graph), text_encoder, smiles_tokenizer)

    # -------------------------------------------------------------------------- embeddings

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.logit_scale.device

    def scale(self) -> Tensor:
        """``exp(logit_scale)`` with ``logit_scale`` clamped to at most ``log(100)`` (scalar)."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    @property
    def temperature(self) -> float:
        """Current softmax temperature, ``1 / scale()``."""
        return float(1.0 / self.scale().detach())

    def embed_graphs(self, graph: Any) -> Tensor:
        """Embed a PyG batch of molecular graphs: ``[num_graphs, proj_dim]``, L2-normalised."""
        return F.normalize(self.graph_proj(self.graph(graph).graph), dim=-1)

    def embed_texts(self, text: dict[str, Tensor]) -> Tensor:
        """Embed tokenized texts: ``[batch, proj_dim]``, L2-normalised.

        Args:
            text: ``input_ids`` and ``attention_mask`` ``[batch, seq_len]`` (as returned by
                ``self.text.tokenize``), optionally ``token_type_ids``.
        """
        out = self.text(
            text["input_ids"],
            text.get("attention_mask"),
            token_type_ids=text.get("token_type_ids"),
        )
        return F.normalize(self.text_proj(out.pooled), dim=-1)

    def embed_text_features(self, pooled: Tensor) -> Tensor:
        """Embed the text encoder's pooled outputs computed beforehand: ``[batch, proj_dim]``.

        Args:
            pooled: ``[batch, hidden_size]`` (e.g. from :mod:`molgraphpt.models.text_features`);
                only ``text_proj`` and the normalisation run.

        Raises:
            ShapeError: ``pooled`` is not ``[batch, hidden_size]``.
        """
        if pooled.dim() != 2 or pooled.size(-1) != self.text.hidden_size:
            raise ShapeError(
                f"pooled text features have shape {tuple(pooled.shape)}, expected "
                f"[batch, {self.text.hidden_size}] (the text encoder's width): were they "
                "computed with another text model?"
            )
        return F.normalize(self.text_proj(pooled.to(self.logit_scale.dtype)), dim=-1)

    def encode_smiles(self, *args: Any, **kwargs: Any) -> Tensor:
        """Moved to :func:`molgraphpt.embed.encode_smiles` (the one SMILES → batch path).

        Raises:
            AttributeError: Always, naming the new function.
        """
        raise AttributeError(
            "MolTextModel.encode_smiles moved to molgraphpt.embed.encode_smiles(model, smiles, "
            "batch_size=...), which featurizes through the same path as training"
        )

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str] | str, batch_size: int = 64) -> Tensor:
        """Embed texts through the text tower, in eval mode and without gradients.

        Args:
            texts: The texts (a single string is one); truncated to ``cfg.text.max_length``.
            batch_size: Texts per forward pass.

        Returns:
            ``[len(texts), proj_dim]`` float32 on the CPU, L2-normalised, in input order.

        The text encoder runs through :func:`~molgraphpt.models.text_features.encode_pooled`
        (batches of similar token length, so little of the work goes to padding), then
        ``text_proj``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        _check_batch_size(batch_size)
        pooled = torch.from_numpy(encode_pooled(self.text, texts, batch_size=batch_size))
        return self._encode(
            list(pooled),
            batch_size,
            lambda rows: self.embed_text_features(torch.stack(rows).to(self.device)),
        )

    def _encode(
        self, items: list[Any], batch_size: int, embed: Callable[[list[Any]], Tensor]
    ) -> Tensor:
        """Run ``embed`` on chunks of ``items`` (moved to the model's device) in eval mode."""
        if not items:
            return torch.zeros(0, self.cfg.proj_dim)
        was_training = self.training
        self.eval()
        try:
            out = []
            for start in range(0, len(items), batch_size):
                out.append(embed(items[start : start + batch_size]).float().cpu())
            return torch.cat(out)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------------ checkpoints
    # save_pretrained / from_pretrained are PretrainedModel's; these hooks add the text model
    # (text/, a Hugging Face directory) and the SMILES tokenizer (smiles_tokenizer.json).

    def _weights_skip(self) -> tuple[str, ...]:
        return (TEXT_PREFIX,)

    def _layout_info(self) -> dict[str, Any]:
        tokenizer = SMILES_TOKENIZER_NAME if self.smiles_tokenizer is not None else None
        return {"text_dir": TEXT_DIR, "smiles_tokenizer": tokenizer}

    def _extra_files(self, tmp: Path) -> None:
        self.text.save(tmp / TEXT_DIR)
        if self.smiles_tokenizer is not None:
            self.smiles_tokenizer.save(tmp / SMILES_TOKENIZER_NAME)

    @classmethod
    def _build_from_checkpoint(cls, directory: Path, cfg: MolTextConfig) -> MolTextModel:
        require_checkpoint(directory, f"{TEXT_DIR}/config.json")
        text = TextEncoder.load(directory / TEXT_DIR, cfg.text)
        smiles_tokenizer = None
        if (directory / SMILES_TOKENIZER_NAME).is_file():
            from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer

            try:
                smiles_tokenizer = SmilesTokenizer.load(directory / SMILES_TOKENIZER_NAME)
            except (OSError, ValueError) as err:
                raise CheckpointError(
                    f"cannot read the SMILES tokenizer of {directory}: {err}"
                ) from err
        return cls(cfg, build_graph_encoder(cfg.graph), text, smiles_tokenizer)


def _to(tensors: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {key: value.to(device) for key, value in tensors.items()}


def _check_batch_size(batch_size: int) -> None:
    if not _is_int(batch_size) or batch_size < 1:
        raise ConfigError("batch_size", batch_size, expected="an integer >= 1")
