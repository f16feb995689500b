"""SMILES → RDKit molecule, with one explicit policy for molecules RDKit will not sanitize.

:func:`parse_smiles` first checks the text (:func:`~molgraphpt.chem.guards.check_smiles_text`: a
string, surrounding whitespace ignored, ASCII without control characters, at most
``max_smiles_length`` characters), then parses it with RDKit's defaults (full sanitization,
stereo perception, explicit H removal), exactly as ``ogb.utils.smiles2graph`` does, and checks
the molecule has at most ``max_heavy_atoms`` heavy atoms. An empty string, a parse failure, a
molecule without atoms or one of those checks raises
:class:`~molgraphpt.errors.InvalidSmilesError` carrying the reason (RDKit's own message for
RDKit's failures).

**Unsanitizable molecules.** Recent RDKit (2024.09 and later) rejects some SMILES that older
versions accepted because they break its valence rules, e.g. hypervalent aluminium, boron or
germanium such as ``CC(=O)O[AlH3](O)O``: 7 rows of MoleculeNet HIV and 8 of Tox21. The rule
(:mod:`molgraphpt.chem.valence`): a molecule that fails full sanitization is kept only if every
problem RDKit finds is an over-valent atom of an element that can really be hypervalent (B, Al,
Si, P, S, Ge, As, Se, Sb, Te, I, Xe, metals, ...). An over-valent H, C, N, O, F, Cl or Br (say
``C(C)(C)(C)(C)C``, ``[CH5]``, ``FC(F)(F)(F)F``, a neutral ``O(C)(C)C``) is a mistake and always
invalid, as are syntax errors and kekulization failures. The ``unsanitizable`` argument decides
what happens to the molecules the rule would keep:

* ``"partial"`` (default): parse without sanitization, remove explicit Hs, compute implicit
  valences without the valence check (``UpdatePropertyCache(strict=False)``), run every other
  sanitization step (``SANITIZE_ALL ^ SANITIZE_PROPERTIES``: ring perception, kekulization,
  aromaticity, conjugation, hybridization, chirality clean-up) and assign stereochemistry, in the
  order a normal parse does. The result is marked ``partial=True``. On the molecules that do
  sanitize (HIV, Tox21, ChEBI-20 test, 60k each of MOSES and L+M-24) it gives features identical to
  a full parse. If any of the other steps fails (say, kekulization), the SMILES is invalid.
* ``"invalid"``: raise :class:`~molgraphpt.errors.InvalidSmilesError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rdkit import Chem, rdBase

from molgraphpt._logging import rdkit_log_capture
from molgraphpt.chem.guards import (
    MAX_HEAVY_ATOMS,
    MAX_SMILES_LENGTH,
    check_heavy_atoms,
    check_limits,
    check_smiles_text,
)
from molgraphpt.chem.valence import valence_verdict
from molgraphpt.errors import ConfigError, InvalidSmilesError

__all__ = ["ParsedMol", "Unsanitizable", "canonical_smiles", "parse_smiles"]

#: What to do with a molecule that parses but fails RDKit's valence checks.
Unsanitizable = Literal["partial", "invalid"]
_POLICIES = ("partial", "invalid")
_PARTIAL_OPS = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
_SANITIZE_NONE = Chem.SanitizeFlags.SANITIZE_NONE
_PREFIX = re.compile(r"^(\[\d\d:\d\d:\d\d\] ?)?(SMILES Parse Error: ?)?")
_GENERIC_REASON = "RDKit could not parse it"
_MAX_REASON = 200  # RDKit echoes the whole input in its messages


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


def parse_smiles(
    smiles: str,
    *,
    unsanitizable: Unsanitizable = "partial",
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> ParsedMol:
    """Parse a SMILES string into an RDKit molecule.

    Args:
        smiles: The SMILES; surrounding whitespace is ignored.
        unsanitizable: ``"partial"`` or ``"invalid"``: what to do with a molecule that fails
            RDKit's valence checks only on atoms that can be hypervalent (see the module
            docstring).
        max_smiles_length: Longest accepted SMILES in characters (checked before parsing).
        max_heavy_atoms: Most heavy atoms an accepted molecule may have.

    Returns:
        The molecule, and whether it needed partial sanitization.

    Raises:
        InvalidSmilesError: If the value is not a string, is empty, holds a non-ASCII or control
            character, is too long, does not parse, has no atoms or too many, has an impossible
            valence, or (with ``unsanitizable="invalid"``) fails the valence checks at all.
        ConfigError: If ``unsanitizable`` is not one of the two policies or a limit is not a
            positive integer.
    """
    check_policy(unsanitizable)
    check_limits(max_smiles_length, max_heavy_atoms)
    with rdkit_log_capture():
        mol, partial = _parse(smiles, unsanitizable, max_smiles_length, max_heavy_atoms)
    return ParsedMol(mol, partial)


def canonical_smiles(
    smiles: str,
    *,
    unsanitizable: Unsanitizable = "partial",
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> str:
    """Return RDKit's canonical isomeric SMILES of ``smiles``.

    Args:
        smiles: The SMILES.
        unsanitizable: As :func:`parse_smiles`.
        max_smiles_length: As :func:`parse_smiles`.
        max_heavy_atoms: As :func:`parse_smiles`.

    Raises:
        InvalidSmilesError: As :func:`parse_smiles`.
    """
    parsed = parse_smiles(
        smiles,
        unsanitizable=unsanitizable,
        max_smiles_length=max_smiles_length,
        max_heavy_atoms=max_heavy_atoms,
    )
    with rdkit_log_capture():
        return Chem.MolToSmiles(parsed.mol)


def check_policy(unsanitizable: str) -> None:
    """Raise :class:`ConfigError` unless ``unsanitizable`` is ``"partial"`` or ``"invalid"``."""
    if unsanitizable not in _POLICIES:
        raise ConfigError(
            "unsanitizable", unsanitizable, expected="one of " + ", ".join(map(repr, _POLICIES))
        )


def _parse(
    smiles: str,
    unsanitizable: str,
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> tuple[Chem.Mol, bool]:
    """Parse without touching RDKit's log (the caller silences it). Hot path of featurization."""
    text = check_smiles_text(smiles, max_smiles_length=max_smiles_length)
    mol = Chem.MolFromSmiles(text)
    partial = mol is None
    if partial:
        mol = _parse_unsanitized(smiles, text, unsanitizable)
    elif not mol.GetNumAtoms():
        raise InvalidSmilesError(smiles, "the molecule has no atoms")
    if "*" in text and all(atom.GetAtomicNum() == 0 for atom in mol.GetAtoms()):
        raise InvalidSmilesError(
            smiles,
            "the molecule has only dummy atoms ('*'): nothing to featurize; remove the row or "
            "write the real atoms",
        )
    check_heavy_atoms(mol, smiles, max_heavy_atoms)
    return mol, partial


def _parse_unsanitized(smiles: str, text: str, unsanitizable: str) -> Chem.Mol:
    """Slow path: say why a full parse failed, or sanitize partially (see module docstring)."""
    with _capture_error_log() as cap:
        mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        raise InvalidSmilesError(smiles, _rdkit_reason(_log_text(cap)))
    if not mol.GetNumAtoms():
        raise InvalidSmilesError(smiles, "the molecule has no atoms")
    verdict = valence_verdict(mol)
    if not verdict.acceptable:
        raise InvalidSmilesError(smiles, _rdkit_reason(verdict.reason or _sanitize_error(mol)))
    reason = _rdkit_reason(verdict.reason)
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


def _sanitize_error(mol: Chem.Mol) -> str:
    """RDKit's message for why a full sanitization of (a copy of) ``mol`` fails."""
    try:
        Chem.SanitizeMol(Chem.Mol(mol))
    except Exception as err:  # RDKit raises several MolSanitizeException subclasses
        return _decoded(err)
    return _GENERIC_REASON


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
    first = lines[0] if len(lines[0]) <= _MAX_REASON else f"{lines[0][:_MAX_REASON]}..."
    return f"{first} ({where[0]})" if where else first


def _log_text(capture: Any) -> str:
    """The text of a ``CaptureErrorLog``, never raising.

    RDKit cuts long log lines by bytes, possibly inside a UTF-8 character, and its ``messages``
    property then fails to decode them: the bytes are recovered and decoded with replacement.
    """
    try:
        return str(getattr(capture, "messages", ""))
    except UnicodeDecodeError as err:
        raw = err.object
        return bytes(raw).decode("utf-8", errors="replace")


def _decoded(err: Exception) -> str:
    """``str(err)`` of an RDKit exception, never raising (see :func:`_log_text`)."""
    try:
        return str(err)
    except UnicodeDecodeError as decode_err:
        return bytes(decode_err.object).decode("utf-8", errors="replace")


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
