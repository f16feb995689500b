"""The checks every SMILES passes before RDKit (chem.guards) at every entry point that parses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from molgraphpt.chem import canonical_smiles, featurize_smiles, parse_smiles, smiles_to_graph
from molgraphpt.chem.guards import MAX_HEAVY_ATOMS, MAX_SMILES_LENGTH, check_smiles_text
from molgraphpt.chem.smiles import _parse_unsanitized
from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.chem.splits import murcko_scaffold, scaffold_split
from molgraphpt.data.corpus import _hash_one, _hash_task
from molgraphpt.errors import ConfigError, InvalidSmilesError

# The reproduction: RDKit's log of it was cut inside the UTF-8 bytes of the last 'Ｃ'.
FULLWIDTH = "C[C@H]COc1ccc(C(H=ONc2ccc(C(N)=O)cc2)ccＣ"
SURROGATE = "C\udcffC"  # what errors="surrogateescape" makes of the byte 0xFF
BAD = {
    FULLWIDTH: "non-ASCII character 'Ｃ' (U+FF23 FULLWIDTH LATIN CAPITAL LETTER C) at position 40",
    SURROGATE: "lone surrogate '\\udcff' (U+DCFF) at position 2: undecodable byte 0xFF",
    "CCαO": "non-ASCII character 'α' (U+03B1 GREEK SMALL LETTER ALPHA) at position 3",
    "C\u00a0C": "U+00A0 NO-BREAK SPACE",
    "CC\tO": "control character '\\t' (U+0009) at position 3",
    "CC\x00O": "control character",
}


@pytest.mark.parametrize("smiles", list(BAD))
def test_bad_characters_are_named_with_their_position(smiles: str) -> None:
    for parse in (parse_smiles, smiles_to_graph, canonical_smiles, murcko_scaffold):
        with pytest.raises(InvalidSmilesError, match=re.escape(BAD[smiles])) as info:
            parse(smiles)
        assert info.value.smiles == smiles


def test_fullwidth_suggests_its_ascii_form() -> None:
    with pytest.raises(InvalidSmilesError, match="SMILES is ASCII — retype it as 'C'"):
        parse_smiles(FULLWIDTH)


def test_rdkit_log_of_non_ascii_text_is_decoded_with_replacement() -> None:
    # Before the guard, this text reached RDKit and decoding its log raised UnicodeDecodeError.
    with pytest.raises(InvalidSmilesError, match="syntax error"):
        _parse_unsanitized(FULLWIDTH, FULLWIDTH, "partial")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "expected a string, got float NaN"),
        (None, "expected a string, got NoneType"),
        (b"CCO", "expected a string, got bytes; decode it first"),
        (42, "expected a string, got int"),
    ],
)
def test_non_strings_are_invalid(value: object, message: str) -> None:
    with pytest.raises(InvalidSmilesError, match=message):
        parse_smiles(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidSmilesError, match=message):
        murcko_scaffold(value)  # type: ignore[arg-type]


def test_surrounding_whitespace_is_stripped_and_blank_is_empty() -> None:
    assert check_smiles_text(" \tCCO\r\n") == "CCO"
    assert check_smiles_text("\u3000CCO\u00a0") == "CCO"  # Unicode spaces at the ends too
    assert canonical_smiles("  OCC ") == "CCO"
    for blank in ("", "   ", "\t\n", "\u00a0"):
        with pytest.raises(InvalidSmilesError, match="empty SMILES"):
            parse_smiles(blank)


def test_too_long_smiles_is_rejected_before_parsing() -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidSmilesError, match="100000 characters, more than the limit of"):
        parse_smiles("C" * 100_000)  # RDKit alone needs over a minute on this
    assert time.perf_counter() - start < 0.5
    with pytest.raises(InvalidSmilesError) as info:
        smiles_to_graph("C" * (MAX_SMILES_LENGTH + 1))
    assert "max_smiles_length" in info.value.reason and len(info.value.smiles) < 100
    assert smiles_to_graph("C" * 1200, max_heavy_atoms=5000).num_nodes == 1200
    assert smiles_to_graph("C" * 10, max_smiles_length=10).num_nodes == 10
    with pytest.raises(InvalidSmilesError, match="11 characters, more than the limit of 10"):
        parse_smiles("C" * 11, max_smiles_length=10)


def test_too_many_heavy_atoms_is_rejected_after_parsing() -> None:
    smiles = "C" * (MAX_HEAVY_ATOMS + 1)
    assert len(smiles) <= MAX_SMILES_LENGTH
    with pytest.raises(InvalidSmilesError, match=f"{MAX_HEAVY_ATOMS + 1} heavy atoms"):
        parse_smiles(smiles)
    with pytest.raises(InvalidSmilesError, match="max_heavy_atoms"):
        parse_smiles("CC(=O)O[AlH3](O)O", max_heavy_atoms=5)  # the partial path too
    assert parse_smiles("[2H]C([2H])([2H])O", max_heavy_atoms=2).mol.GetNumHeavyAtoms() == 2


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "3000"])
def test_bad_limits_are_config_errors(limit: object) -> None:
    with pytest.raises(ConfigError, match="max_smiles_length"):
        parse_smiles("CCO", max_smiles_length=limit)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_heavy_atoms"):
        featurize_smiles(["CCO"], max_heavy_atoms=limit)  # type: ignore[arg-type]


def test_batch_skip_counts_every_kind_of_invalid_row() -> None:
    rows = ["CCO", FULLWIDTH, SURROGATE, float("nan"), None, "C" * 20_000, "   ", "c1ccccc1"]
    rows += ["C(C)(C)(C)(C)C", "CC(=O)O[AlH3](O)O"]
    out = featurize_smiles(rows, on_invalid="skip", chunk_size=3)  # type: ignore[arg-type]
    assert out.rows.tolist() == [0, 7, 9] and out.partial_rows.tolist() == [9]
    assert out.invalid_rows.tolist() == [1, 2, 3, 4, 5, 6, 8]
    shown = [smiles for _, smiles, _ in out.invalid_examples]
    assert all(len(s) < 100 for s in shown)  # an over-long SMILES is shortened in examples
    with pytest.raises(InvalidSmilesError, match="non-ASCII") as info:
        featurize_smiles(rows, on_invalid="raise")  # type: ignore[arg-type]
    assert info.value.row == 1
    limits = featurize_smiles(["C" * 20_000], on_invalid="skip", max_smiles_length=20_000)
    assert limits.num_molecules == 0 and "heavy atoms" in limits.invalid_examples[0][2]


def test_featurize_cli_skips_non_ascii_rows(tmp_path: Path) -> None:
    src = tmp_path / "u.csv"
    src.write_text(f"smiles\nCCO\n{FULLWIDTH}\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "molgraphpt", "featurize", str(src), "--out"]
    cmd += [str(tmp_path / "store"), "--on-invalid", "skip", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["molecules"] == 1 and summary["skipped_invalid"] == 1


def test_corpus_hashing_never_raises_for_a_smiles() -> None:
    values = ["OCC", FULLWIDTH, SURROGATE, float("nan"), None, b"CCO", "C" * 5000, "[CH5]"]
    hashes = _hash_task(values, "partial")  # type: ignore[arg-type]
    assert hashes[0] == _hash_one("CCO", "partial") != 0
    assert hashes[1:].tolist() == [0] * 7
    assert _hash_one("CC(=O)O[AlH3](O)O", "partial") != 0
    assert _hash_one("CC(=O)O[AlH3](O)O", "invalid") == 0


def test_scaffold_split_and_tokenizer_use_the_same_checks() -> None:
    with pytest.raises(InvalidSmilesError, match="non-ASCII") as info:
        scaffold_split(["CCO", "c1ccccc1", FULLWIDTH])
    assert info.value.row == 2
    with pytest.raises(InvalidSmilesError, match="more than the limit of 10"):
        murcko_scaffold("c1ccccc1CCCC", max_smiles_length=10)
    assert murcko_scaffold("c1ccccc1CCCC", max_smiles_length=12) == "c1ccccc1"
    tok = SmilesTokenizer.train(["CCO", "c1ccccc1", "CC(=O)O"] * 3, vocab_size=70)
    for bad, message in ((SURROGATE, "lone surrogate"), ("CＣO", "non-ASCII"), (None, "string")):
        with pytest.raises(InvalidSmilesError, match=message) as info:
            tok.encode_batch(["CCO", bad])  # type: ignore[list-item]
        assert info.value.row == 1
    with pytest.raises(InvalidSmilesError, match="non-ASCII"):
        tok.tokenize("CＣO")
    with pytest.raises(InvalidSmilesError, match="control character") as info:
        SmilesTokenizer.train(["CCO", "", "C\nC"], vocab_size=70)
    assert info.value.row == 2
