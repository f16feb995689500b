r"""RDKit molecule → numpy graph with OGB's categorical features, fast.

:func:`smiles_to_graph` returns the same arrays, in the same order and dtype, as
``ogb.utils.smiles2graph`` (``node_feat``, ``edge_index``, ``edge_feat``): atoms in RDKit order,
and each bond as two directed edges ``(i, j)`` then ``(j, i)``, in bond order. The vocabularies
are those of :mod:`molgraphpt.chem.features`. Where OGB would crash, we use the last index of
the column instead: a bond stereo outside OGB's list (atropisomer ``STEREOATROPCW/CCW``) maps to
5. Values OGB already sends to its ``misc`` bucket go there here too: a dummy atom ``*``
(atomic number 0) has atomic-number index 118, a chirality tag such as ``CHI_TETRAHEDRAL``,
``CHI_ALLENE`` or ``CHI_SQUAREPLANAR`` index 4, hybridization ``S``/``SP2D``/``UNSPECIFIED``
index 5, and dative or other exotic bond types index 4.

Speed: about 1.5x ``ogb.utils.smiles2graph`` per call (and 1.6x through
:func:`~molgraphpt.chem.parallel.featurize_smiles` in one process), of which RDKit's own
``MolFromSmiles`` is half. The rest is the cost of calling RDKit from Python (a few hundred
nanoseconds per call, twice that for a call returning an enum or an atom), so the code makes as
few calls as it can: columns are gathered with ``map`` over unbound RDKit methods; enums are
mapped through tuples indexed by their value (no ``str()``, no ``list.index``); the degree is the
bond count plus the total H count (exactly RDKit's ``GetTotalDegree``); chirality, charge and
radicals, almost always 0, are read only for the atoms one RDKit query returns; bond stereo is not
read at all when the SMILES has no ``/``, ``\`` or ``|``; and the bytes of a molecule become
numpy arrays in one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import add

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdqueries

from molgraphpt._logging import rdkit_log_capture
from molgraphpt.chem.features import ATOM_VOCABS, BOND_VOCABS, vocab_index
from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH, check_limits
from molgraphpt.chem.smiles import Unsanitizable, _parse, check_policy

__all__ = [
    "MolGraph",
    "arrays_to_graph",
    "may_have_stereo_bonds",
    "mol_to_arrays",
    "mol_to_graph",
    "smiles_to_graph",
]


@dataclass(frozen=True)
class MolGraph:
    """A molecule as a graph of categorical OGB features (numpy, no torch).

    Attributes:
        x: Atom features, int64 ``[num_nodes, 9]``.
        edge_index: Directed edges, int64 ``[2, num_edges]``; each bond appears twice.
        edge_attr: Edge features, int64 ``[num_edges, 3]``.
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray

    @property
    def num_nodes(self) -> int:
        """Number of atoms."""
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        """Number of directed edges (twice the number of bonds)."""
        return int(self.edge_index.shape[1])


def _enum_lut(enum: type, vocab: tuple[object, ...]) -> tuple[int, ...]:
    """Map every integer value of an RDKit enum to its index in ``vocab`` (by enum name)."""
    size = max(int(v) for v in enum.values) + 1
    lut = [len(vocab) - 1] * size
    for value, member in enum.values.items():
        lut[int(value)] = vocab_index(vocab, str(member))
    return tuple(lut)


_Z_LUT = tuple(vocab_index(ATOM_VOCABS[0], z) for z in range(256)).__getitem__
_CHIRAL_LUT = _enum_lut(Chem.ChiralType, ATOM_VOCABS[1])
_CHARGE_LUT = {c: i for i, c in enumerate(ATOM_VOCABS[3][:-1])}
_HYB_LUT = _enum_lut(Chem.HybridizationType, ATOM_VOCABS[6]).__getitem__
_BOND_TYPE_LUT = _enum_lut(Chem.BondType, BOND_VOCABS[0]).__getitem__
_STEREO_LUT = _enum_lut(Chem.BondStereo, BOND_VOCABS[1]).__getitem__
_DEGREE_MISC, _CHARGE_MISC, _NUM_HS_MISC, _RADICAL_MISC = (len(v) - 1 for v in ATOM_VOCABS[2:6])
_CHARGE_ZERO = bytes([_CHARGE_LUT[0]])
_DEGREE_LUT = tuple(min(v, _DEGREE_MISC) for v in range(64)).__getitem__
_NUM_HS_LUT = tuple(min(v, _NUM_HS_MISC) for v in range(64)).__getitem__

_A, _B = Chem.Atom, Chem.Bond
_ATOMIC_NUM, _NUM_HS, _HYB = _A.GetAtomicNum, _A.GetTotalNumHs, _A.GetHybridization
_AROMATIC, _IN_RING = _A.GetIsAromatic, _A.IsInRing
_BEGIN, _END, _BOND_TYPE = _B.GetBeginAtomIdx, _B.GetEndAtomIdx, _B.GetBondType
_STEREO, _CONJUGATED = _B.GetStereo, _B.GetIsConjugated

# Atoms with a chiral tag, a formal charge or radical electrons: few, so they are read one by one.
_RARE_ATOMS = rdqueries.HasChiralTagQueryAtom()
_RARE_ATOMS.ExpandQuery(
    rdqueries.FormalChargeEqualsQueryAtom(0, negate=True), Chem.CompositeQueryType.COMPOSITE_OR
)
_RARE_ATOMS.ExpandQuery(
    rdqueries.NumRadicalElectronsEqualsQueryAtom(0, negate=True),
    Chem.CompositeQueryType.COMPOSITE_OR,
)


def _columns(mol: Chem.Mol, stereo: bool = True) -> tuple[list[bytes], list[int], list[int]]:
    r"""Features of one molecule, column by column: the core of every featurizer here.

    Args:
        mol: A sanitized (or partially sanitized) molecule.
        stereo: Whether bonds may have stereo. If False, every bond gets STEREONONE without
            asking RDKit (see :func:`may_have_stereo_bonds`).

    Returns:
        ``cols``: 12 byte strings, the 9 atom columns (``num_atoms`` bytes each) then the 3 bond
        columns (``num_bonds`` bytes each); ``begin`` and ``end``: the atoms of each bond.
    """
    n = mol.GetNumAtoms()
    m = mol.GetNumBonds()
    bonds = list(map(mol.GetBondWithIdx, range(m)))
    begin = list(map(_BEGIN, bonds))
    end = list(map(_END, bonds))
    degree = [0] * n
    for i in begin:
        degree[i] += 1
    for i in end:
        degree[i] += 1
    atoms = list(map(mol.GetAtomWithIdx, range(n)))
    num_hs = list(map(_NUM_HS, atoms))
    chiral, charge, radical = bytes(n), _CHARGE_ZERO * n, bytes(n)
    rare = mol.GetAtomsMatchingQuery(_RARE_ATOMS)
    if len(rare):
        chiral, charge, radical = bytearray(chiral), bytearray(charge), bytearray(radical)
        for atom in rare:
            i = atom.GetIdx()
            chiral[i] = _CHIRAL_LUT[atom.GetChiralTag()]
            charge[i] = _CHARGE_LUT.get(atom.GetFormalCharge(), _CHARGE_MISC)
            radical[i] = min(atom.GetNumRadicalElectrons(), _RADICAL_MISC)
    total_degree = list(map(add, degree, num_hs))
    try:
        degree_col = bytes(map(_DEGREE_LUT, total_degree))
        num_hs_col = bytes(map(_NUM_HS_LUT, num_hs))
    except IndexError:  # 64 or more neighbours: no real molecule, but stay exact
        degree_col = bytes(map(min, total_degree, repeat(_DEGREE_MISC)))
        num_hs_col = bytes(map(min, num_hs, repeat(_NUM_HS_MISC)))
    cols = [
        bytes(map(_Z_LUT, map(_ATOMIC_NUM, atoms))),
        chiral,
        degree_col,
        charge,
        num_hs_col,
        radical,
        bytes(map(_HYB_LUT, map(_HYB, atoms))),
        bytes(map(_AROMATIC, atoms)),
        bytes(map(_IN_RING, atoms)),
        bytes(map(_BOND_TYPE_LUT, map(_BOND_TYPE, bonds))),
        bytes(map(_STEREO_LUT, map(_STEREO, bonds))) if stereo else bytes(m),
        bytes(map(_CONJUGATED, bonds)),
    ]
    return cols, begin, end


def _rows(columns: list[bytes], length: int) -> np.ndarray:
    """View byte columns of equal ``length`` as a uint8 ``[length, k]`` array (not contiguous)."""
    return np.frombuffer(b"".join(columns), dtype=np.uint8).reshape(len(columns), length).T


def _arrays(
    mol: Chem.Mol, stereo: bool = True, contiguous: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols, begin, end = _columns(mol, stereo)
    bond_atoms = np.empty((len(begin), 2), dtype=np.int64)
    bond_atoms[:, 0] = begin
    bond_atoms[:, 1] = end
    atom_feats, bond_feats = _rows(cols[:9], len(cols[0])), _rows(cols[9:], len(begin))
    if contiguous:
        atom_feats, bond_feats = atom_feats.copy(), bond_feats.copy()  # C order, writable
    return atom_feats, bond_atoms, bond_feats


def mol_to_arrays(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compact OGB featurization of a molecule, one row per atom and one per bond.

    Args:
        mol: A sanitized (or partially sanitized) RDKit molecule, e.g. from
            :func:`~molgraphpt.chem.smiles.parse_smiles`. Explicit H atoms, if it has any, are
            atoms like any other (as in OGB).

    Returns:
        ``atom_feats`` uint8 ``[num_atoms, 9]``; ``bond_atoms`` int64 ``[num_bonds, 2]`` (begin
        and end atom of each bond, in bond order); ``bond_feats`` uint8 ``[num_bonds, 3]``.
    """
    return _arrays(mol)


def arrays_to_graph(
    atom_feats: np.ndarray, bond_atoms: np.ndarray, bond_feats: np.ndarray
) -> MolGraph:
    """Expand the compact arrays of :func:`mol_to_arrays` into a :class:`MolGraph`.

    Bond ``k`` between atoms ``i`` and ``j`` becomes edges ``2k = (i, j)`` and ``2k+1 = (j, i)``,
    both with the bond's features, as in OGB.

    Args:
        atom_feats: ``[num_atoms, 9]`` atom features.
        bond_atoms: ``[num_bonds, 2]`` bond endpoints.
        bond_feats: ``[num_bonds, 3]`` bond features.

    Returns:
        The graph, with int64 arrays.
    """
    num_bonds = len(bond_atoms)
    edge_index = np.empty((2, num_bonds, 2), dtype=np.int64)
    edge_index[0] = bond_atoms
    edge_index[1] = bond_atoms[:, ::-1]
    width = bond_feats.shape[1]
    edge_attr = np.empty((num_bonds, 2, width), dtype=np.int64)
    edge_attr[:] = bond_feats[:, None, :]
    return MolGraph(
        x=atom_feats.astype(np.int64, order="C"),
        edge_index=edge_index.reshape(2, 2 * num_bonds),
        edge_attr=edge_attr.reshape(2 * num_bonds, width),
    )


def mol_to_graph(mol: Chem.Mol) -> MolGraph:
    """Featurize an RDKit molecule into a :class:`MolGraph` (``mol_to_arrays``, expanded)."""
    return arrays_to_graph(*mol_to_arrays(mol))


def smiles_to_graph(
    smiles: str,
    *,
    unsanitizable: Unsanitizable = "partial",
    max_smiles_length: int = MAX_SMILES_LENGTH,
    max_heavy_atoms: int = MAX_HEAVY_ATOMS,
) -> MolGraph:
    """Parse and featurize a SMILES; same arrays as ``ogb.utils.smiles2graph``.

    Args:
        smiles: The SMILES; surrounding whitespace is ignored.
        unsanitizable: Policy for molecules that fail RDKit's valence checks; see
            :mod:`molgraphpt.chem.smiles`.
        max_smiles_length: Longest accepted SMILES in characters (see
            :mod:`molgraphpt.chem.guards`).
        max_heavy_atoms: Most heavy atoms of an accepted molecule.

    Returns:
        The graph.

    Raises:
        InvalidSmilesError: If the SMILES is empty or invalid (see
            :func:`~molgraphpt.chem.smiles.parse_smiles`).
    """
    check_policy(unsanitizable)
    check_limits(max_smiles_length, max_heavy_atoms)
    with rdkit_log_capture():
        mol, _ = _parse(smiles, unsanitizable, max_smiles_length, max_heavy_atoms)
        return arrays_to_graph(*_arrays(mol, may_have_stereo_bonds(smiles), contiguous=False))


def may_have_stereo_bonds(smiles: str) -> bool:
    r"""False if no bond of the molecule a SMILES gives can have stereo (none of ``/\|``).

    Only directional bonds (``/``, ``\``) and CXSMILES extensions (``|``) give a bond stereo.
    Checked on about 250k SMILES (MoleculeNet, ChEBI-20, MOSES, L+M-24). Skipping the stereo
    of every bond saves about 6% of :func:`smiles_to_graph`'s time.
    """
    return "/" in smiles or "\\" in smiles or "|" in smiles
