from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from molgraphpt.chem import (
    MolGraph,
    arrays_to_graph,
    canonical_smiles,
    mol_to_arrays,
    mol_to_graph,
    parse_smiles,
    smiles_to_graph,
)
from molgraphpt.chem.graph import may_have_stereo_bonds
from molgraphpt.errors import ConfigError, InvalidSmilesError

ogb_mol = pytest.importorskip("ogb.utils.mol")

FIXTURE = Path(__file__).parents[2] / "data" / "molecules.csv"
# Hypervalent rows that RDKit >= 2024.09 only parses without sanitization.
HYPERVALENT = ["CC(=O)O[AlH3](O)O", "Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1"]


def fixture_smiles() -> list[str]:
    with FIXTURE.open(newline="") as f:
        return [row["smiles"] for row in csv.DictReader(f)]


def assert_same_as_ogb(smiles: str, graph: MolGraph) -> None:
    ref = ogb_mol.smiles2graph(smiles)
    for ours, theirs in (
        (graph.x, ref["node_feat"]),
        (graph.edge_index, ref["edge_index"]),
        (graph.edge_attr, ref["edge_feat"]),
    ):
        assert ours.dtype == np.int64 and ours.shape == theirs.shape, smiles
        assert np.array_equal(ours, theirs), smiles
        assert ours.flags.c_contiguous
    assert graph.num_nodes == ref["num_nodes"]


def test_fixture_has_the_expected_sources() -> None:
    with FIXTURE.open(newline="") as f:
        sources = {row["source"] for row in csv.DictReader(f)}
    assert len(sources) == 6 and len(fixture_smiles()) >= 300


def test_identical_to_ogb_on_every_fixture_molecule_ogb_can_read() -> None:
    checked = 0
    for smiles in fixture_smiles():
        if Chem.MolFromSmiles(smiles) is None:  # ogb crashes on these (AttributeError)
            assert parse_smiles(smiles).partial
            continue
        assert_same_as_ogb(smiles, smiles_to_graph(smiles))
        checked += 1
    assert checked >= 300


EDGE_CASES = [
    "C",
    "[Na+].[Cl-]",
    "[13CH4]",
    "[2H]C",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "C/C=C\\C",
    "*C(=O)O",
    "C[N+](C)(C)C.[O-]C(=O)C",
    "[CH2]C",
    "[O]",
    "c1ccccc1O",
    "[H]/C(F)=C/F",
    "CN(=O)=O",
    "[NH3]->[Cu+2]",
]


@pytest.mark.parametrize("smiles", EDGE_CASES)
def test_edge_cases_identical_to_ogb(smiles: str) -> None:
    assert_same_as_ogb(smiles, smiles_to_graph(smiles))


def test_single_atom_and_bondless_shapes() -> None:
    graph = smiles_to_graph("C")
    assert graph.x.shape == (1, 9) and graph.num_edges == 0
    assert graph.edge_index.shape == (2, 0) and graph.edge_attr.shape == (0, 3)
    salt = smiles_to_graph("[Na+].[Cl-]")
    assert salt.num_nodes == 2 and salt.edge_index.shape == (2, 0)
    assert salt.x[:, 3].tolist() == [6, 4]  # formal charge +1, -1


def test_dummy_atom_is_misc_and_whitespace_is_stripped() -> None:
    assert smiles_to_graph("*C(=O)O").x[0, 0] == 118
    a, b = smiles_to_graph(" CCO \n"), smiles_to_graph("CCO")
    assert np.array_equal(a.x, b.x) and np.array_equal(a.edge_index, b.edge_index)


def test_stereo_features() -> None:
    assert smiles_to_graph("C[C@H](N)C(=O)O").x[1, 1] in (1, 2)
    assert smiles_to_graph("F/C=C/F").edge_attr[2].tolist() == [1, 2, 0]  # DOUBLE, STEREOE
    assert may_have_stereo_bonds("F/C=C/F") and not may_have_stereo_bonds("C[C@H](N)O")


@pytest.mark.parametrize("smiles", ["", "   ", "C1CC", "not_a_smiles", "c1cccc1"])
def test_invalid_smiles_raise_with_the_smiles_in_the_message(smiles: str) -> None:
    with pytest.raises(InvalidSmilesError) as info:
        smiles_to_graph(smiles)
    assert repr(smiles) in str(info.value) and info.value.smiles == smiles
    assert isinstance(info.value, ValueError)


def test_invalid_reasons_come_from_rdkit() -> None:
    with pytest.raises(InvalidSmilesError, match="unclosed ring"):
        parse_smiles("C1CC")
    with pytest.raises(InvalidSmilesError, match="empty"):
        parse_smiles("  ")
    with pytest.raises(InvalidSmilesError, match="expected a string"):
        parse_smiles(float("nan"))  # type: ignore[arg-type]


@pytest.mark.parametrize("smiles", HYPERVALENT)
def test_hypervalent_policy(smiles: str) -> None:
    parsed = parse_smiles(smiles)
    assert parsed.partial and parsed.mol.GetNumAtoms() > 0
    graph = smiles_to_graph(smiles)
    assert graph.num_nodes == parsed.mol.GetNumAtoms() and graph.num_edges > 0
    assert not parse_smiles("CCO").partial
    with pytest.raises(InvalidSmilesError, match="valence.*unsanitizable='partial'"):
        parse_smiles(smiles, unsanitizable="invalid")
    with pytest.raises(InvalidSmilesError):
        smiles_to_graph(smiles, unsanitizable="invalid")
    with pytest.raises(ConfigError):
        parse_smiles(smiles, unsanitizable="lenient")  # type: ignore[arg-type]


def test_partial_sanitization_sets_aromaticity_and_hybridization() -> None:
    x = smiles_to_graph("Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1").x
    assert x[1, 7] == 1 and x[1, 6] == 1  # aromatic ring carbon: aromatic, SP2
    al = smiles_to_graph("CC(=O)O[AlH3](O)O").x[4]
    assert al[0] == 12 and al[2] == 6 and al[4] == 3  # Al, degree 6, 3 Hs


def test_canonical_smiles() -> None:
    assert canonical_smiles("OCC") == canonical_smiles(" C(O)C ") == "CCO"
    assert canonical_smiles("C[C@H](N)C(=O)O") == "C[C@H](N)C(=O)O"
    with pytest.raises(InvalidSmilesError):
        canonical_smiles("C1CC")


def test_mol_to_graph_is_derived_from_mol_to_arrays() -> None:
    for smiles in fixture_smiles()[::7] + ["C", "[Na+].[Cl-]"]:
        mol = parse_smiles(smiles).mol
        atoms, ends, bonds = mol_to_arrays(mol)
        assert atoms.dtype == np.uint8 and atoms.shape == (mol.GetNumAtoms(), 9)
        assert ends.dtype == np.int64 and ends.shape == (mol.GetNumBonds(), 2)
        assert bonds.dtype == np.uint8 and bonds.shape == (mol.GetNumBonds(), 3)
        assert atoms.flags.c_contiguous and atoms.flags.writeable
        expected = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
        assert ends.tolist() == [list(e) for e in expected]
        graph = mol_to_graph(mol)
        assert np.array_equal(graph.x, atoms)
        assert np.array_equal(graph.edge_index[:, 0::2], ends.T)
        assert np.array_equal(graph.edge_index[:, 1::2], ends[:, ::-1].T)
        assert np.array_equal(graph.edge_attr[0::2], bonds)
        assert np.array_equal(graph.edge_attr[1::2], bonds)
        same = arrays_to_graph(atoms, ends, bonds)
        assert np.array_equal(same.edge_index, graph.edge_index)
        fast = smiles_to_graph(smiles)
        assert np.array_equal(fast.x, graph.x) and np.array_equal(fast.edge_attr, graph.edge_attr)
