"""One checkpoint API for every model class, and :func:`load` that reads any checkpoint.

Every model that can be saved derives from :class:`PretrainedModel` and gets the same
``save_pretrained`` / ``from_pretrained``, both through :mod:`molgraphpt.models.serialization`.
A class declares only what differs: its ``model_type`` (the name written to ``meta.json``), its
``config_class``, where the graph encoder's architecture sits in that config, and, if it has
parts that are not plain tensors (a HuggingFace text model, a SMILES tokenizer), how to write and
read them.

``load(dir)`` reads ``meta.json``'s ``model_type`` and returns the right class, as
``transformers.AutoModel`` does. :func:`load_graph_encoder` and :func:`graph_encoder_config`
take the graph encoder out of **any** checkpoint that holds one (graph-pretrained, molecule–text
or fine-tuned), because every class saves it under the same prefix,
:data:`~molgraphpt.models.serialization.GRAPH_ENCODER_PREFIX`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import nn

from molgraphpt.errors import CheckpointError
from molgraphpt.models.graph import GraphEncoder, GraphEncoderConfig, build_graph_encoder
from molgraphpt.models.serialization import (
    load_config,
    load_encoder_weights,
    load_meta,
    load_state,
    load_state_strict,
    model_type,
    require_checkpoint,
    save_pretrained,
    verify_checkpoint,
)

__all__ = [
    "MODEL_TYPES",
    "PretrainedModel",
    "graph_encoder_config",
    "load",
    "load_graph_encoder",
]

P = TypeVar("P", bound="PretrainedModel")

#: Saved model classes by ``model_type``; filled as the classes are defined.
MODEL_TYPES: dict[str, type[PretrainedModel]] = {}


class PretrainedModel(nn.Module):
    """Base of every model with a checkpoint directory.

    Subclasses set ``model_type`` and ``config_class``, keep their config in ``self.cfg`` and
    their graph encoder (if any) in ``self.graph_encoder``, and implement
    :meth:`graph_config_of`. Parts saved outside ``model.safetensors`` go through
    :meth:`_extra_files`, :meth:`_weights_skip` and :meth:`_build_from_checkpoint`.
    """

    model_type: ClassVar[str] = ""
    config_class: ClassVar[type]
    cfg: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.model_type:
            MODEL_TYPES[cls.model_type] = cls

    # ------------------------------------------------------------------------- subclass hooks

    @classmethod
    def graph_config_of(cls, cfg: Any) -> GraphEncoderConfig | None:
        """The graph encoder architecture inside a config of this class (None: no encoder)."""
        return None

    @classmethod
    def _build_from_checkpoint(cls: type[P], directory: Path, cfg: Any) -> P:
        """A model with fresh weights for ``cfg`` (default: ``cls(cfg)``)."""
        return cls(cfg)

    def _weights_skip(self) -> tuple[str, ...]:
        """State-dict prefixes saved elsewhere than ``model.safetensors``."""
        return ()

    def _extra_files(self, tmp: Path) -> None:
        """Write parts that are not in ``model.safetensors`` into the checkpoint folder."""

    def _layout_info(self) -> dict[str, Any]:
        """Extra reserved ``meta.json`` entries describing the layout."""
        return {}

    # ---------------------------------------------------------------------------- public API

    def save_pretrained(
        self, directory: str | os.PathLike[str], *, meta: dict | None = None
    ) -> Path:
        """Write this model as a checkpoint directory, atomically.

        Args:
            directory: Target; an existing checkpoint there is replaced as a whole, any other
                non-empty directory is refused.
            meta: Extra JSON-serializable provenance merged into ``meta.json``.

        Returns:
            The checkpoint directory.

        Raises:
            CheckpointError: ``directory`` is not a checkpoint, or ``meta`` is not
                JSON-serializable or uses a reserved key.
        """
        skip = self._weights_skip()
        state = {
            k: v for k, v in self.state_dict().items() if not any(k.startswith(p) for p in skip)
        }
        return save_pretrained(
            self,
            directory,
            self.cfg,
            meta=meta,
            state=state,
            info={"model_type": self.model_type, **self._layout_info()},
            write_extra=self._extra_files,
        )

    @classmethod
    def from_pretrained(
        cls: type[P], directory: str | os.PathLike[str], *, verify: bool = True
    ) -> P:
        """Load a checkpoint of this class; the model is on the CPU, in eval mode.

        Args:
            directory: Checkpoint directory.
            verify: Check every file the checksums in ``meta.json`` list (weights, text model,
                tokenizer) before reading any; ``False`` skips this, at your own risk.

        Raises:
            CheckpointError: Files are missing or unreadable, the checkpoint holds another
                ``model_type`` (the message names :func:`molgraphpt.load`), its format is not
                readable, or the weights do not fit its config.
            IntegrityError: A file changed since the checkpoint was saved.
        """
        path = require_checkpoint(directory)
        found = model_type(load_meta(path))
        if found != cls.model_type:
            raise CheckpointError(
                f"{path} holds a {found!r} model, not a {cls.model_type!r} ({cls.__name__}); "
                "molgraphpt.load(dir) returns whichever class a checkpoint holds"
            )
        if verify:
            verify_checkpoint(path)
        model = cls._build_from_checkpoint(path, load_config(path, cls.config_class))
        state = load_state(path, verify=False)  # verified above with the other files
        load_state_strict(model, state, source=str(path), skip_prefixes=model._weights_skip())
        model.eval()
        return model


def load(directory: str | os.PathLike[str], *, verify: bool = True) -> PretrainedModel:
    """Load any molgraphpt checkpoint as the class that wrote it (CPU, eval mode).

    Args:
        directory: Checkpoint directory.
        verify: Check the files against the checksums in ``meta.json`` first (``False``: skip,
            at your own risk).

    Raises:
        CheckpointError: Not a checkpoint, an unreadable format, or a ``model_type`` this
            version does not know.
        IntegrityError: A file changed since the checkpoint was saved.
    """
    _register_model_classes()
    path = require_checkpoint(directory)
    found = model_type(load_meta(path))
    if found not in MODEL_TYPES:
        raise CheckpointError(
            f"{path} holds a model of type {found!r}, which this molgraphpt does not know "
            f"(known: {sorted(MODEL_TYPES)})"
        )
    return MODEL_TYPES[found].from_pretrained(path, verify=verify)


def graph_encoder_config(directory: str | os.PathLike[str]) -> GraphEncoderConfig:
    """The graph encoder architecture of any checkpoint that holds one.

    Raises:
        CheckpointError: Not a readable checkpoint, or one without a graph encoder.
    """
    _register_model_classes()
    path = require_checkpoint(directory)
    found = model_type(load_meta(path))
    cls = MODEL_TYPES.get(found)
    graph_cfg = None if cls is None else cls.graph_config_of(load_config(path, cls.config_class))
    if graph_cfg is None:
        raise CheckpointError(f"{path} (a {found!r} model) holds no graph encoder")
    return graph_cfg


def load_graph_encoder(directory: str | os.PathLike[str], *, verify: bool = True) -> GraphEncoder:
    """The graph encoder of any checkpoint that holds one, alone (CPU, eval mode).

    Builds only the encoder (a molecule–text checkpoint's text model is not loaded).

    Args:
        directory: Checkpoint directory.
        verify: Check ``model.safetensors`` against its checksum first (``False``: skip, at your
            own risk).

    Raises:
        CheckpointError: As :func:`graph_encoder_config`, or weights that do not fit.
        IntegrityError: ``model.safetensors`` changed since it was saved.
    """
    encoder = build_graph_encoder(graph_encoder_config(directory))
    load_encoder_weights(encoder, directory, verify=verify)
    return encoder.eval()


def _register_model_classes() -> None:
    """Import the modules that define the saved model classes (fills :data:`MODEL_TYPES`)."""
    from molgraphpt.models import graph_checkpoint, heads, moltext, relation  # noqa: F401
