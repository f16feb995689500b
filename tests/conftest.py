"""Shared fixtures: small real molecules, hand-checked edge cases, paths to test data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA_DIR = Path(__file__).parent / "data"

# A 1-atom molecule, aromatic rings, a salt (two fragments), stereo, charges, a dummy atom.
SMILES = [
    "C",
    "CCO",
    "c1ccccc1O",
    "CC(=O)Oc1ccccc1C(=O)O",
    "[Na+].[Cl-]",
    "C[C@H](N)C(=O)O",
    "F/C=C/F",
    "*C(=O)O",
]


@pytest.fixture
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never write feature caches into the user's home during tests."""
    monkeypatch.setenv("MOLGRAPHPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# --------------------------------------------------------------------------- a tiny text encoder

_TINY_WORDS = (
    "the molecule is a an of and in with to as it has role acid compound derived from group "
    "which by conjugate base species agent metabolite organic inhibitor antioxidant natural "
    "product human plant found member class amino alcohol ester ketone aromatic ring carbon "
    "atom atoms hydroxy methyl ethyl oxo substituted functionally related position positions "
    "cation anion drug used treatment antibacterial antifungal toxic sweet odor flavor dye"
).split()


def build_tiny_text_model(directory: Path, *, hidden_size: int = 32, layers: int = 2) -> Path:
    """Write a tiny random BERT (``transformers``) with a WordPiece tokenizer into ``directory``.

    A real HF model directory (``config.json``, ``model.safetensors``, tokenizer files) that
    ``AutoModel`` / ``AutoTokenizer`` load offline: tests use it instead of a hub model.
    """
    import string

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = specials + chars + [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab += [w for w in dict.fromkeys(_TINY_WORDS) if w not in vocab]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=256,
        type_vocab_size=2,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random BERT + tokenizer (built once per test session)."""
    return build_tiny_text_model(tmp_path_factory.mktemp("tiny_bert"))
