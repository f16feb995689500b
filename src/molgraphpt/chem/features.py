"""OGB-compatible categorical atom and bond vocabularies (``ogb.utils.features``).

Every atom is described by 9 integer columns and every bond by 3, each an index into a fixed
vocabulary whose last entry is a ``misc`` bucket. The vocabularies are those of OGB, so graphs
featurized here and OGB's own datasets feed the same embedding tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rdkit import Chem

#: Number of categories of each atom column: atomic number (1..118 + misc; index = Z - 1),
#: chirality tag, total degree, formal charge, total number of Hs, radical electrons,
#: hybridization, is aromatic, is in ring.
ATOM_FEATURE_DIMS: tuple[int, ...] = (119, 5, 12, 12, 10, 6, 6, 2, 2)
#: Number of categories of each bond column: bond type, bond stereo, is conjugated.
BOND_FEATURE_DIMS: tuple[int, ...] = (5, 6, 2)
#: Names of the atom columns, in order.
ATOM_FEATURE_NAMES: tuple[str, ...] = (
    "atomic_num",
    "chirality",
    "degree",
    "formal_charge",
    "num_hs",
    "num_radical_electrons",
    "hybridization",
    "is_aromatic",
    "is_in_ring",
)
#: Names of the bond columns, in order.
BOND_FEATURE_NAMES: tuple[str, ...] = ("bond_type", "bond_stereo", "is_conjugated")
#: Index a masked atom gets in column 0 (one past OGB's vocabulary), used by attribute masking.
MASK_ATOM_TYPE: int = ATOM_FEATURE_DIMS[0]
#: Bumped whenever the features a SMILES maps to, or which SMILES are accepted, change; part of
#: every cache fingerprint. v1.2: non-ASCII text, over-long SMILES, more than 1,500 heavy atoms and
#: impossible valences (an over-valent C, N, O, ...; :mod:`molgraphpt.chem.valence`) are invalid.
FEATURIZER_VERSION: str = "ogb-v1.2"

#: OGB's vocabulary of each atom column (``ogb.utils.features.allowable_features``): the value
#: at position ``i`` is what index ``i`` stands for. Out-of-vocabulary values go to the last
#: index, the ``"misc"`` bucket. RDKit enums are named by their ``str()``, as OGB does.
ATOM_VOCABS: tuple[tuple[object, ...], ...] = (
    (*range(1, 119), "misc"),  # atomic number; a dummy atom "*" (Z = 0) is misc
    ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER", "misc"),
    (*range(11), "misc"),  # total degree (heavy and H neighbours)
    (*range(-5, 6), "misc"),  # formal charge
    (*range(9), "misc"),  # total number of Hs
    (*range(5), "misc"),  # radical electrons
    ("SP", "SP2", "SP3", "SP3D", "SP3D2", "misc"),  # hybridization
    (False, True),  # is aromatic
    (False, True),  # is in ring
)
#: OGB's vocabulary of each bond column. Bond stereo has no ``"misc"`` entry in OGB (which
#: crashes on atropisomer stereo); here an unknown stereo maps to the last index, STEREOANY.
BOND_VOCABS: tuple[tuple[object, ...], ...] = (
    ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC", "misc"),
    ("STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"),
    (False, True),
)


def vocab_index(vocab: tuple[object, ...], value: object) -> int:
    """Return the index of ``value`` in ``vocab``, or the last (misc) index if it is absent.

    This is OGB's ``safe_index``.
    """
    try:
        return vocab.index(value)
    except ValueError:
        return len(vocab) - 1


def atom_features(atom: Chem.Atom) -> list[int]:
    """Reference (slow, readable) OGB featurization of one RDKit atom.

    :func:`molgraphpt.chem.graph.mol_to_arrays` computes the same values much faster; this
    function defines what they mean.

    Args:
        atom: An atom of a sanitized (or partially sanitized) molecule.

    Returns:
        9 indices, one per column of :data:`ATOM_FEATURE_NAMES`.
    """
    values = (
        atom.GetAtomicNum(),
        str(atom.GetChiralTag()),
        atom.GetTotalDegree(),
        atom.GetFormalCharge(),
        atom.GetTotalNumHs(),
        atom.GetNumRadicalElectrons(),
        str(atom.GetHybridization()),
        atom.GetIsAromatic(),
        atom.IsInRing(),
    )
    return [vocab_index(v, x) for v, x in zip(ATOM_VOCABS, values)]


def bond_features(bond: Chem.Bond) -> list[int]:
    """Reference (slow, readable) OGB featurization of one RDKit bond.

    Args:
        bond: A bond of a sanitized (or partially sanitized) molecule.

    Returns:
        3 indices, one per column of :data:`BOND_FEATURE_NAMES`.
    """
    values = (str(bond.GetBondType()), str(bond.GetStereo()), bond.GetIsConjugated())
    return [vocab_index(v, x) for v, x in zip(BOND_VOCABS, values)]
