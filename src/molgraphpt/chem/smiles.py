"""SMILES → RDKit molecule, with one explicit policy for molecules RDKit will not sanitize.

:func:`parse_smiles` strips surrounding whitespace and parses with RDKit's defaults (full
sanitization, stereo perception, explicit H removal), exactly as ``ogb.utils.smiles2graph`` does.
An empty string, a parse failure or a molecule without atoms raises
:class:`~molgraphpt.errors.InvalidSmilesError` carrying RDKit's own message.

**Unsanitizable molecules.** Recent RDKit (2024.09 and later) rejects some SMILES that older
versions accepted because they break its valence rules, e.g. hypervalent aluminium, boron or
germanium such as ``CC(=O)O[AlH3](O)O``: 7 rows of MoleculeNet HIV and 8 of Tox21. The
``unsanitizable`` argument decides what happens to them:

* ``"partial"`` (default): parse without sanitization, remove explicit Hs, compute implicit
  valences without the valence check (``UpdatePropertyCache(strict=False)``), run every other
  sanitization step (``SANITIZE_ALL ^ SANITIZE_PROPERTIES``: ring perception, kekulization,
  aromaticity, conjugation, hybridization, chirality clean-up) and assign stereochemistry, in the
  order a normal parse does. The result is marked ``partial=True``. On the molecules that do
  sanitize (HIV, Tox21, ChEBI-20 test, 60k each of MOSES and L+M-24) it gives features identical to
  a full parse. If any of the other steps fails (say, kekulization), the SMILES is invalid.
  Note that this also accepts plain wrong valences, such as a carbon with five bonds.
* ``"invalid"``: raise :class:`~molgraphpt.errors.InvalidSmilesError`.

Only valence failures are ever accepted: syntax errors and kekulization failures are always invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rdkit import Chem, rdBase

from molgraphpt._logging import rdkit_log_capture
from molgraphpt.errors import ConfigError, InvalidSmilesError

__all__ = ["ParsedMol", "Unsanitizable", "canonical_smiles", "parse_smiles"]

#: What to do with a molecule that parses but fails RDKit's valence checks.
Unsanitizable = Literal["partial", "invalid"]
_POLICIES = ("partial", "invalid")
_PARTIAL_OPS = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
_SANITIZE_NONE = Chem.SanitizeFlags.SANITIZE_NONE
_PREFIX = re.compile(r"^(\[\d\d:\d\d:\d\d\] ?)?(SMILES Parse Error: ?)?")
_GENERIC_REASON = "RDKit could not parse it"


@dataclass(frozen=True)
class ParsedMol:
    """A parsed molecule.

    Attributes:
        mol: The RDKit molecule.
        partial: True if it failed RDKit's valence checks and was only partially sanitized
            (see the module docstring).
    """

    mol: Chem.Mol
    partial: bool = False


def parse_smiles(smiles: str, *, unsanitizable: Unsanitizable = "partial") -> ParsedMol:
    """Parse a SMILES string into an RDKit molecule.

    Args:
        smiles: The SMILES; surrounding whitespace is ignored.
        unsanitizable: ``"partial"`` or ``"invalid"``: what to do with a molecule that fails
            RDKit's valence checks (see the module docstring).

    Returns:
        The molecule, and whether it needed partial sanitization.

    Raises:
        InvalidSmilesError: If the string is empty, does not parse, has no atoms, or (with
            ``unsanitizable="invalid"``) fails the valence checks.
        ConfigError: If ``unsanitizable`` is not one of the two policies.
    """
    check_policy(unsanitizable)
    with rdkit_log_capture():
        mol, partial = _parse(smiles, unsanitizable)
    return ParsedMol(mol, partial)


def canonical_smiles(smiles: str, *, unsanitizable: Unsanitizable = "partial") -> str:
    """Return RDKit's canonical isomeric SMILES of ``smiles``.

    Raises:
        InvalidSmilesError: As :func:`parse_smiles`.
    """
    parsed = parse_smiles(smiles, unsanitizable=unsanitizable)
    with rdkit_log_capture():
        return Chem.MolToSmiles(parsed.mol)


def check_policy(unsanitizable: str) -> None:
    """Raise :class:`ConfigError` unless ``unsanitizable`` is ``"partial"`` or ``"invalid"``."""
    if unsanitizable not in _POLICIES:
        raise ConfigError(
            "unsanitizable", unsanitizable, expected="one of " + ", ".join(map(repr, _POLICIES))
        )


def _parse(smiles: str, unsanitizable: str) -> tuple[Chem.Mol, bool]:
    """Parse without touching RDKit's log (the caller silences it). Hot path of featurization."""
    try:
        text = smiles.strip()
    except AttributeError:
        raise InvalidSmilesError(
            str(smiles), f"expected a string, got {type(smiles).__name__}"
        ) from None
    mol = Chem.MolFromSmiles(text)
    if mol is not None and mol.GetNumAtoms():
        return mol, False
    if not text:
        raise InvalidSmilesError(smiles, "empty SMILES string")
    if mol is not None:
        raise InvalidSmilesError(smiles, "the molecule has no atoms")
    return _parse_unsanitized(smiles, text, unsanitizable), True


def _parse_unsanitized(smiles: str, text: str, unsanitizable: str) -> Chem.Mol:
    """Slow path: say why a full parse failed, or sanitize partially (see module docstring)."""
    with _capture_error_log() as cap:
        mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        raise InvalidSmilesError(smiles, _rdkit_reason(getattr(cap, "messages", "")))
    if not mol.GetNumAtoms():
        raise InvalidSmilesError(smiles, "the molecule has no atoms")
    try:
        Chem.SanitizeMol(Chem.Mol(mol))
        reason = _GENERIC_REASON  # pragma: no cover - a full parse failed, so this should too
    except Exception as err:  # RDKit raises several MolSanitizeException subclasses
        reason = _rdkit_reason(str(err))
    partial = _sanitize_partially(mol)
    if partial is None:
        raise InvalidSmilesError(smiles, reason)
    if unsanitizable == "invalid":
        raise InvalidSmilesError(
            smiles,
            f"it fails RDKit's valence checks ({reason}); unsanitizable='partial' accepts it "
            "with partial sanitization",
        )
    return partial


def _sanitize_partially(mol: Chem.Mol) -> Chem.Mol | None:
    """Everything a default parse does except the valence check; None if a step fails.

    Explicit Hs are removed before sanitizing, as ``MolFromSmiles`` does (removing them after
    would leave their neighbours' degree and H count stale).
    """
    mol.UpdatePropertyCache(strict=False)
    mol = Chem.RemoveHs(mol, sanitize=False)
    mol.UpdatePropertyCache(strict=False)
    if Chem.SanitizeMol(mol, sanitizeOps=_PARTIAL_OPS, catchErrors=True) != _SANITIZE_NONE:
        return None
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return mol


def _rdkit_reason(messages: str) -> str:
    """Turn RDKit log lines into one short reason (timestamps and input echoes dropped)."""
    lines = [_PREFIX.sub("", line).strip() for line in messages.splitlines()]
    lines = [line for line in lines if line and not set(line) <= {"~", "^"}]
    if not lines:
        return _GENERIC_REASON
    where = [line.rstrip(":") for line in lines[1:] if "position" in line]
    return f"{lines[0]} ({where[0]})" if where else lines[0]


def _capture_error_log() -> Any:
    """``rdBase.CaptureErrorLog()`` where RDKit has it, or a stand-in that captures nothing."""
    capture = getattr(rdBase, "CaptureErrorLog", None)
    return capture() if capture is not None else _NoCapture()


class _NoCapture:
    """Stand-in for ``rdBase.CaptureErrorLog`` on RDKit versions without it."""

    messages = ""

    def __enter__(self) -> _NoCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
