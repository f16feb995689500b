"""OGB-compatible categorical atom and bond vocabularies (``ogb.utils.features``).

Every atom is described by 9 integer columns and every bond by 3, each an index into a fixed
vocabulary whose last entry is a ``misc`` bucket. The vocabularies are those of OGB, so graphs
featurized here and OGB's own datasets feed the same embedding tables.
"""

from __future__ import annotations

#: Number of categories of each atom column: atomic number (1..118 + misc; index = Z - 1),
#: chirality tag, total degree, formal charge, total number of Hs, radical electrons,
#: hybridization, is aromatic, is in ring.
ATOM_FEATURE_DIMS: tuple[int, ...] = (119, 5, 12, 12, 10, 6, 6, 2, 2)
#: Number of categories of each bond column: bond type, bond stereo, is conjugated.
BOND_FEATURE_DIMS: tuple[int, ...] = (5, 6, 2)
#: Names of the atom columns, in order.
ATOM_FEATURE_NAMES: tuple[str, ...] = (
    "atomic_num", "chirality", "degree", "formal_charge", "num_hs",
    "num_radical_electrons", "hybridization", "is_aromatic", "is_in_ring",
)
#: Names of the bond columns, in order.
BOND_FEATURE_NAMES: tuple[str, ...] = ("bond_type", "bond_stereo", "is_conjugated")
#: Index a masked atom gets in column 0 (one past OGB's vocabulary), used by attribute masking.
MASK_ATOM_TYPE: int = ATOM_FEATURE_DIMS[0]
#: Bumped whenever the features a SMILES maps to change; part of every cache fingerprint.
FEATURIZER_VERSION: str = "ogb-v1.1"
