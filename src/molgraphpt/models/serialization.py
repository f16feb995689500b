"""Checkpoint directories: ``config.yaml`` + ``model.safetensors`` + ``meta.json``.

A checkpoint is a directory, as in ``transformers``: the frozen dataclass config as plain YAML, the
state dict as safetensors, and provenance in JSON. :func:`save_pretrained` writes all three into a
temporary sibling directory and renames it into place, so a reader never sees a half-written
checkpoint and an interrupted save leaves the previous one intact.

``meta.json`` says what wrote the checkpoint and how to read it back: ``format_version`` (see
:data:`FORMAT_VERSION`), ``model_type`` (the key :func:`molgraphpt.load` dispatches on),
``model_class``, ``config_class`` and ``checksums``: ``{"model.safetensors": "sha256:<hex>", ...}``
for every file written except ``config.yaml`` (plain text, read by a strict loader) and
``meta.json`` itself, i.e. the weights, a text model's ``text/`` files and a SMILES tokenizer.
Loading re-hashes the files it reads (streamed in 4 MiB blocks, about 1 GB/s) and raises
:class:`~molgraphpt.errors.IntegrityError` on a mismatch; ``verify=False`` skips that for users
who accept the risk. Checkpoints written before checksums existed load with an info log line.
The checksums are :mod:`molgraphpt.models.checkpoint_integrity`'s (:func:`verify_checkpoint`,
:func:`file_checksum` and the constants are re-exported here).

Since format 2 the graph encoder of every checkpoint sits under one state-dict prefix,
:data:`GRAPH_ENCODER_PREFIX`; checkpoints of format 1 are migrated on read by
:func:`migrate_state` from a fixed table of the three layouts format 1 had, never by guessing.
``config.yaml`` is read by the package's one strict loader, :func:`molgraphpt._config_io.from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from torch import Tensor, nn

from molgraphpt import _io
from molgraphpt._config_io import from_dict
from molgraphpt._io import file_mode
from molgraphpt.errors import CheckpointError, ConfigError, UnknownNameError

# The checksum half of the format; its public names are re-exported from here.
from molgraphpt.models.checkpoint_integrity import CHECKSUM_ALGORITHM as CHECKSUM_ALGORITHM
from molgraphpt.models.checkpoint_integrity import CHECKSUMS_KEY as CHECKSUMS_KEY
from molgraphpt.models.checkpoint_integrity import _checked_files
from molgraphpt.models.checkpoint_integrity import file_checksum as file_checksum
from molgraphpt.models.checkpoint_integrity import verify_checkpoint as verify_checkpoint

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.safetensors"
META_NAME = "meta.json"
#: Checkpoint layout written now. 1: the graph encoder under a per-class prefix (``encoder.``,
#: ``graph.`` or none); 2: under :data:`GRAPH_ENCODER_PREFIX` in every checkpoint, ``model_type``
#: in ``meta.json``. Format 1 is read through :func:`migrate_state`.
FORMAT_VERSION = 2
READABLE_FORMATS: tuple[int, ...] = (1, 2)
#: State-dict prefix of the graph encoder in every checkpoint that holds one.
GRAPH_ENCODER_PREFIX = "graph_encoder."
#: Format 1 layouts: ``model_type`` and the prefix its graph encoder was saved under, by the
#: ``model_class`` (or, for the bare pretrained encoder, ``config_class``) format 1 recorded.
_V1_LAYOUTS: dict[str, tuple[str, str]] = {
    "molgraphpt.models.heads.PropertyModel": ("property", "encoder."),
    "molgraphpt.models.moltext.MolTextModel": ("moltext", "graph."),
    "molgraphpt.config.schema.PretrainedEncoderConfig": ("graph_encoder", ""),
}

#: The temporary folder of an atomic write: ``.<name>.tmp-<pid>-<8 hex digits>``.
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}")

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
    Model classes call this through
    :meth:`molgraphpt.models.pretrained.PretrainedModel.save_pretrained`.

    Args:
        model: The module to save; its full ``state_dict()`` is written.
        directory: Target checkpoint directory.
        config: The frozen dataclass the model was built from (written with
            ``dataclasses.asdict``; tuples become lists).
        meta: Extra JSON-serializable provenance merged into ``meta.json`` (e.g. step, metrics).
        state: The tensors to write to ``model.safetensors`` (default: ``model.state_dict()``),
            e.g. a state dict without the parts ``write_extra`` saves in their own format.
        info: Extra reserved ``meta.json`` entries describing the layout, e.g. ``model_type``
            (``meta`` may not override them).
        write_extra: Called with the temporary directory to write further files (e.g. a
            HuggingFace sub-model) before everything is synced and renamed into place.

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: ``config`` is not a dataclass, ``meta`` is not JSON-serializable or
            collides with a reserved key, or ``directory`` exists and is not a checkpoint.
    """
    target = Path(directory)
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise CheckpointError(
            f"cannot save {target}: config must be a dataclass instance, "
            f"got {type(config).__name__}"
        )
    _check_replaceable(target)
    tensors = _contiguous_unshared(model.state_dict() if state is None else state)
    document = _meta_document(target, model, config, meta, info)
    config_text = yaml.safe_dump(_plain(dataclasses.asdict(config)), sort_keys=False)

    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        (tmp / CONFIG_NAME).write_text(config_text)
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        if write_extra is not None:
            write_extra(tmp)
        document[CHECKSUMS_KEY] = {name: file_checksum(tmp / name) for name in _checked_files(tmp)}
        (tmp / META_NAME).write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")

    _write_dir_atomically(target, write)
    return target


def _meta_document(
    target: Path, model: nn.Module, config: Any, meta: dict | None, info: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``meta.json``'s content: the reserved layout and provenance entries, then ``meta``.

    Its ``checksums`` entry is filled in once the files are written.
    """
    from molgraphpt._version import __version__
    from molgraphpt.provenance import git_revision

    reserved = {
        "format_version": FORMAT_VERSION,
        "molgraphpt_version": __version__,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config_class": f"{type(config).__module__}.{type(config).__qualname__}",
        "num_parameters": sum(p.numel() for p in model.parameters()),
        **(info or {}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        CHECKSUMS_KEY: {},
    }
    clash = sorted(set(meta or {}) & set(reserved))
    if clash:
        raise CheckpointError(f"cannot save {target}: meta keys {clash} are reserved")
    document = {**reserved, **(meta or {})}
    try:
        json.dumps(document)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"cannot save {target}: meta is not JSON-serializable: {err}"
        ) from err
    return document


def _write_dir_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` in a temporary sibling directory, fsync its files, rename it in place.

    The temporary directory, ``.<name>.tmp-<pid>-<hex>``, and its files get the umask's
    permissions (safetensors writes 0o600 files; a checkpoint should be as readable as any file
    the user writes) and it holds a marker naming this process and host; such directories left
    by processes that no longer run are removed first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_dirs(target.parent)
    name = f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp = _io.make_marked_temp_dir(target.parent / name)
    try:
        write(tmp)
        mode = file_mode()
        for path in tmp.rglob("*"):
            if path.is_file() and not path.is_symlink():
                os.chmod(path, mode)
                _fsync(path)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (target / _io.TEMP_MARKER).unlink(missing_ok=True)


def remove_stale_temp_dirs(parent: Path, pattern: re.Pattern[str] = _TEMP_NAME) -> list[Path]:
    """Delete checkpoint temp folders in ``parent`` left by dead molgraphpt processes, only."""
    return _io.remove_stale_temp_dirs(parent, pattern)


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


def load_state(directory: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Tensor]:
    """Read the state dict of a checkpoint directory onto the CPU, in the current layout.

    A format-1 checkpoint's keys are migrated (:func:`migrate_state`), so the graph encoder is
    always under :data:`GRAPH_ENCODER_PREFIX`.

    Args:
        directory: Checkpoint directory.
        verify: Check ``model.safetensors`` against its checksum in ``meta.json`` first
            (``False``: skip, at your own risk).

    Raises:
        CheckpointError: The directory or its ``model.safetensors`` is missing or unreadable,
            or ``meta.json`` names a format this version cannot read.
        IntegrityError: ``model.safetensors`` changed since it was saved.
    """
    path = _require_files(Path(directory), (WEIGHTS_NAME,))
    has_meta = (path / META_NAME).is_file()
    if verify and has_meta:
        verify_checkpoint(path, (WEIGHTS_NAME,))
    from safetensors.torch import load_file

    try:
        state = load_file(str(path / WEIGHTS_NAME), device="cpu")
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"cannot read weights {path / WEIGHTS_NAME}: {err}") from err
    if not has_meta:
        return state  # a bare state dict (written by hand): nothing says how to migrate it
    return migrate_state(load_meta(path), state)


def load_config(directory: str | os.PathLike[str], config_cls: type[C]) -> C:
    """Read ``config.yaml`` of a checkpoint directory into ``config_cls`` (strictly).

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
        return from_dict(config_cls, data)
    except (ConfigError, UnknownNameError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit {config_cls.__name__}: {err}") from err


def load_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``meta.json`` of a checkpoint directory and check its format version.

    Raises:
        CheckpointError: The file is missing or is not valid JSON, or the checkpoint was written
            in a format this version cannot read (the message names both versions).
    """
    path = _require_files(Path(directory), (META_NAME,)) / META_NAME
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"cannot parse {path}: {err}") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(meta).__name__}")
    _check_format(meta, path)
    return meta


def _check_format(meta: Mapping[str, Any], path: Path) -> None:
    from molgraphpt._version import __version__

    version = meta.get("format_version")
    if version in READABLE_FORMATS:
        return
    writer = meta.get("molgraphpt_version", "an unknown version")
    advice = (
        "upgrade molgraphpt (pip install -U molgraphpt) to read it"
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
        else "it was not written by molgraphpt's save_pretrained"
    )
    raise CheckpointError(
        f"{path.parent} is a checkpoint of format {version!r}, written by molgraphpt {writer}; "
        f"molgraphpt {__version__} reads formats {list(READABLE_FORMATS)}: {advice}"
    )


def model_type(meta: Mapping[str, Any]) -> str:
    """The ``model_type`` of a checkpoint, from its ``meta.json`` (format 1: by its class).

    Raises:
        CheckpointError: A format-1 checkpoint of a class format 1 never wrote.
    """
    if meta.get("model_type"):
        return str(meta["model_type"])
    layout = _v1_layout(meta)
    return layout[0]


def _v1_layout(meta: Mapping[str, Any]) -> tuple[str, str]:
    for key in ("model_class", "config_class"):
        if meta.get(key) in _V1_LAYOUTS:
            return _V1_LAYOUTS[meta[key]]
    raise CheckpointError(
        f"a format-1 checkpoint of model_class {meta.get('model_class')!r} / config_class "
        f"{meta.get('config_class')!r} has no known layout; format 1 wrote only "
        f"{sorted(_V1_LAYOUTS)}"
    )


def migrate_state(meta: Mapping[str, Any], state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a format-1 state dict's graph-encoder keys to :data:`GRAPH_ENCODER_PREFIX`.

    Format 1 saved the graph encoder of a ``PropertyModel`` under ``encoder.``, of a
    ``MolTextModel`` under ``graph.``, and a pretrained encoder with no prefix; which one applies
    is read from ``meta.json``, not guessed from the keys. Format-2 states are returned as they
    are.
    """
    if meta.get("format_version") != 1:
        return state
    _, old = _v1_layout(meta)
    if old == "":
        return {GRAPH_ENCODER_PREFIX + key: value for key, value in state.items()}
    return {
        (GRAPH_ENCODER_PREFIX + key[len(old) :] if key.startswith(old) else key): value
        for key, value in state.items()
    }


def load_pretrained(
    directory: str | os.PathLike[str],
    config_cls: type[C],
    build_fn: Callable[[C], M],
    *,
    verify: bool = True,
) -> tuple[M, C]:
    """Rebuild a model from a checkpoint directory written by :func:`save_pretrained`.

    Args:
        directory: Checkpoint directory written by :func:`save_pretrained`.
        config_cls: Dataclass of the saved config, e.g. ``PropertyModelConfig``.
        build_fn: Builds the model from the config, e.g. ``PropertyModel``.
        verify: Check the weights against their checksum first (``False``: skip, at your own
            risk).

    Returns:
        ``(model, config)``, the model on the CPU in eval mode.

    Raises:
        CheckpointError: Files are missing or unreadable, or the weights do not match the model
            (the message lists missing, unexpected and mis-shaped keys).
        IntegrityError: ``model.safetensors`` changed since it was saved.
    """
    path = _require_files(Path(directory), (CONFIG_NAME, WEIGHTS_NAME))
    config = load_config(path, config_cls)
    model = build_fn(config)
    load_state_strict(model, load_state(path, verify=verify), source=str(path))
    model.eval()
    return model, config


def load_state_strict(
    module: nn.Module,
    state: Mapping[str, Tensor],
    *,
    source: str,
    skip_prefixes: tuple[str, ...] = (),
) -> None:
    """``module.load_state_dict(state)`` with one readable :class:`CheckpointError` on mismatch.

    Args:
        module: The module to fill.
        state: The tensors read from the checkpoint.
        source: Where they came from, for the message.
        skip_prefixes: Keys of ``module`` that the checkpoint does not hold in
            ``model.safetensors`` (saved in their own format, e.g. a HuggingFace sub-model).
    """
    expected = {
        k: v
        for k, v in module.state_dict().items()
        if not any(k.startswith(prefix) for prefix in skip_prefixes)
    }
    problems = state_mismatches(expected, state)
    if problems:
        raise CheckpointError(
            f"weights in {source} do not match {type(module).__name__}: {problems}. Was the "
            "checkpoint saved from a model with another config?"
        )
    module.load_state_dict(state, strict=not skip_prefixes)


def state_mismatches(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> str:
    """Missing, unexpected and mis-shaped keys of ``given`` against ``expected`` ("" if none)."""
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


def require_checkpoint(directory: str | os.PathLike[str], *names: str) -> Path:
    """``directory`` as a Path if it holds ``names`` (default: the three checkpoint files).

    Raises:
        CheckpointError: The directory or one of the files is missing.
    """
    return _require_files(Path(directory), names or (CONFIG_NAME, WEIGHTS_NAME, META_NAME))


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
        prefix: State-dict prefix the encoder weights were read from (always
            :data:`GRAPH_ENCODER_PREFIX`).
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
    *,
    strict: bool = True,
    verify: bool = True,
) -> EncoderLoadReport:
    """Initialise a graph encoder from the graph encoder of any checkpoint that holds one.

    The weights are read from :data:`GRAPH_ENCODER_PREFIX` (format-1 checkpoints are migrated
    first), whatever the model class: a graph-pretrained encoder, a molecule–text model or a
    fine-tuned property model.

    Args:
        encoder: The module to initialise in place.
        directory: Checkpoint directory.
        strict: Require the keys to be exactly the encoder's. With ``False``, missing keys keep
            their current values and extra keys are ignored (both logged). Shapes must always
            match.
        verify: Check ``model.safetensors`` against its checksum first (``False``: skip, at
            your own risk).

    Returns:
        What was loaded.

    Raises:
        CheckpointError: The checkpoint holds no graph encoder, or keys/shapes do not match.
        IntegrityError: ``model.safetensors`` changed since it was saved.
    """
    state = load_state(directory, verify=verify)
    prefix = GRAPH_ENCODER_PREFIX
    sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    expected = encoder.state_dict()
    if not sub:
        raise CheckpointError(
            f"{directory} holds no graph encoder: no weights under {prefix!r} "
            f"(its keys start with {_short(sorted({k.split('.')[0] for k in state}), 5)})"
        )
    missing = tuple(sorted(set(expected) - set(sub)))
    unexpected = tuple(sorted(set(sub) - set(expected)))
    shapes = state_mismatches(expected, {k: v for k, v in sub.items() if k in expected})
    if shapes:
        raise CheckpointError(f"encoder weights in {directory} do not fit the encoder: {shapes}")
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"encoder weights in {directory} do not match the encoder: "
            f"{state_mismatches(expected, sub)}. Pass strict=False to load the matching keys only."
        )
    if missing or unexpected:
        logger.warning(
            "loaded encoder weights from %s; kept %d missing keys %s, ignored %d unexpected %s",
            directory,
            len(missing),
            _short(list(missing)),
            len(unexpected),
            _short(list(unexpected)),
        )
    encoder.load_state_dict({k: v for k, v in sub.items() if k in expected}, strict=False)
    return EncoderLoadReport(prefix, len(expected) - len(missing), missing, unexpected)
