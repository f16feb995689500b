"""MolTextModel: embeddings, encode_* helpers, logit scale, checkpoint layout and round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch_geometric.data import Batch

from molgraphpt.chem.graph import smiles_to_graph
from molgraphpt.data.pyg import to_pyg
from molgraphpt.embed import encode_smiles
from molgraphpt.errors import CheckpointError, ConfigError, InvalidSmilesError
from molgraphpt.models.graph import GraphEncoderConfig
from molgraphpt.models.moltext import MAX_LOGIT_SCALE, MolTextConfig, MolTextModel
from molgraphpt.models.text import TextEncoder, TextEncoderConfig

SMILES = ["C", "CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "[Na+].[Cl-]", "F/C=C/F"]
TEXTS = [
    "the molecule is a methane",
    "it is an alcohol",
    "an aromatic alcohol",
    "an ester and an acid",
    "a salt",
    "a substituted ethyl",
]
GRAPH = GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.1)


def config(tiny_text_dir: Path, **kwargs) -> MolTextConfig:
    text = TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=32)
    return MolTextConfig(graph=GRAPH, text=text, proj_dim=8, **kwargs)


@pytest.fixture
def model(tiny_text_dir) -> MolTextModel:
    torch.manual_seed(0)
    return MolTextModel.build(config(tiny_text_dir))


def smiles_tokenizer(vocab_size: int = 80):
    from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer

    return SmilesTokenizer.train(SMILES * 3, vocab_size=vocab_size, min_frequency=1)


# ----------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"proj_dim": 0}, "model.proj_dim"),
        ({"temperature": 0.001}, "model.temperature"),
        ({"temperature": 0}, "model.temperature"),
        ({"projection": "deep"}, "model.projection"),
        ({"smiles_vocab_size": -1}, "model.smiles_vocab_size"),
        ({"graph": {"arch": "gin"}}, "model.graph"),
    ],
)
def test_config_rejects_bad_values(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        MolTextConfig(**kwargs)


def test_defaults_use_the_offline_minilm_and_hu_gin():
    cfg = MolTextConfig()
    assert cfg.text.name_or_path == "minilm-l6-offline"
    assert cfg.graph == GraphEncoderConfig()
    assert (cfg.proj_dim, cfg.temperature, cfg.smiles_vocab_size) == (256, 0.07, 0)


# ------------------------------------------------------------------------------- embeddings


def test_embeddings_are_normalised_and_trainable(model):
    graph = Batch.from_data_list([to_pyg(smiles_to_graph(s)) for s in SMILES[:3]])
    text = model.text.tokenize(TEXTS[:3])
    g, t = model.embed_graphs(graph), model.embed_texts(text)
    assert g.shape == t.shape == (3, 8)
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(3))
    (model.scale() * g @ t.T).logsumexp(1).sum().backward()
    assert model.graph_proj.net[0].weight.grad is not None
    assert model.text_proj.net[0].weight.grad is not None
    assert model.logit_scale.grad is not None
    assert model.graph.atom_embedding.embeddings[0].weight.grad is not None


def test_mlp_projection(tiny_text_dir):
    model = MolTextModel.build(config(tiny_text_dir, projection="mlp"))
    assert [type(m).__name__ for m in model.text_proj.net] == ["Linear", "GELU", "Linear"]
    assert model.text_proj.net[0].weight.shape == (32, 32)
    assert model.graph_proj.net[2].weight.shape == (8, 16)


def test_logit_scale_is_clamped(model):
    assert model.logit_scale.shape == ()
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert model.temperature == pytest.approx(0.07)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(100.0)
    assert model.temperature == pytest.approx(0.01)
    assert MAX_LOGIT_SCALE == pytest.approx(math.log(100))


def test_encode_smiles_matches_embed_graphs_in_eval(model):
    model.train()
    encoded = encode_smiles(model, SMILES, batch_size=4)
    assert model.training  # mode restored
    assert encoded.shape == (len(SMILES), 8) and not encoded.requires_grad
    assert encoded.dtype == torch.float32 and encoded.device.type == "cpu"
    model.eval()
    with torch.no_grad():
        direct = model.embed_graphs(
            Batch.from_data_list([to_pyg(smiles_to_graph(s)) for s in SMILES])
        )
    torch.testing.assert_close(encoded, direct, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        encode_smiles(model, SMILES, batch_size=1), encoded, atol=1e-5, rtol=1e-5
    )
    assert torch.equal(encode_smiles(model, "CCO"), encode_smiles(model, ["CCO"]))
    assert encode_smiles(model, []).shape == (0, 8)


def test_encode_smiles_names_the_invalid_one(model):
    with pytest.raises(InvalidSmilesError) as info:
        encode_smiles(model, ["CCO", "C1CC", "CC"])
    assert "'C1CC'" in str(info.value) and "row 1" in str(info.value)


def test_encode_texts_matches_embed_texts_in_eval(model):
    encoded = model.encode_texts(TEXTS, batch_size=4)
    assert encoded.shape == (len(TEXTS), 8) and not encoded.requires_grad
    model.eval()
    with torch.no_grad():
        direct = model.embed_texts(model.text.tokenize(TEXTS))
    torch.testing.assert_close(encoded, direct, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        model.encode_texts(TEXTS, batch_size=1), encoded, atol=1e-5, rtol=1e-5
    )
    assert model.encode_texts([]).shape == (0, 8)
    with pytest.raises(ConfigError, match="batch_size"):
        model.encode_texts(TEXTS, batch_size=0)


def test_smiles_embedding_table(tiny_text_dir):
    tok = smiles_tokenizer()
    cfg = config(tiny_text_dir, smiles_vocab_size=tok.vocab_size)
    model = MolTextModel.build(cfg, smiles_tokenizer=tok)
    assert model.smiles_embeddings.weight.shape == (tok.vocab_size, 32)  # text hidden size
    assert model.smiles_tokenizer is tok
    # KV-PLM: SMILES token embeddings go through the text transformer with segment id 1
    ids = torch.as_tensor(tok.encode_batch(SMILES[:2], max_length=16)["input_ids"])
    out = model.text(
        inputs_embeds=model.smiles_embeddings(ids), token_type_ids=torch.ones_like(ids)
    )
    assert out.pooled.shape == (2, 32)
    assert MolTextModel.build(config(tiny_text_dir)).smiles_embeddings is None
    with pytest.raises(ConfigError, match="vocab_size"):
        MolTextModel.build(config(tiny_text_dir), smiles_tokenizer=tok)


def test_build_with_a_loaded_text_encoder_records_its_config(tiny_text_dir):
    text = TextEncoder.from_config(
        TextEncoderConfig(name_or_path=str(tiny_text_dir), pooling="cls", freeze_layers=1)
    )
    model = MolTextModel.build(config(tiny_text_dir), text_encoder=text)
    assert model.text is text and model.cfg.text == text.cfg


# ------------------------------------------------------------------------------ checkpoints


def perturb(model: MolTextModel) -> None:
    """Move every weight away from its initialisation so a round trip cannot pass by chance."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.01 * torch.randn(param.shape, generator=generator))


def test_checkpoint_layout(model, tmp_path):
    perturb(model)
    path = model.save_pretrained(tmp_path / "ckpt", meta={"step": 7})
    names = {p.name for p in path.iterdir()}
    assert names == {"config.yaml", "model.safetensors", "meta.json", "text"}
    raw = yaml.safe_load((path / "config.yaml").read_text())
    assert raw["graph"]["hidden_dim"] == 16 and raw["graph"]["arch"] == "gin"
    assert raw["text"]["name_or_path"] == model.cfg.text.name_or_path
    assert raw["proj_dim"] == 8 and raw["smiles_vocab_size"] == 0
    keys = set(load_file(str(path / "model.safetensors")))
    assert not any(k.startswith("text.") for k in keys)
    assert {f"graph_encoder.{k}" for k in model.graph.state_dict()} <= keys
    assert {"logit_scale", "graph_proj.net.0.weight", "text_proj.net.0.bias"} <= keys
    meta = json.loads((path / "meta.json").read_text())
    assert meta["step"] == 7 and meta["model_class"].endswith("MolTextModel")
    assert meta["model_type"] == "moltext" and meta["format_version"] == 2
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())
    # text/ is a plain Hugging Face directory holding the (perturbed) transformer
    from transformers import AutoModel

    bare = AutoModel.from_pretrained(path / "text", local_files_only=True)
    for name, tensor in bare.state_dict().items():
        assert torch.equal(tensor, model.text.model.state_dict()[name]), name


def test_round_trip_reproduces_embeddings_exactly(model, tmp_path):
    perturb(model)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = MolTextModel.from_pretrained(tmp_path / "ckpt")
    assert not loaded.training and loaded.cfg == model.cfg
    assert torch.equal(encode_smiles(loaded, SMILES), encode_smiles(model, SMILES))
    assert torch.equal(loaded.encode_texts(TEXTS), model.encode_texts(TEXTS))
    assert loaded.logit_scale.item() == model.logit_scale.item()
    state = loaded.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor), name


def test_round_trip_with_smiles_tokenizer(tiny_text_dir, tmp_path):
    tok = smiles_tokenizer()
    model = MolTextModel.build(
        config(tiny_text_dir, smiles_vocab_size=tok.vocab_size), smiles_tokenizer=tok
    )
    perturb(model)
    path = model.save_pretrained(tmp_path / "ckpt")
    assert (path / "smiles_tokenizer.json").is_file()
    loaded = MolTextModel.from_pretrained(path)
    assert loaded.smiles_tokenizer == tok
    assert torch.equal(loaded.smiles_embeddings.weight, model.smiles_embeddings.weight)


def test_failed_save_leaves_the_previous_checkpoint_intact(model, tmp_path, monkeypatch):
    target = tmp_path / "ckpt"
    model.save_pretrained(target, meta={"version": 1})
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken(self, directory):
        Path(directory).mkdir()
        (Path(directory) / "config.json").write_text("{")
        raise OSError("disk full")

    monkeypatch.setattr(TextEncoder, "save", broken)
    perturb(model)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(target, meta={"version": 2})
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary left behind


def test_save_refuses_a_foreign_directory_and_bad_meta(model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="refusing to replace"):
        model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="reserved"):
        model.save_pretrained(tmp_path / "a", meta={"model_class": "x"})
    with pytest.raises(CheckpointError, match="JSON"):
        model.save_pretrained(tmp_path / "b", meta={"x": object()})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_from_pretrained_errors(model, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        MolTextModel.from_pretrained(tmp_path / "missing")
    path = model.save_pretrained(tmp_path / "ckpt")
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        MolTextModel.from_pretrained(path)
    other = MolTextModel.build(
        MolTextConfig(graph=GRAPH, text=model.cfg.text, proj_dim=4)
    ).save_pretrained(tmp_path / "other")
    raw = yaml.safe_load((other / "config.yaml").read_text())
    raw["proj_dim"] = 8
    (other / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        MolTextModel.from_pretrained(other)


def test_finetune_initialises_a_property_model_from_the_graph_tower(model, tmp_path):
    from dataclasses import replace

    from molgraphpt.models.heads import PropertyModel, PropertyModelConfig
    from molgraphpt.models.pretrained import graph_encoder_config
    from molgraphpt.models.serialization import load_encoder_weights

    perturb(model)
    path = model.save_pretrained(tmp_path / "ckpt")
    encoder_cfg = replace(graph_encoder_config(path), dropout=0.3)
    assert encoder_cfg == GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.3)
    property_model = PropertyModel(PropertyModelConfig(encoder=encoder_cfg, num_tasks=2))
    report = load_encoder_weights(property_model.encoder, path)
    assert report.prefix == "graph_encoder." and not report.missing_keys
    expected = model.graph.state_dict()
    for name, tensor in property_model.encoder.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
