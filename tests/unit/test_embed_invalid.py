"""Embedder and smiles_batches: one raise / counted-skip policy for every kind of invalid input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from molgraphpt.embed import Embedder, smiles_batches
from molgraphpt.errors import ConfigError, InvalidSmilesError
from molgraphpt.models import GraphEncoderConfig, build_graph_encoder

FULLWIDTH = "C[C@H]COc1ccc(C(H=ONc2ccc(C(N)=O)cc2)ccＣ"
# (value, what the error says): non-ASCII, surrogate, too long, impossible valence, non-strings.
INVALID = [
    (FULLWIDTH, "non-ASCII character"),
    ("C\udcffC", "lone surrogate"),
    ("C" * 20_000, "more than the limit"),
    ("C(C)(C)(C)(C)C", "no chemistry gives C"),
    ("[CH5]", "no chemistry gives C"),
    (float("nan"), "expected a string, got float NaN"),
    (None, "expected a string"),
    (b"CCO", "expected a string, got bytes"),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    torch.manual_seed(0)
    return Embedder(build_graph_encoder(GraphEncoderConfig(hidden_dim=8, num_layers=1)))


@pytest.mark.parametrize(("value", "message"), INVALID)
def test_raise_names_the_value_and_its_position(embedder, value, message) -> None:
    with pytest.raises(InvalidSmilesError, match=message) as info:
        embedder.embed_smiles(["CCO", value])
    assert info.value.row == 1
    with pytest.raises(InvalidSmilesError, match=message):
        smiles_batches(["CCO", "c1ccccc1", value])


def test_skip_drops_and_counts_every_invalid_kind(embedder) -> None:
    values = ["CCO"] + [v for v, _ in INVALID] + ["CC(=O)O[AlH3](O)O", "c1ccccc1"]
    emb, kept = embedder.embed_smiles(values, on_invalid="skip", batch_size=2)
    assert kept.tolist() == [0, len(values) - 2, len(values) - 1]
    assert emb.shape == (3, embedder.encoder.output_dim) and np.isfinite(emb).all()
    alone, _ = embedder.embed_smiles(["CCO", "CC(=O)O[AlH3](O)O", "c1ccccc1"])
    np.testing.assert_allclose(emb, alone, rtol=1e-5, atol=1e-6)
    batches, kept = smiles_batches(values, on_invalid="skip")
    assert sum(b.num_graphs for b in batches) == len(kept) == 3


def test_limits_pass_through(embedder) -> None:
    with pytest.raises(InvalidSmilesError, match="more than the limit of 5"):
        embedder.embed_smiles(["CCO", "CCCCCC"], max_smiles_length=5)
    with pytest.raises(InvalidSmilesError, match="heavy atoms"):
        smiles_batches(["CCCCCC"], max_heavy_atoms=5)


def test_all_invalid_with_skip_gives_an_empty_result(embedder) -> None:
    emb, kept = embedder.embed_smiles([FULLWIDTH, None], on_invalid="skip")
    assert emb.shape == (0, embedder.encoder.output_dim) and kept.tolist() == []


def test_one_string_is_refused_not_split_into_letters(embedder) -> None:
    with pytest.raises(ConfigError, match="not one string"):
        embedder.embed_smiles("CCO")  # type: ignore[arg-type]
