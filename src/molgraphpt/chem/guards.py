r"""What a SMILES must be before RDKit sees it, and how big a parsed molecule may be.

Every entry point that parses SMILES runs :func:`check_smiles_text` first (one function, not
copies): :func:`~molgraphpt.chem.smiles.parse_smiles` and everything built on it
(:func:`~molgraphpt.chem.parallel.featurize_smiles`,
:func:`~molgraphpt.chem.graph.smiles_to_graph`, canonical-SMILES hashing), the scaffold of
:mod:`~molgraphpt.chem.splits` and :class:`~molgraphpt.chem.smiles_tokenizer.SmilesTokenizer`.
A SMILES that breaks a rule is an :class:`~molgraphpt.errors.InvalidSmilesError` saying which rule,
so ``on_invalid="skip"`` drops and counts it like any other invalid row.

* **A string.** NaN (pandas' empty cell), None or bytes are invalid.
* **Surrounding whitespace is ignored** (``str.strip``, Unicode spaces included, as the feature
  stores do when they record a SMILES); a SMILES that is only whitespace is empty.
* **ASCII only.** SMILES is an ASCII language, so any other character (a fullwidth ``Ｃ``, a Greek
  letter, a lone surrogate such as ``'\udcff'`` left by ``errors="surrogateescape"``) is named with
  its code point and 1-based position, and RDKit never sees it (RDKit's log of such a string
  could not even be decoded).
* **No control characters** (ASCII 0-31 and 127) inside: RDKit would cut the SMILES at a tab or
  line break without a word. A space inside is left to RDKit, which reads what follows it as the
  molecule's name or CXSMILES extensions.
* **At most** :data:`MAX_SMILES_LENGTH` **characters** (after stripping), checked before parsing:
  RDKit's ring perception is quadratic to cubic in the size of the molecule (``'C1' + 'C' * 7996
  + 'C1'`` takes 2-4 s to parse, ``'C' * 20000`` 0.6 s to featurize). The longest SMILES in the
  shipped data has 1,598 characters (ChEBI-20 validation; MoleculeNet: SIDER 1,340, HIV 580; L+M-24
  train_props 990; MOSES 57; ZINC subset 105). At the limit of 3,000 the slowest shapes we found
  take 0.3-0.5 s to featurize or reject on one core (a 2,998-atom ring; a fused ring ladder of
  740 atoms), and ``'C' * 3000`` 0.01 s (rejected by the heavy-atom limit).
* **At most** :data:`MAX_HEAVY_ATOMS` **heavy atoms** after parsing
  (:func:`check_heavy_atoms`). The largest molecule in the shipped data has 574 (ChEBI-20
  validation; SIDER 492, L+M-24 468, HIV 222).

Both limits are keyword arguments (``max_smiles_length``, ``max_heavy_atoms``) of every chem
function that parses; the module constants are their defaults.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from molgraphpt.errors import ConfigError, InvalidSmilesError

__all__ = [
    "MAX_HEAVY_ATOMS",
    "MAX_SMILES_LENGTH",
    "check_heavy_atoms",
    "check_limits",
    "check_smiles_text",
]

#: Default maximum SMILES length in characters (surrounding whitespace not counted).
MAX_SMILES_LENGTH = 3000
#: Default maximum number of heavy (non-hydrogen) atoms of a parsed molecule.
MAX_HEAVY_ATOMS = 1500
_SHOWN = 60  # characters of an over-long SMILES kept in its error


def check_smiles_text(smiles: Any, *, max_smiles_length: int = MAX_SMILES_LENGTH) -> str:
    """Check a SMILES against the rules of the module docstring; return it stripped.

    Args:
        smiles: The value read as a SMILES (anything: this is what checks it is a string).
        max_smiles_length: Longest accepted SMILES, in characters, after stripping.

    Returns:
        ``smiles.strip()``, ready for RDKit.

    Raises:
        InvalidSmilesError: ``smiles`` is not a string, is empty or only whitespace, holds a
            non-ASCII or control character, or is longer than ``max_smiles_length``.
    """
    if not isinstance(smiles, str):
        raise InvalidSmilesError(_describe(smiles), _not_a_string(smiles))
    text = smiles.strip()
    if not (text.isascii() and text.isprintable()):
        _raise_bad_character(smiles)
    if not text:
        raise InvalidSmilesError(smiles, "empty SMILES string")
    if len(text) > max_smiles_length:
        raise InvalidSmilesError(
            f"{text[:_SHOWN]}...",
            f"it has {len(text)} characters, more than the limit of {max_smiles_length} "
            f"(max_smiles_length); pass a larger max_smiles_length if this molecule is real",
        )
    return text


def check_heavy_atoms(mol: Any, smiles: str, max_heavy_atoms: int = MAX_HEAVY_ATOMS) -> None:
    """Raise unless the parsed ``mol`` has at most ``max_heavy_atoms`` heavy atoms.

    Args:
        mol: An RDKit molecule.
        smiles: Its SMILES, named in the error.
        max_heavy_atoms: The limit.

    Raises:
        InvalidSmilesError: The molecule has more heavy atoms than ``max_heavy_atoms``.
    """
    count = mol.GetNumHeavyAtoms()
    if count > max_heavy_atoms:
        shown = smiles if len(smiles) <= _SHOWN else f"{smiles[:_SHOWN]}..."
        raise InvalidSmilesError(
            shown,
            f"the molecule has {count} heavy atoms, more than the limit of {max_heavy_atoms} "
            f"(max_heavy_atoms); pass a larger max_heavy_atoms if this molecule is real",
        )


def check_limits(max_smiles_length: object, max_heavy_atoms: object) -> None:
    """Raise :class:`ConfigError` unless both limits are positive integers."""
    limits = {"max_smiles_length": max_smiles_length, "max_heavy_atoms": max_heavy_atoms}
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(name, value, expected="a positive integer")


def _describe(value: object) -> str:
    """A short printable description of a non-string value."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _not_a_string(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, float) and value != value:
        return "expected a string, got float NaN (an empty cell read by pandas?)"
    if isinstance(value, (bytes, bytearray)):
        return f"expected a string, got {kind}; decode it first (value.decode('ascii'))"
    return f"expected a string, got {kind}"


def _raise_bad_character(smiles: str) -> None:
    """Raise for the first non-ASCII or control character inside ``smiles`` (1-based position)."""
    text = smiles.strip()
    offset = len(smiles) - len(smiles.lstrip())
    for position, char in enumerate(text, offset + 1):
        if not (char.isascii() and char.isprintable()):
            raise InvalidSmilesError(smiles, _character_reason(char, position))
    raise AssertionError("unreachable: no bad character found")  # pragma: no cover


def _character_reason(char: str, position: int) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        byte = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else "bytes"
        return (
            f"lone surrogate {char!r} (U+{code:04X}) at position {position}: undecodable {byte} "
            f"kept by errors='surrogateescape'; the source is not UTF-8 text, fix its encoding"
        )
    if code < 128:
        return (
            f"control character {char!r} (U+{code:04X}) at position {position}; a SMILES holds "
            f"no tabs, line breaks or other control characters (a column separator or a line "
            f"break inside the field?)"
        )
    name = unicodedata.name(char, "unnamed character")
    ascii_form = unicodedata.normalize("NFKC", char)
    hint = f"retype it as {ascii_form!r}" if ascii_form.isascii() else "retype it"
    return (
        f"non-ASCII character {char!r} (U+{code:04X} {name}) at position {position}; SMILES "
        f"is ASCII — {hint}"
    )
