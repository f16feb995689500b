"""SmilesTokenizer: BPE over whole SMILES, fixed special ids, padding/truncation, save/load."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
from tokenizers import Tokenizer

from molgraphpt.chem.smiles_tokenizer import SPECIAL_TOKENS, SmilesTokenizer
from molgraphpt.errors import ConfigError, DataFormatError
from tests.conftest import DATA_DIR

CHEBI = DATA_DIR / "moltext" / "chebi20_sample.tsv"


@pytest.fixture(scope="module")
def chebi_smiles() -> list[str]:
    with open(CHEBI, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["SMILES"] for r in rows]


@pytest.fixture(scope="module")
def tok(chebi_smiles) -> SmilesTokenizer:
    return SmilesTokenizer.train(chebi_smiles, vocab_size=400)


def test_special_ids_and_vocab(tok):
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    vocab = tok.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.vocab_size == len(tok) == 400 == len(vocab)
    # merges span brackets and chirality marks: the whole SMILES is one word
    assert "[C@@H]" in vocab and "[C@H]" in vocab


def test_round_trip_on_real_smiles(tok, chebi_smiles):
    enc = tok.encode_batch(chebi_smiles, max_length=1024)
    for row, smiles in zip(enc["input_ids"], chebi_smiles):
        assert tok.decode(row) == smiles
    # BPE compresses: far fewer tokens than characters
    n_tokens = int(enc["attention_mask"].sum()) - 2 * len(chebi_smiles)
    assert n_tokens < 0.6 * sum(map(len, chebi_smiles))
    # a character never seen in training but in the SMILES alphabet is not [UNK]
    ids = tok.encode_batch(["C#N"], max_length=16)["input_ids"][0]
    assert tok.unk_id not in ids.tolist() and tok.decode(ids) == "C#N"


def test_multi_char_atoms_become_single_tokens():
    # frequent multi-character atoms are learned as one token each (no pre-tokenizer split)
    train = ["Clc1ccc[nH]c1Br", "c1cc[nH]c1Cl", "BrCCCl", "Clc1cc2cc[nH]c2cc1"] * 30
    tok = SmilesTokenizer.train(train, vocab_size=120, min_frequency=2)
    vocab = tok.get_vocab()
    assert {"Cl", "Br", "[nH]"} <= set(vocab)
    tokens = tok.tokenize("C[nH]Cl")
    assert "".join(tokens) == "C[nH]Cl"
    assert any("[nH]" in t for t in tokens) and any(t.endswith("Cl") for t in tokens)


def test_encode_batch_pads_to_longest_and_truncates_keeping_sep(tok):
    enc = tok.encode_batch(["C", "CCO", "c1ccccc1O"], max_length=64)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.dtype == np.int64 and mask.dtype == np.int64 and ids.shape == mask.shape
    lengths = mask.sum(1)
    assert ids.shape[1] == lengths.max()  # padded to the longest row, not to max_length
    for row, n in zip(ids, lengths):
        assert row[0] == tok.cls_id and row[n - 1] == tok.sep_id
        assert (row[n:] == tok.pad_id).all() and tok.sep_id not in row[1 : n - 1]
    long = "C(C(C(C(C(C(C(C(C(C(O)N)S)F)Cl)Br)I)P)B)O)" * 3
    short = tok.encode_batch([long, "C"], max_length=8)
    assert short["input_ids"].shape == (2, 8)
    assert short["input_ids"][0, -1] == tok.sep_id and short["attention_mask"][0].all()
    full = tok.encode_batch([long], max_length=512)["input_ids"][0]
    np.testing.assert_array_equal(short["input_ids"][0, :7], full[:7])  # a prefix + [SEP]
    assert tok.encode_batch([], max_length=8)["input_ids"].shape == (0, 2)
    with pytest.raises(ConfigError):
        tok.encode_batch(["C"], max_length=1)
    with pytest.raises(ConfigError):
        tok.encode_batch("CCO")  # one string, not a list


def test_save_load_str_and_pickle_equality(tok, tmp_path, chebi_smiles):
    path = tok.save(tmp_path / "tok.json")
    loaded = SmilesTokenizer.load(path)
    assert loaded == tok and loaded.to_str() == tok.to_str()
    folder = tmp_path / "dir"
    folder.mkdir()
    assert tok.save(folder) == folder / "tokenizer.json"
    assert SmilesTokenizer.load(folder) == tok
    again = SmilesTokenizer.from_str(tok.to_str())
    clone = pickle.loads(pickle.dumps(tok))
    a = tok.encode_batch(chebi_smiles[:20], max_length=48)
    for other in (loaded, again, clone):
        b = other.encode_batch(chebi_smiles[:20], max_length=48)
        np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
    # a standard tokenizer.json: the tokenizers library reads it alone
    assert Tokenizer.from_file(str(path)).get_vocab_size() == tok.vocab_size
    assert json.loads(path.read_text())["model"]["type"] == "BPE"


def test_training_is_deterministic(chebi_smiles):
    a = SmilesTokenizer.train(chebi_smiles, vocab_size=300)
    b = SmilesTokenizer.train(iter(chebi_smiles), vocab_size=300)
    assert a == b


def test_errors(tmp_path, tok):
    with pytest.raises(DataFormatError, match="no SMILES"):
        SmilesTokenizer.train(["", "   "])
    with pytest.raises(DataFormatError):
        SmilesTokenizer.train([])
    with pytest.raises(ConfigError, match="vocab_size"):
        SmilesTokenizer.train(["CCO"], vocab_size=10)
    with pytest.raises(ConfigError, match="min_frequency"):
        SmilesTokenizer.train(["CCO"], min_frequency=0)
    with pytest.raises(ConfigError):
        SmilesTokenizer.train("CCO")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SmilesTokenizer.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json"):
        SmilesTokenizer.load(bad)
    # a valid tokenizer whose special tokens are elsewhere is refused
    raw = json.loads(tok.to_str())
    raw["added_tokens"] = []
    raw["model"]["vocab"] = {"C": 0, "O": 1}
    raw["model"]["merges"] = []
    with pytest.raises(DataFormatError, match=r"\[PAD\]"):
        SmilesTokenizer.from_str(json.dumps(raw))
