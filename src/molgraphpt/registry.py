"""Name → factory registries, used only where a string from a config or the CLI picks a class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from molgraphpt.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps exact names to factories for one kind of component.

    Args:
        kind: What the entries are, used in error messages (``"graph encoder"``, ``"objective"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a name can be registered once."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered by {self._entries[name]!r}"
                )
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the entry for ``name``, or raise :class:`UnknownNameError` with suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, choices=self._entries) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
