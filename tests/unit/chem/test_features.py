from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rdkit import Chem

from molgraphpt.chem import features as F
from molgraphpt.chem.graph import mol_to_arrays

ogb_features = pytest.importorskip("ogb.utils.features")

FIXTURE = Path(__file__).parents[2] / "data" / "molecules.csv"


def fixture_mols() -> list[Chem.Mol]:
    with FIXTURE.open(newline="") as f:
        smiles = [row["smiles"] for row in csv.DictReader(f)]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [m for m in mols if m is not None]


def test_vocabularies_are_ogbs() -> None:
    allowed = ogb_features.allowable_features
    keys = [
        "possible_atomic_num_list",
        "possible_chirality_list",
        "possible_degree_list",
        "possible_formal_charge_list",
        "possible_numH_list",
        "possible_number_radical_e_list",
        "possible_hybridization_list",
        "possible_is_aromatic_list",
        "possible_is_in_ring_list",
    ]
    assert [list(v) for v in F.ATOM_VOCABS] == [allowed[k] for k in keys]
    bond_keys = ["possible_bond_type_list", "possible_bond_stereo_list"]
    bond_keys.append("possible_is_conjugated_list")
    assert [list(v) for v in F.BOND_VOCABS] == [allowed[k] for k in bond_keys]
    assert tuple(map(len, F.ATOM_VOCABS)) == F.ATOM_FEATURE_DIMS
    assert tuple(map(len, F.BOND_VOCABS)) == F.BOND_FEATURE_DIMS
    assert list(F.ATOM_FEATURE_DIMS) == ogb_features.get_atom_feature_dims()
    assert list(F.BOND_FEATURE_DIMS) == ogb_features.get_bond_feature_dims()
    assert len(F.ATOM_FEATURE_NAMES) == 9 and len(F.BOND_FEATURE_NAMES) == 3
    assert F.MASK_ATOM_TYPE == 119


def test_vocab_index_falls_back_to_misc() -> None:
    assert F.vocab_index(F.ATOM_VOCABS[0], 6) == 5
    assert F.vocab_index(F.ATOM_VOCABS[0], 0) == 118  # dummy atom
    assert F.vocab_index(F.ATOM_VOCABS[3], 7) == 11
    assert F.vocab_index(F.ATOM_VOCABS[1], "CHI_ALLENE") == 4


def test_reference_features_match_ogb_on_fixture() -> None:
    mols = fixture_mols()
    assert len(mols) > 300
    for mol in mols:
        for atom in mol.GetAtoms():
            assert F.atom_features(atom) == ogb_features.atom_to_feature_vector(atom)
        for bond in mol.GetBonds():
            assert F.bond_features(bond) == ogb_features.bond_to_feature_vector(bond)


def test_fast_features_match_reference_for_every_rdkit_enum_value() -> None:
    mol = Chem.RWMol(Chem.MolFromSmiles("CC(F)(Cl)Br"))
    atom, bond = mol.GetAtomWithIdx(1), mol.GetBondWithIdx(0)
    for tag in Chem.ChiralType.values.values():
        atom.SetChiralTag(tag)
        assert mol_to_arrays(mol)[0][1].tolist() == F.atom_features(atom), tag
    atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for hyb in Chem.HybridizationType.values.values():
        atom.SetHybridization(hyb)
        assert mol_to_arrays(mol)[0][1].tolist() == F.atom_features(atom), hyb
    for bond_type in Chem.BondType.values.values():
        bond.SetBondType(bond_type)
        assert mol_to_arrays(mol)[2][0].tolist() == F.bond_features(bond), bond_type
    alkene = Chem.RWMol(Chem.MolFromSmiles("FC=CF"))
    double = alkene.GetBondWithIdx(1)
    double.SetStereoAtoms(0, 3)
    for stereo in Chem.BondStereo.values.values():
        double.SetStereo(stereo)
        assert mol_to_arrays(alkene)[2][1].tolist() == F.bond_features(double), stereo


def test_out_of_range_values_go_to_misc() -> None:
    mol = Chem.RWMol(Chem.MolFromSmiles("CC"))
    atom = mol.GetAtomWithIdx(0)
    atom.SetFormalCharge(7)
    atom.SetNumRadicalElectrons(6)
    atom.SetNumExplicitHs(12)
    atom.SetNoImplicit(True)
    mol.UpdatePropertyCache(strict=False)
    row = mol_to_arrays(mol)[0][0]
    assert row.tolist() == F.atom_features(atom)
    assert (row[2], row[3], row[4], row[5]) == (11, 11, 9, 5)


def test_atropisomer_stereo_maps_to_last_index_where_ogb_crashes() -> None:
    mol = Chem.RWMol(Chem.MolFromSmiles("CC"))
    bond = mol.GetBondWithIdx(0)
    bond.SetStereo(Chem.BondStereo.STEREOATROPCW)
    with pytest.raises(ValueError):
        ogb_features.bond_to_feature_vector(bond)
    assert mol_to_arrays(mol)[2][0].tolist() == [0, 5, 0] == F.bond_features(bond)
