"""Which valence failures are chemistry and which are mistakes: the rule of partial sanitization.

RDKit 2024.09 and later reject some molecules older versions accepted because an atom exceeds
the valences RDKit allows it, although the compound is real: hypervalent aluminium, boron or
germanium complexes such as ``CC(=O)O[AlH3](O)O`` (7 rows of MoleculeNet HIV, 8 of Tox21). Other
valence failures are mistakes no chemistry allows: ``C(C)(C)(C)(C)C``, ``[CH5]``,
``FC(F)(F)(F)F``, a neutral ``O(C)(C)C``. :func:`valence_verdict` tells them apart:

* every sanitization problem RDKit finds must be a valence problem (a kekulization problem, say,
  is never accepted), and
* no over-valent atom may be one of :data:`NEVER_HYPERVALENT`: H, C, N, O, F, Cl, Br and the
  noble gases He and Ne. Charged forms RDKit itself accepts (``[N+](C)(C)(C)C``, nitro groups
  written ``N(=O)=O``) never reach this rule. Every other element can be hypervalent (B, Al, Si,
  P, S, Ge, As, Se, Sb, Te, I, Xe, the metals, whose coordination bonds SMILES writes as single
  bonds).

Over all of MoleculeNet and ChEBI-20 (val + test), the only rows that fail RDKit's checks are the
15 HIV/Tox21 rows, and each fails only on Al, B or Ge: all are still accepted. Interhalogens
(``ClF3``, ``BrF5``) are real but are rejected too: in molecular datasets an over-valent halogen is
far more often a typo.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

__all__ = ["NEVER_HYPERVALENT", "ValenceVerdict", "valence_verdict"]

#: Elements (atomic numbers) an over-valent atom may never be: H, He, C, N, O, F, Ne, Cl, Br.
NEVER_HYPERVALENT: frozenset[int] = frozenset({1, 2, 6, 7, 8, 9, 10, 17, 35})
_VALENCE = "AtomValenceException"


@dataclass(frozen=True)
class ValenceVerdict:
    """What RDKit's sanitization found wrong with a molecule, and whether the rule accepts it.

    Attributes:
        acceptable: True if every problem is an over-valent atom of an element that can be
            hypervalent, so partial sanitization may keep the molecule.
        reason: RDKit's message for the deciding problem (the first one that is not acceptable,
            else the first one), with what makes it impossible when it is.
    """

    acceptable: bool
    reason: str


def valence_verdict(mol: Chem.Mol) -> ValenceVerdict:
    """Judge an unsanitized molecule that fails RDKit's sanitization (see the module docstring).

    Args:
        mol: A molecule from ``Chem.MolFromSmiles(smiles, sanitize=False)``; not modified.

    Returns:
        The verdict. A molecule on which RDKit finds no problem at all is not acceptable (its
        failure was elsewhere; the caller has the reason).
    """
    problems = Chem.DetectChemistryProblems(mol)
    if not problems:
        return ValenceVerdict(False, "")
    for problem in problems:
        if problem.GetType() != _VALENCE:
            return ValenceVerdict(False, problem.Message())
        atom = mol.GetAtomWithIdx(problem.GetAtomIdx())
        if atom.GetAtomicNum() in NEVER_HYPERVALENT:
            return ValenceVerdict(False, f"{problem.Message()}: {_impossible(atom)}")
    return ValenceVerdict(True, problems[0].Message())


def _impossible(atom: Chem.Atom) -> str:
    """Why an over-valent atom of a ``NEVER_HYPERVALENT`` element is a mistake."""
    charge = atom.GetFormalCharge()
    state = f"charge {charge:+d}" if charge else "no charge"
    return (
        f"no chemistry gives {atom.GetSymbol()} with {state} that valence (a missing charge, "
        f"a missing or extra bond, or a hydrogen count in brackets?)"
    )
