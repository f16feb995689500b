"""Strict loading and saving of frozen dataclass configs (YAML files, dicts, ``a.b=v`` overrides).

The one dataclass loader of the package, at its lowest layer: experiment configs (via
:mod:`molgraphpt.config`) and checkpoint ``config.yaml`` files (via :mod:`molgraphpt.models`)
both go through :func:`from_dict`.

This module knows no experiment schema: :func:`from_dict` builds any tree of dataclasses, rejects
unknown keys with a did-you-mean, and checks or coerces every leaf against its type hint;
:func:`to_dict`, :func:`to_yaml` and :func:`save_config` write a config back so that it loads to
an equal object.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import re
import tempfile
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union

import yaml

from molgraphpt.errors import ConfigError, UnknownNameError

__all__ = ["ConfigFileNotFoundError", "apply_overrides", "from_dict", "load_config"]
__all__ += ["save_config", "set_dotted", "to_dict", "to_yaml"]

T = TypeVar("T")

# YAML 1.1 (PyYAML) reads ``1e-3`` as a string: a float needs a dot, e.g. ``1.0e-3``.
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_OVERRIDE_EXAMPLE = "KEY=VALUE, e.g. train.lr=3e-4 or objectives.0.weight=0.5"
_NONE = type(None)


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """The config file given to :func:`load_config` does not exist."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


def _join(prefix: str, name: object) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, checking every key and value.

    Nested dataclasses (also inside ``X | None``, ``list[X]`` and ``tuple[X, ...]``) are built
    recursively; lists given for tuple fields become tuples so frozen configs stay hashable.

    Args:
        cls: A dataclass type, usually frozen.
        data: Field values, e.g. parsed from YAML. Absent fields take their defaults.
        path: Dotted key of ``data`` inside the root config (``"model.graph"``), for messages.

    Returns:
        The ``cls`` instance, validated by its own ``__post_init__`` (whose errors propagate).

    Raises:
        UnknownNameError: ``data`` has a key that ``cls`` has no field for.
        ConfigError: A value has the wrong type, or a field without a default is missing.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    prefix = path.rstrip(".")
    if not isinstance(data, Mapping):
        raise ConfigError(prefix or "<root>", data, expected=_describe(cls))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            kind = f"config key under {prefix!r}" if prefix else "top-level config key"
            err = UnknownNameError(kind, str(key), choices=fields)
            err.key = _join(prefix, str(key))  # type: ignore[attr-defined]
            raise err
    missing = [_join(prefix, n) for n, f in fields.items() if n not in data and _required(f)]
    if missing:
        hint = f"Missing required key(s): {', '.join(missing)}; set them in the config file"
        raise ConfigError(missing[0], _Missing(), expected="a value (no default)", hint=hint)
    hints = typing.get_type_hints(cls)  # resolves ``from __future__ import annotations`` strings
    kwargs = {name: _convert(hints[name], v, _join(prefix, name)) for name, v in data.items()}
    return cls(**kwargs)  # each config's own __post_init__ validates its fields


def _required(field: dataclasses.Field[Any]) -> bool:
    no_default = dataclasses.MISSING
    return field.default is no_default and field.default_factory is no_default


def _convert(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against type ``hint`` and return it, coerced where that is lossless."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin is Union or origin is types.UnionType:
        if value is None and _NONE in args:
            return None
        options = [a for a in args if a is not _NONE]
        if len(options) == 1:  # X | None: report X's own, more precise error
            return _convert(options[0], value, key)
        if type(value) in options:
            return value
        for option in options:
            with contextlib.suppress(ConfigError, UnknownNameError):
                return _convert(option, value, key)
    elif origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, key)
    elif (origin or hint) in (list, tuple, Sequence):
        if isinstance(value, (list, tuple)):
            return _convert_sequence(origin or hint, args, value, key)
    elif (origin or hint) in (dict, Mapping):
        if isinstance(value, Mapping):
            key_type, value_type = args or (Any, Any)
            return {
                _convert(key_type, k, key): _convert(value_type, v, _join(key, k))
                for k, v in value.items()
            }
    elif hint is bool or hint is _NONE:
        if type(value) is hint:
            return value
    elif hint is int or hint is float:
        number = float(value) if isinstance(value, str) and _NUMBER.fullmatch(value) else value
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            if hint is float or isinstance(number, int) or number.is_integer():
                return hint(number)
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if issubclass(hint, PurePath) and isinstance(value, str):
            return hint(value)
    else:
        raise TypeError(f"unsupported type hint {hint!r} for config key {key!r}")
    raise ConfigError(key, value, expected=_describe(hint))


def _convert_sequence(container: Any, args: tuple[Any, ...], value: Any, key: str) -> Any:
    if container is tuple and args and args[-1] is not Ellipsis:  # fixed length tuple[A, B]
        if len(value) != len(args):
            raise ConfigError(key, value, expected=f"{_describe(tuple[args])} ({len(args)} items)")
        items = [_convert(a, v, _join(key, i)) for i, (a, v) in enumerate(zip(args, value))]
    else:
        element = args[0] if args else Any
        items = [_convert(element, v, _join(key, i)) for i, v in enumerate(value)]
    return items if container is list else tuple(items)


def _describe(hint: Any) -> str:
    """Say in words what values type ``hint`` accepts, for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    names = {bool: "a boolean (true or false)", int: "an integer", str: "a string", _NONE: "null"}
    if hint in names or hint is float:
        return names.get(hint, "a number")
    if origin is Union or origin is types.UnionType:
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} fields"
    if (origin or hint) in (list, tuple, Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return "a list [" + ", ".join(_describe(a) for a in args) + "]"
        return f"a list of {_describe(args[0])}" if args else "a list"
    if (origin or hint) in (dict, Mapping):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``key="a.b.c"``, in place.

    Missing or null intermediate mappings are created (:func:`from_dict` rejects unknown keys
    later). An integer segment indexes into a list, e.g. ``objectives.0.weight``; the index one
    past the end appends.

    Raises:
        ConfigError: The key is malformed, indexes a list out of range, or goes through a scalar.
    """
    parts = key.split(".")
    if not all(parts):
        raise ConfigError("override key", key, expected="a dotted key such as train.lr")
    node: Any = raw
    for depth, part in enumerate(parts):
        where, last = ".".join(parts[: depth + 1]), depth == len(parts) - 1
        slot: Any
        if isinstance(node, dict):
            slot = part
        elif isinstance(node, list):
            if not part.isdigit() or int(part) > len(node):
                raise ConfigError(
                    where,
                    part,
                    expected=f"a list index below {len(node)}, or {len(node)} to append",
                )
            slot = int(part)
            if slot == len(node):
                node.append(None)
        else:  # the root is a dict, so a scalar is only met at depth >= 1
            parent = ".".join(parts[:depth])
            raise ConfigError(parent, node, expected=f"a mapping or list to set {part!r} in")
        if last:
            node[slot] = value
            return
        if (node.get(slot) if isinstance(node, dict) else node[slot]) is None:
            node[slot] = {}
        node = node[slot]


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a deep copy of ``raw`` with ``a.b.c=value`` overrides applied (``raw`` is unchanged).

    Each value is parsed as YAML: ``x=3`` is an int, ``x=[1, 2]`` a list, ``x=null`` None.

    Raises:
        ConfigError: An override has no ``=`` or its value is not valid YAML.
    """
    result = copy.deepcopy(dict(raw))
    for item in [overrides] if isinstance(overrides, str) else overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("override", item, expected=_OVERRIDE_EXAMPLE)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(
                key.strip(), text, expected="a YAML value, e.g. 3, 0.1, true, null or [1, 2]"
            ) from err
        set_dotted(result, key.strip(), value)
    return result


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        error = ConfigFileNotFoundError if not path.exists() else ConfigError
        reason = "No such file" if not path.exists() else "It is a directory"
        raise error("config file", str(path), expected="a YAML file", hint=reason)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        hint = f"YAML syntax error in {path}{where}: {problem}"
        raise ConfigError("config file", str(path), expected="valid YAML", hint=hint) from err
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("config file", str(path), expected="a mapping of config keys")
    return raw


def load_config(
    cls: type[T], path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()
) -> T:
    """Read a YAML config into dataclass ``cls``, applying ``a.b.c=value`` overrides.

    Args:
        cls: Root config dataclass.
        path: YAML file, or None to start from all defaults.
        overrides: ``KEY=VALUE`` strings, applied in order after the file is read.

    Returns:
        The validated config.

    Raises:
        ConfigFileNotFoundError: ``path`` does not exist.
        ConfigError: The file is not valid YAML, an override is malformed, or a value is invalid.
        UnknownNameError: A key is not a field of the config.
    """
    raw = {} if path is None else _read_yaml(Path(path))
    try:
        return from_dict(cls, apply_overrides(raw, overrides))
    except (UnknownNameError, ConfigError) as err:
        key = getattr(err, "key", None)
        line = None if path is None or _overridden(key, overrides) else _yaml_line(Path(path), key)
        if line is None:
            raise
        raise _located(err, f"{path}, line {line}") from None  # same error, located


def _overridden(key: str | None, overrides: Sequence[str]) -> bool:
    """Whether ``key`` (or a parent of it) was set by one of ``overrides``."""
    if not key:
        return False
    names = {o.split("=", 1)[0].strip() for o in overrides}
    parts = key.split(".")
    return any(".".join(parts[: i + 1]) in names for i in range(len(parts)))


def _yaml_line(path: Path, key: str | None) -> int | None:
    """1-based line of dotted ``key`` in the YAML file ``path`` (None when not found there)."""
    if not key:
        return None
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    for part in key.split("."):
        if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            continue
        if not isinstance(node, yaml.MappingNode):
            return None
        match = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
        if not match:
            return None
        key_node, node = match[0]
    return key_node.start_mark.line + 1


def _located(err: UnknownNameError | ConfigError, where: str) -> Exception:
    """``err`` with its message extended by where in the config file the key is set."""
    err.args = (f"{err} (set in {where})", *err.args[1:])
    return err


def to_dict(cfg: Any) -> dict[str, Any]:
    """Turn a dataclass config into plain dicts, lists and scalars (tuples become lists)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict needs a dataclass instance, got {cfg!r}")
    return _plain(cfg)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return str(obj) if isinstance(obj, PurePath) else obj


def to_yaml(cfg: Any) -> str:
    """Render a config as YAML, in field order, that :func:`load_config` reads back equal."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def save_config(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``cfg`` as YAML to ``path`` atomically (temp file in the same folder, then rename).

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = to_yaml(cfg)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target
