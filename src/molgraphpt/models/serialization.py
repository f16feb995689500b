"""Checkpoint directories: ``config.yaml`` + ``model.safetensors`` + ``meta.json``.

A checkpoint is a directory, as in ``transformers``: the frozen dataclass config as plain YAML, the
state dict as safetensors, and provenance in JSON. :func:`save_pretrained` writes all three into a
temporary sibling directory and renames it into place, so a reader never sees a half-written
checkpoint and an interrupted save leaves the previous one intact.

This module sits below :mod:`molgraphpt.config` in the layer order, so it reads configs with its
own small :func:`config_from_dict` instead of the config package's loader.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from torch import Tensor, nn

from molgraphpt.errors import CheckpointError, ConfigError, UnknownNameError

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.safetensors"
META_NAME = "meta.json"
FORMAT_VERSION = 1
#: Prefixes tried by :func:`load_encoder_weights`, after the one it is given.
ENCODER_PREFIXES: tuple[str, ...] = ("encoder.", "graph_encoder.", "model.graph.", "graph.", "")

C = TypeVar("C")
M = TypeVar("M", bound=nn.Module)


# --------------------------------------------------------------------------------------- saving


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    config: Any,
    *,
    meta: dict | None = None,
    state: Mapping[str, Tensor] | None = None,
    info: Mapping[str, Any] | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``model`` and its ``config`` as a checkpoint directory, atomically.

    The files are written into a temporary directory next to ``directory`` and renamed into place.
    An existing checkpoint at ``directory`` is replaced as a whole (extra files in it are
    removed); an existing directory that is neither empty nor a checkpoint is left alone.

    Args:
        model: The module to save; its full ``state_dict()`` is written.
        directory: Target checkpoint directory.
        config: The frozen dataclass the model was built from (written with
            ``dataclasses.asdict``; tuples become lists).
        meta: Extra JSON-serializable provenance merged into ``meta.json`` (e.g. step, metrics).
        state: The tensors to write to ``model.safetensors`` (default: ``model.state_dict()``),
            e.g. a state dict without the parts ``write_extra`` saves in their own format.
        info: Extra reserved ``meta.json`` entries describing the layout (``meta`` may not
            override them).
        write_extra: Called with the temporary directory to write further files (e.g. a
            HuggingFace sub-model) before everything is synced and renamed into place.

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: ``config`` is not a dataclass, ``meta`` is not JSON-serializable or
            collides with a reserved key, or ``directory`` exists and is not a checkpoint.
    """
    from molgraphpt import __version__

    target = Path(directory)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise CheckpointError(
            f"cannot save {target}: config must be a dataclass instance, "
            f"got {type(config).__name__}"
        )
    _check_replaceable(target)
    tensors = _contiguous_unshared(model.state_dict() if state is None else state)
    reserved = {
        "format_version": FORMAT_VERSION,
        "molgraphpt_version": __version__,
        "torch_version": torch.__version__,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
        "num_parameters": sum(p.numel() for p in model.parameters()),
        **(info or {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    clash = sorted(set(meta or {}) & set(reserved))
    if clash:
        raise CheckpointError(f"cannot save {target}: meta keys {clash} are reserved")
    try:
        meta_text = json.dumps({**reserved, **(meta or {})}, indent=2, sort_keys=False)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"cannot save {target}: meta is not JSON-serializable: {err}"
        ) from err
    config_text = yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)

    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        (tmp / CONFIG_NAME).write_text(config_text)
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        if write_extra is not None:
            write_extra(tmp)
        (tmp / META_NAME).write_text(meta_text + "\n")
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync(path)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _check_replaceable(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise CheckpointError(
            f"cannot save checkpoint to {target}: it exists and is not a directory"
        )
    entries = {p.name for p in target.iterdir()}
    if entries and not entries & {CONFIG_NAME, WEIGHTS_NAME, META_NAME}:
        raise CheckpointError(
            f"refusing to replace {target}: it is a non-empty directory that is not a checkpoint "
            f"(no {CONFIG_NAME}, {WEIGHTS_NAME} or {META_NAME}); choose another directory"
        )


def _replace_dir(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``, moving an existing ``target`` aside first and back on error."""
    if not target.exists():
        os.replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)  # only the unique name is needed
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _contiguous_unshared(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """CPU, contiguous tensors, cloning those that share storage (safetensors refuses aliases)."""
    out: dict[str, Tensor] = {}
    seen: set[tuple[int, str]] = set()
    for key, value in state.items():
        tensor = value.detach().to("cpu").contiguous()
        storage = (tensor.untyped_storage().data_ptr(), str(tensor.device))
        if tensor.numel() > 0 and storage in seen:
            tensor = tensor.clone()
        seen.add(storage)
        out[key] = tensor
    return out


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so ``yaml.safe_dump`` writes plain YAML."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# -------------------------------------------------------------------------------------- loading


def load_state(directory: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read the state dict of a checkpoint directory onto the CPU.

    Raises:
        CheckpointError: The directory or its ``model.safetensors`` is missing or unreadable.
    """
    path = _require_files(Path(directory), (WEIGHTS_NAME,)) / WEIGHTS_NAME
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"cannot read weights {path}: {err}") from err


def load_config(directory: str | os.PathLike[str], config_cls: type[C]) -> C:
    """Read ``config.yaml`` of a checkpoint directory into ``config_cls``.

    Raises:
        CheckpointError: The file is missing, is not YAML, or does not fit ``config_cls``.
    """
    path = _require_files(Path(directory), (CONFIG_NAME,)) / CONFIG_NAME
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CheckpointError(f"cannot parse {path}: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a mapping, got {type(data).__name__}")
    try:
        return config_from_dict(config_cls, data)
    except (ConfigError, UnknownNameError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit {config_cls.__name__}: {err}") from err


def load_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``meta.json`` of a checkpoint directory.

    Raises:
        CheckpointError: The file is missing or is not valid JSON.
    """
    path = _require_files(Path(directory), (META_NAME,)) / META_NAME
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"cannot parse {path}: {err}") from err


def load_pretrained(
    directory: str | os.PathLike[str], config_cls: type[C], build_fn: Callable[[C], M]
) -> tuple[M, C]:
    """Rebuild a model from a checkpoint directory.

    Args:
        directory: Checkpoint directory written by :func:`save_pretrained`.
        config_cls: Dataclass of the saved config, e.g. ``PropertyModelConfig``.
        build_fn: Builds the model from the config, e.g. ``PropertyModel``.

    Returns:
        ``(model, config)``, the model on the CPU in eval mode.

    Raises:
        CheckpointError: Files are missing or unreadable, or the weights do not match the model
            (the message lists missing, unexpected and mis-shaped keys).
    """
    path = _require_files(Path(directory), (CONFIG_NAME, WEIGHTS_NAME))
    config = load_config(path, config_cls)
    model = build_fn(config)
    load_state_strict(model, load_state(path), source=str(path))
    model.eval()
    return model, config


def load_state_strict(module: nn.Module, state: Mapping[str, Tensor], *, source: str) -> None:
    """``module.load_state_dict(state)`` with one readable :class:`CheckpointError` on mismatch."""
    problems = _mismatches(module.state_dict(), state)
    if problems:
        raise CheckpointError(
            f"weights in {source} do not match {type(module).__name__}: {problems}. Was the "
            "checkpoint saved from a model with another config?"
        )
    module.load_state_dict(state, strict=True)


def _mismatches(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> str:
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [
        f"{key}: checkpoint {list(given[key].shape)} vs model {list(expected[key].shape)}"
        for key in sorted(set(expected) & set(given))
        if given[key].shape != expected[key].shape
    ]
    parts = []
    if missing:
        parts.append(f"missing keys {_short(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_short(unexpected)}")
    if shapes:
        parts.append(f"shape mismatches {_short(shapes)}")
    return "; ".join(parts)


def _short(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def _require_files(directory: Path, names: tuple[str, ...]) -> Path:
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise CheckpointError(f"checkpoint directory {directory} {what}")
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(
            f"checkpoint directory {directory} is missing {', '.join(missing)}; a checkpoint "
            f"holds {CONFIG_NAME}, {WEIGHTS_NAME} and {META_NAME} (written by save_pretrained)"
        )
    return directory


# ------------------------------------------------------------------------------ encoder weights


@dataclass(frozen=True)
class EncoderLoadReport:
    """What :func:`load_encoder_weights` loaded.

    Attributes:
        prefix: State-dict prefix the encoder weights were found under (``""`` for none).
        num_tensors: Number of tensors loaded.
        missing_keys: Encoder keys absent from the checkpoint (only with ``strict=False``).
        unexpected_keys: Keys under ``prefix`` the encoder lacks (only with ``strict=False``).
    """

    prefix: str
    num_tensors: int
    missing_keys: tuple[str, ...] = ()
    unexpected_keys: tuple[str, ...] = ()


def load_encoder_weights(
    encoder: nn.Module,
    directory: str | os.PathLike[str],
    prefix: str = "encoder.",
    *,
    strict: bool = True,
) -> EncoderLoadReport:
    """Initialise a graph encoder from the encoder part of any checkpoint (``model.init=DIR``).

    The encoder's keys are looked for under ``prefix``, then under each of
    :data:`ENCODER_PREFIXES`: ``"encoder."`` (a :class:`~molgraphpt.models.heads.PropertyModel`),
    ``"graph_encoder."``, ``"model.graph."``, ``"graph."``, and ``""`` (a bare encoder). The
    first prefix under which every encoder key exists is used.

    Args:
        encoder: The module to initialise in place.
        directory: Checkpoint directory.
        prefix: Prefix to try first.
        strict: Require the keys under the prefix to be exactly the encoder's. With ``False``,
            missing keys keep their current values and extra keys are ignored (both logged).
            Shapes must always match.

    Returns:
        What was loaded and from where.

    Raises:
        CheckpointError: No prefix holds the encoder's weights, or keys/shapes do not match.
    """
    state = load_state(directory)
    expected = encoder.state_dict()
    candidates = list(dict.fromkeys((prefix, *ENCODER_PREFIXES)))
    best: tuple[int, str, dict[str, Tensor]] | None = None
    for candidate in candidates:
        sub = {k[len(candidate) :]: v for k, v in state.items() if k.startswith(candidate)}
        overlap = len(set(sub) & set(expected))
        if best is None or overlap > best[0]:
            best = (overlap, candidate, sub)
        if overlap == len(expected):
            break
    assert best is not None  # candidates is never empty
    overlap, chosen, sub = best
    if overlap == 0:
        raise CheckpointError(
            f"no graph-encoder weights found in {directory}: none of the prefixes "
            f"{[c for c in candidates if c]} (or no prefix) holds keys like "
            f"{_short(sorted(expected), 3)}"
        )
    missing = tuple(sorted(set(expected) - set(sub)))
    unexpected = tuple(sorted(set(sub) - set(expected)))
    shapes = _mismatches(expected, {k: v for k, v in sub.items() if k in expected})
    where = f"{directory} (prefix {chosen!r})"
    if shapes:
        raise CheckpointError(f"encoder weights in {where} do not fit the encoder: {shapes}")
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"encoder weights in {where} do not match the encoder: "
            f"{_mismatches(expected, sub)}. Pass strict=False to load the matching keys only."
        )
    if missing or unexpected:
        logger.warning(
            "loaded encoder weights from %s; kept %d missing keys %s, ignored %d unexpected %s",
            where,
            len(missing),
            _short(list(missing)),
            len(unexpected),
            _short(list(unexpected)),
        )
    encoder.load_state_dict({k: v for k, v in sub.items() if k in expected}, strict=False)
    return EncoderLoadReport(chosen, len(expected) - len(missing), missing, unexpected)


# ------------------------------------------------------------------------------- config loading


def config_from_dict(cls: type[C], data: Mapping[str, Any], path: str = "") -> C:
    """Build the (possibly nested) frozen dataclass ``cls`` from plain YAML data.

    Nested dataclass fields recurse; lists become tuples where the field type is a tuple; unknown
    keys are errors. Value validation is left to each config's ``__post_init__``.

    Raises:
        UnknownNameError: ``data`` has a key that ``cls`` does not define.
        ConfigError: A value is invalid (raised by the config itself).
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            where = path.rstrip(".") or cls.__name__
            raise UnknownNameError(f"config key under {where!r}", key, choices=fields)
    hints = typing.get_type_hints(cls)
    kwargs = {name: _convert(hints[name], value, f"{path}{name}.") for name, value in data.items()}
    return cls(**kwargs)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is not type(None) and _matches(arg, value):
                return _convert(arg, value, path)
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return config_from_dict(hint, value, path)
    if (hint is tuple or origin is tuple) and isinstance(value, list):
        args = typing.get_args(hint)
        item_hint = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item_hint is not None:
            return tuple(_convert(item_hint, item, path) for item in value)
        if args and len(args) == len(value):
            return tuple(_convert(a, item, path) for a, item in zip(args, value))
        return tuple(value)
    if origin is list and isinstance(value, list):
        (item_hint,) = typing.get_args(hint) or (Any,)
        return [_convert(item_hint, item, path) for item in value]
    return value


def _matches(hint: Any, value: Any) -> bool:
    """Whether ``value`` from YAML should be converted as ``hint`` inside a union."""
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return isinstance(value, Mapping)
    if origin is tuple:
        return isinstance(value, list)
    if origin is list:
        return isinstance(value, list)
    return True
