"""The exception tree of molgraphpt.

Every error a user can cause is a :class:`MolGraphPTError`. Each subclass also inherits the
builtin exception a generic handler would expect (``ValueError``, ``KeyError``, ``ImportError``),
and its message says what was wrong, the offending value, where it came from and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MolGraphPTError(Exception):
    """Base class of every error raised on purpose by molgraphpt."""


class ConfigError(MolGraphPTError, ValueError):
    """A configuration value is invalid.

    Args:
        key: Dotted config key, e.g. ``"train.lr"``.
        value: The value that was given.
        expected: What would have been valid.
        hint: Optional extra advice on how to fix it.
    """

    def __init__(self, key: str, value: object, *, expected: str, hint: str = "") -> None:
        self.key, self.value, self.expected = key, value, expected
        msg = f"invalid value {value!r} for {key!r}: expected {expected}"
        super().__init__(f"{msg}. {hint}" if hint else msg)


class UnknownNameError(MolGraphPTError, KeyError):
    """A name (registry entry, config key, column, dataset) is not known.

    The message suggests the closest valid name and lists all of them.
    """

    def __init__(self, kind: str, name: str, *, choices: Iterable[str], hint: str = "") -> None:
        self.kind, self.name, self.choices = kind, name, sorted(choices)
        close = closest_name(str(name), self.choices)
        maybe = f"; did you mean {close!r}?" if close else ""
        listed = ", ".join(self.choices) if self.choices else "(none)"
        msg = f"unknown {kind} {name!r}{maybe} (choices: {listed})"
        super().__init__(f"{msg}. {hint}" if hint else msg)

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


def closest_name(name: str, choices: list[str]) -> str | None:
    """The choice a user most likely meant by ``name``, or None if nothing is close.

    Tries a close spelling, then an abbreviation (``learning_rate`` → ``lr``), then a name that
    contains or is contained in ``name``.
    """
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return close[0]
    lowered = name.lower()
    initials = "".join(part[0] for part in lowered.replace("-", "_").split("_") if part)
    for choice in choices:
        if choice.lower() == initials:
            return choice
    contained = [
        c for c in choices if len(c) > 2 and (c.lower() in lowered or lowered in c.lower())
    ]
    return contained[0] if contained else None


class InvalidSmilesError(MolGraphPTError, ValueError):
    """RDKit could not turn a SMILES string into a usable molecule.

    Args:
        smiles: The SMILES as given.
        reason: Why it was rejected.
        source: File (or other origin) the SMILES came from, if known.
        row: 0-based data row in ``source``, if known.
    """

    def __init__(
        self,
        smiles: str,
        reason: str,
        *,
        source: str | None = None,
        row: int | None = None,
        line: int | None = None,
    ) -> None:
        self.smiles, self.reason, self.source, self.row = smiles, reason, source, row
        self.line = line
        where = ""
        if line is not None:
            where += f" at line {line}"
        elif row is not None:
            where += f" at row {row}"
        if source is not None:
            where += f" of {source}"
        text = str(smiles)
        shown = repr(smiles) if len(text) <= 100 else f"{text[:100]!r}... ({len(text)} characters)"
        super().__init__(
            f"invalid SMILES {shown}{where}: {reason}. Fix the row, or drop invalid rows "
            f"and count them: on_invalid='skip' in Python, --on-invalid skip for featurize, "
            f"data.on_invalid=skip for finetune/pretrain."
        )

    def at(
        self, *, row: int | None = None, source: str | None = None, line: int | None = None
    ) -> InvalidSmilesError:
        """Return a copy of this error that also names the row, file line and source file.

        ``row`` is the 0-based index among data rows; ``line`` the 1-based line of the file as a
        text editor counts it (header included). The message prefers ``line`` when known.
        """
        return InvalidSmilesError(
            self.smiles,
            self.reason,
            source=source if source is not None else self.source,
            row=row if row is not None else self.row,
            line=line if line is not None else self.line,
        )


class DataFormatError(MolGraphPTError, ValueError):
    """A data file does not have the layout molgraphpt expects (missing column, bad split...)."""


class ShapeError(MolGraphPTError, ValueError):
    """Tensors or arrays do not have the shapes an operation needs."""


class CacheError(MolGraphPTError, RuntimeError):
    """An on-disk feature cache is unreadable or does not match its fingerprint."""


class CheckpointError(MolGraphPTError, ValueError):
    """A checkpoint directory is missing files or does not match the model it is loaded into."""


class MissingDependencyError(MolGraphPTError, ImportError):
    """An optional package is needed for a feature but is not installed."""


class IntegrityError(MolGraphPTError, RuntimeError):
    """Stored bytes (feature store, checkpoint, download) do not match their recorded checksum.

    Args:
        path: The file whose content changed.
        expected: The checksum recorded when it was written (or published).
        actual: The checksum of the bytes on disk now.
        fix: How to recover (rebuild the store, re-download, restore the checkpoint).
    """

    def __init__(self, path: object, *, expected: str, actual: str, fix: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"{path} is damaged: its checksum is {actual}, expected {expected} (recorded when it "
            f"was written, or published with it). {fix}"
        )


class RunDirError(MolGraphPTError, RuntimeError):
    """A run directory belongs to another config, is in use by another run, or cannot be resumed."""


class NonFiniteLossError(MolGraphPTError, FloatingPointError):
    """A training loss became NaN or infinite; the last good checkpoint is kept."""
