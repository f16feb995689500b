from __future__ import annotations

import logging

import numpy as np
import pytest

from molgraphpt.chem import FeaturizedChunk, featurize_smiles, smiles_to_graph
from molgraphpt.errors import ConfigError, InvalidSmilesError

# 0-based rows: 2 and 5 are invalid, 4 needs partial sanitization.
SMILES = [
    "CCO",
    "c1ccccc1O",
    "C1CC",
    "[Na+].[Cl-]",
    "CC(=O)O[AlH3](O)O",
    "not_a_smiles",
    "F/C=C/F",
    "C",
    "C[C@H](N)C(=O)O",
    "*C(=O)O",
]
VALID = [0, 1, 3, 4, 6, 7, 8, 9]
ARRAYS = ("atom_feats", "bond_atoms", "bond_feats", "num_atoms", "num_bonds", "rows")
ARRAYS += ("partial_rows", "invalid_rows")


def assert_chunks_equal(a: FeaturizedChunk, b: FeaturizedChunk) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.invalid_examples == b.invalid_examples


def test_skip_keeps_order_and_counts() -> None:
    out = featurize_smiles(SMILES, on_invalid="skip", chunk_size=3)
    assert out.rows.tolist() == VALID and out.num_molecules == len(VALID)
    assert out.invalid_rows.tolist() == [2, 5]
    assert out.partial_rows.tolist() == [4]
    examples = [(row, smi) for row, smi, _ in out.invalid_examples]
    assert examples == [(2, "C1CC"), (5, "not_a_smiles")]
    assert "unclosed ring" in out.invalid_examples[0][2]
    assert out.atom_feats.dtype == np.uint8 and out.atom_feats.shape == (out.num_atoms.sum(), 9)
    assert out.bond_feats.dtype == np.uint8 and out.bond_feats.shape == (out.num_bonds.sum(), 3)
    assert out.bond_atoms.dtype == np.int64 and out.bond_atoms.shape == (out.num_bonds.sum(), 2)
    for k, row in enumerate(out.rows):
        expected, got = smiles_to_graph(SMILES[row]), out.graph(k)
        assert np.array_equal(got.x, expected.x)
        assert np.array_equal(got.edge_index, expected.edge_index)  # local atom indices
        assert np.array_equal(got.edge_attr, expected.edge_attr)
    assert np.array_equal(out.graph(-1).x, smiles_to_graph(SMILES[-1]).x)
    with pytest.raises(IndexError):
        out.graph(len(VALID))


def test_skip_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="molgraphpt.chem.parallel"):
        featurize_smiles(SMILES, on_invalid="skip", source="mols.csv")
    assert "skipped 2 invalid SMILES of 10 in mols.csv" in caplog.text


def test_raise_names_the_first_invalid_row_and_source() -> None:
    with pytest.raises(InvalidSmilesError) as info:
        featurize_smiles(SMILES, source="mols.csv", chunk_size=4)
    err = info.value
    assert (err.row, err.source, err.smiles) == (2, "mols.csv", "C1CC")
    assert "row 2 of mols.csv" in str(err)


def test_unsanitizable_invalid_policy() -> None:
    out = featurize_smiles(SMILES, on_invalid="skip", unsanitizable="invalid")
    assert out.invalid_rows.tolist() == [2, 4, 5] and len(out.partial_rows) == 0


def test_two_workers_match_one_and_preserve_order() -> None:
    smiles = SMILES * 7
    one = featurize_smiles(smiles, on_invalid="skip", chunk_size=4)
    two = featurize_smiles(smiles, on_invalid="skip", chunk_size=4, workers=2, progress=True)
    assert_chunks_equal(one, two)
    assert len(two.invalid_rows) == 14 and len(two.invalid_examples) == 10
    with pytest.raises(InvalidSmilesError) as info:
        featurize_smiles(smiles, chunk_size=3, workers=2)
    assert info.value.row == 2


def test_concat_of_streamed_parts_equals_one_pass() -> None:
    whole = featurize_smiles(SMILES, on_invalid="skip")
    parts = [
        featurize_smiles(SMILES[:4], on_invalid="skip"),
        featurize_smiles(SMILES[4:], on_invalid="skip", row_offset=4),
    ]
    assert_chunks_equal(FeaturizedChunk.concat(parts), whole)
    with pytest.raises(InvalidSmilesError) as info:
        featurize_smiles(SMILES[4:], row_offset=4)
    assert info.value.row == 5
    empty = FeaturizedChunk.concat([])
    assert empty.num_molecules == 0 and empty.atom_feats.shape == (0, 9)
    assert featurize_smiles([]).num_molecules == 0


def test_bad_arguments() -> None:
    for kwargs in ({"on_invalid": "drop"}, {"unsanitizable": "x"}, {"chunk_size": 0}):
        with pytest.raises(ConfigError):
            featurize_smiles(SMILES, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        featurize_smiles(SMILES, workers=-1)
    with pytest.raises(TypeError, match="one string"):
        featurize_smiles("CCO")
