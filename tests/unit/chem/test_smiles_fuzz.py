"""Property tests: whatever text reaches the featurizers, the only error is InvalidSmilesError.

300 examples per test by default; ``MOLGRAPHPT_FUZZ_EXAMPLES=20000`` runs a benchmark-sized
search with the same strategies (:mod:`tests.fuzz_strategies`).
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molgraphpt.chem import canonical_smiles, featurize_smiles, smiles_to_graph
from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.data.corpus import _hash_one
from molgraphpt.errors import InvalidSmilesError
from tests.fuzz_strategies import (
    SEED_SMILES,
    any_text,
    long_smiles,
    mutated_smiles,
    non_strings,
    smiles_inputs,
)

EXAMPLES = int(os.environ.get("MOLGRAPHPT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=5000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENIZER = SmilesTokenizer.train(list(SEED_SMILES) * 3, vocab_size=100)


def _single(value: object) -> bool:
    """Featurize one value; True if it was accepted. Only InvalidSmilesError may escape."""
    try:
        graph = smiles_to_graph(value)  # type: ignore[arg-type]
    except InvalidSmilesError as err:
        assert isinstance(err.reason, str) and err.reason
        str(err).encode("utf-8", errors="backslashreplace")  # the message can be printed
        return False
    assert graph.x.shape[1] == 9 and graph.x.shape[0] >= 1
    return True


@FUZZ
@given(st.one_of(any_text(), mutated_smiles(), long_smiles(), non_strings()))
def test_single_smiles_only_raises_invalid_smiles_error(value: object) -> None:
    accepted = _single(value)
    try:
        canonical_smiles(value)  # type: ignore[arg-type]
        assert accepted
    except InvalidSmilesError:
        assert not accepted
    assert (_hash_one(value, "partial") != 0) == accepted  # type: ignore[arg-type]


@FUZZ
@given(st.lists(smiles_inputs(), min_size=1, max_size=6))
def test_batch_skip_never_raises_and_counts(values: list[object]) -> None:
    expected = [_single(v) for v in values]
    out = featurize_smiles(values, on_invalid="skip", chunk_size=4)  # type: ignore[arg-type]
    kept = out.rows.tolist()
    assert kept == [i for i, ok in enumerate(expected) if ok]
    assert sorted(kept + out.invalid_rows.tolist()) == list(range(len(values)))
    assert len(out.invalid_examples) == min(len(out.invalid_rows), 10)
    assert int(out.num_atoms.sum()) == len(out.atom_feats)
    if any(not ok for ok in expected):
        try:
            featurize_smiles(values, on_invalid="raise")  # type: ignore[arg-type]
            raise AssertionError("an invalid SMILES did not raise")
        except InvalidSmilesError as err:
            assert err.row == expected.index(False)
    else:
        again = featurize_smiles(values, on_invalid="raise")  # type: ignore[arg-type]
        np.testing.assert_array_equal(again.rows, out.rows)


@FUZZ
@given(st.lists(st.one_of(any_text(40), mutated_smiles(), non_strings()), max_size=5))
def test_tokenizer_only_raises_invalid_smiles_error(values: list[object]) -> None:
    try:
        enc = TOKENIZER.encode_batch(values, max_length=16)  # type: ignore[arg-type]
    except InvalidSmilesError as err:
        assert err.row is not None and 0 <= err.row < len(values)
        return
    assert enc["input_ids"].shape[0] == len(values)
