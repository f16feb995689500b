"""RelationModel: markers in the tokenizer, pooling, windowed encoding, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

import molgraphpt
from molgraphpt.errors import CheckpointError, ConfigError, ShapeError
from molgraphpt.models.relation import RelationModel, RelationModelConfig, insert_markers
from molgraphpt.models.text import TextEncoderConfig

TEXTS = ["the acid is an inhibitor of the compound", "a methyl ester of an amino acid"]
HEADS = [(4, 8), (2, 8)]
TAILS = [(32, 40), (21, 31)]


def model(directory, **kwargs) -> RelationModel:
    max_length = kwargs.pop("max_length", 32)
    cfg = RelationModelConfig(
        text=TextEncoderConfig(name_or_path=str(directory), max_length=max_length),
        num_labels=3,
        labels=("x", "y", "z"),
        **kwargs,
    )
    torch.manual_seed(0)
    return RelationModel(cfg)


def batch(m: RelationModel, texts=TEXTS, heads=HEADS, tails=TAILS):
    enc = m.encode(texts, heads, tails)
    pad = m.text.tokenizer.pad_token_id
    ids = torch.nn.utils.rnn.pad_sequence(
        [torch.tensor(x) for x in enc.input_ids], batch_first=True, padding_value=pad
    )
    return enc, (ids, (ids != pad).long(), torch.tensor(enc.head_pos), torch.tensor(enc.tail_pos))


def test_markers_are_single_tokens_and_embeddings_resized(tiny_text_dir):
    m = model(tiny_text_dir)
    tok = m.text.tokenizer
    assert m.text.vocab_size == len(tok)
    assert tok.tokenize("x [E1] y [/E2]") == ["x", "[E1]", "y", "[/E2]"]
    enc, _ = batch(m)
    for ids, h, t in zip(enc.input_ids, enc.head_pos, enc.tail_pos, strict=True):
        assert ids[h] == m.marker_ids[0] and ids[t] == m.marker_ids[2]
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    words = tok.convert_ids_to_tokens(enc.input_ids[0])
    assert words[enc.head_pos[0] : enc.head_pos[0] + 3] == ["[E1]", "acid", "[/E1]"]
    assert enc.truncated == 0 and enc.entity_cut == 0


@pytest.mark.parametrize("pooling", ["entity_start", "cls"])
def test_forward_gives_logits_and_trains(tiny_text_dir, pooling):
    m = model(tiny_text_dir, pooling=pooling)
    _, inputs = batch(m)
    logits = m(*inputs)
    assert logits.shape == (2, 3)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    assert m.classifier.weight.grad is not None
    assert m.text.word_embeddings.weight.grad[m.marker_ids[0]].abs().sum() > 0 or pooling == "cls"
    with pytest.raises(ShapeError):
        m(inputs[0], inputs[1], inputs[2][:1], inputs[3])


def test_entity_start_uses_marker_states(tiny_text_dir):
    m = model(tiny_text_dir, dropout=0.0).eval()
    _, inputs = batch(m)
    ids, mask, head, tail = inputs
    tokens = m.text(ids, mask).tokens
    expected = m.classifier(torch.cat([tokens[0, head[0]], tokens[0, tail[0]]]))
    torch.testing.assert_close(m(*inputs)[0], expected)


def test_long_sentences_keep_both_entities(tiny_text_dir):
    m = model(tiny_text_dir, max_length=12)
    filler = " ".join(["the"] * 30)
    text = f"{filler} acid of the compound {filler}"
    start = len(filler) + 1
    enc = m.encode([text], [(start, start + 4)], [(start + 12, start + 20)])
    ids = enc.input_ids[0]
    assert len(ids) == 12 and enc.truncated == 1 and enc.entity_cut == 0
    assert all(i in ids for i in m.marker_ids)
    # entities further apart than the window: both start markers kept, the cut is counted
    text = f"acid {filler} compound"
    enc = m.encode([text], [(0, 4)], [(len(text) - 8, len(text))])
    ids = enc.input_ids[0]
    assert len(ids) <= 12 and enc.entity_cut == 1
    assert ids[enc.head_pos[0]] == m.marker_ids[0] and ids[enc.tail_pos[0]] == m.marker_ids[2]


def test_insert_markers_nested_and_bad_spans():
    marks = ("[E1]", "[/E1]", "[E2]", "[/E2]")
    out = insert_markers("egf receptor binds", (0, 12), (0, 3), marks)
    assert out.split() == ["[E1]", "[E2]", "egf", "[/E2]", "receptor", "[/E1]", "binds"]
    with pytest.raises(ShapeError):
        insert_markers("abc", (0, 5), (0, 1), marks)


def test_save_load_round_trip(tiny_text_dir, tmp_path):
    m = model(tiny_text_dir).eval()
    _, inputs = batch(m)
    path = m.save_pretrained(tmp_path / "ck")
    assert (path / "text" / "config.json").is_file()
    loaded = molgraphpt.load(path)
    assert isinstance(loaded, RelationModel) and loaded.marker_ids == m.marker_ids
    assert loaded.labels == ("x", "y", "z")
    torch.testing.assert_close(loaded(*inputs), m(*inputs))
    from transformers import AutoModel, AutoTokenizer

    assert AutoModel.from_pretrained(path / "text").get_input_embeddings().num_embeddings == len(
        AutoTokenizer.from_pretrained(path / "text")
    )
    with pytest.raises(CheckpointError, match="molgraphpt.load"):
        from molgraphpt.models.moltext import MolTextModel

        MolTextModel.from_pretrained(path)


def test_config_validation():
    with pytest.raises(ConfigError, match="num_labels"):
        RelationModelConfig(num_labels=1)
    with pytest.raises(ConfigError, match="model.labels"):
        RelationModelConfig(num_labels=3, labels=("a", "b"))
    with pytest.raises(ConfigError, match="negative_label"):
        RelationModelConfig(num_labels=2, labels=("a", "b"), negative_label="false")
    with pytest.raises(ConfigError, match="pooling"):
        RelationModelConfig(pooling="mean")
