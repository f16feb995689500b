"""The typed text side of a batch: TextTokens, TextInputs and MolTextBatch's accessors."""

from __future__ import annotations

import pickle

import pytest
import torch

from molgraphpt.data.batch import MolTextBatch, TextInputs, TextTokens
from molgraphpt.errors import ShapeError


def tokens(batch: int = 3, length: int = 5) -> TextTokens:
    ids = torch.arange(batch * length).view(batch, length)
    return TextTokens(ids, torch.ones_like(ids))


def test_text_tokens_check_their_shapes():
    ids = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ShapeError, match=r"\[batch, seq_len\].*\(2, 4\) and \(2, 3\)"):
        TextTokens(ids, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"\(4,\) and \(4,\)"):
        TextTokens(ids[0], ids[0])
    t = tokens()
    assert len(t) == 3 and set(t.as_dict()) == {"input_ids", "attention_mask"}
    assert (
        t.as_dict()["input_ids"] is t.input_ids
        and t.as_dict()["attention_mask"] is t.attention_mask
    )


def test_text_inputs_need_one_part_of_one_batch_size():
    with pytest.raises(ShapeError, match="needs text tokens, SMILES tokens or pooled vectors"):
        TextInputs()
    with pytest.raises(ShapeError, match=r"pooled text vectors must be \[batch, hidden\]"):
        TextInputs(pooled=torch.zeros(3))
    with pytest.raises(ShapeError, match=r"different batch sizes: \{'tokens': 3, 'smiles': 2\}"):
        TextInputs(tokens=tokens(3), smiles=tokens(2))
    with pytest.raises(ShapeError, match=r"\{'tokens': 3, 'pooled': 4\}"):
        TextInputs(tokens=tokens(3), pooled=torch.zeros(4, 8))
    both = TextInputs(tokens=tokens(3), pooled=torch.zeros(3, 8))
    assert both.carried == ("tokens", "pooled")
    assert TextInputs(smiles=tokens(2)).carried == ("smiles",)


def test_accessors_return_the_parts():
    text = TextInputs(tokens=tokens(), smiles=tokens(3, 7), pooled=torch.ones(3, 8))
    batch = MolTextBatch(text=text)
    assert batch.text_tokens() is text.tokens
    assert batch.smiles_tokens() is text.smiles
    assert batch.pooled_text() is text.pooled


def test_accessors_say_what_the_batch_lacks_and_how_to_get_it():
    with pytest.raises(ShapeError, match="needs batch.text, but the batch has none"):
        MolTextBatch().text_tokens()
    pooled_only = MolTextBatch(text=TextInputs(pooled=torch.ones(3, 8)))
    with pytest.raises(
        ShapeError, match="needs text tokens in batch.text, which carries only pooled: .*tokenizer"
    ):
        pooled_only.text_tokens()
    with pytest.raises(ShapeError, match="needs SMILES tokens .* smiles_tokenizer"):
        pooled_only.smiles_tokens()
    tokens_only = MolTextBatch(text=TextInputs(tokens=tokens()))
    with pytest.raises(
        ShapeError, match="needs pooled text vectors .*only tokens: .*text_features"
    ):
        tokens_only.pooled_text()


def test_to_moves_every_part_and_keeps_the_values():
    text = TextInputs(tokens=tokens(), smiles=None, pooled=torch.randn(3, 8))
    batch = MolTextBatch(text=text, y=torch.zeros(3, 1))
    moved = batch.to("cpu")
    assert isinstance(moved.text, TextInputs) and moved.text.smiles is None
    assert torch.equal(moved.text.tokens.input_ids, text.tokens.input_ids)
    assert torch.equal(moved.text.tokens.attention_mask, text.tokens.attention_mask)
    assert torch.equal(moved.text.pooled, text.pooled)
    assert moved.text.pooled.device.type == "cpu"
    assert MolTextBatch(y=torch.zeros(2, 1)).to("cpu").text is None


def test_text_inputs_pickle():
    """Batches cross process boundaries (loader workers)."""
    text = TextInputs(tokens=tokens(), smiles=tokens(3, 2), pooled=torch.randn(3, 4))
    clone = pickle.loads(pickle.dumps(text))
    assert clone.carried == text.carried
    assert torch.equal(clone.tokens.input_ids, text.tokens.input_ids)
    assert torch.equal(clone.smiles.attention_mask, text.smiles.attention_mask)
    assert torch.equal(clone.pooled, text.pooled)
