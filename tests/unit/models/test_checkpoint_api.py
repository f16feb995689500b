"""One checkpoint API: molgraphpt.load dispatch, one graph-encoder prefix, format-1 migration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import molgraphpt
from molgraphpt.embed import Embedder
from molgraphpt.errors import CheckpointError
from molgraphpt.models import (
    GraphEncoderConfig,
    PropertyModel,
    PropertyModelConfig,
    graph_encoder_config,
    load_graph_encoder,
)
from molgraphpt.models.graph_checkpoint import PretrainedEncoderConfig, PretrainedGraphEncoder
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.serialization import FORMAT_VERSION, GRAPH_ENCODER_PREFIX
from molgraphpt.models.text import TextEncoderConfig

GRAPH = GraphEncoderConfig(hidden_dim=16, num_layers=2, dropout=0.0)
SMILES = ["CCO", "c1ccccc1O", "CC(=O)O"]


def _perturb(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)


@pytest.fixture
def checkpoints(tmp_path, tiny_text_dir) -> dict[str, tuple[torch.nn.Module, Path]]:
    """A saved model of each of the three classes, with perturbed (non-initial) weights."""
    torch.manual_seed(0)
    models = {
        "graph_encoder": PretrainedGraphEncoder(PretrainedEncoderConfig(GRAPH, ("attr_mask",))),
        "property": PropertyModel(PropertyModelConfig(encoder=GRAPH, num_tasks=2)),
        "moltext": MolTextModel.build(
            MolTextConfig(
                graph=GRAPH,
                text=TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=16),
                proj_dim=8,
            )
        ),
    }
    out = {}
    for kind, model in models.items():
        _perturb(model)
        out[kind] = (model.eval(), model.save_pretrained(tmp_path / kind))
    return out


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("kind", ["graph_encoder", "property", "moltext"])
def test_load_returns_the_class_that_wrote_it(checkpoints, kind):
    model, path = checkpoints[kind]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["model_type"] == kind and meta["format_version"] == FORMAT_VERSION
    loaded = molgraphpt.load(path)
    assert type(loaded) is type(model) and not loaded.training
    _same_state(loaded, model)
    # every checkpoint keeps its graph encoder under the one prefix
    keys = load_file(str(path / "model.safetensors"))
    assert {GRAPH_ENCODER_PREFIX + k for k in model.graph_encoder.state_dict()} <= set(keys)


@pytest.mark.parametrize("kind", ["graph_encoder", "property", "moltext"])
def test_any_checkpoint_gives_its_graph_encoder_and_embeddings(checkpoints, kind):
    model, path = checkpoints[kind]
    assert graph_encoder_config(path) == GRAPH
    _same_state(load_graph_encoder(path), model.graph_encoder)
    emb, kept = Embedder.from_pretrained(path).embed_smiles(SMILES)
    with torch.no_grad():
        expected = Embedder(model.graph_encoder).embed_smiles(SMILES)[0]
    assert emb.shape == (3, 16) and kept.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(emb, expected)


def test_from_pretrained_of_another_class_names_molgraphpt_load(checkpoints):
    with pytest.raises(CheckpointError, match="holds a 'moltext' model.*molgraphpt.load"):
        PropertyModel.from_pretrained(checkpoints["moltext"][1])


def _downgrade_to_format_1(path: Path, model_class: str, old_prefix: str) -> None:
    """Rewrite a checkpoint as format 1 wrote it: its own encoder prefix, no model_type."""
    meta = json.loads((path / "meta.json").read_text())
    meta.pop("model_type")
    meta.pop("checksums", None)  # format 1 never recorded checksums
    meta.update(format_version=1, model_class=model_class)
    if model_class.endswith("GNN"):
        meta["config_class"] = "molgraphpt.config.schema.PretrainedEncoderConfig"
    (path / "meta.json").write_text(json.dumps(meta))
    state = load_file(str(path / "model.safetensors"))
    renamed = {
        (
            old_prefix + k[len(GRAPH_ENCODER_PREFIX) :] if k.startswith(GRAPH_ENCODER_PREFIX) else k
        ): v
        for k, v in state.items()
    }
    save_file(renamed, str(path / "model.safetensors"))


@pytest.mark.parametrize(
    "kind, model_class, old_prefix",
    [
        ("graph_encoder", "molgraphpt.models.graph.gnn.GNN", ""),
        ("property", "molgraphpt.models.heads.PropertyModel", "encoder."),
        ("moltext", "molgraphpt.models.moltext.MolTextModel", "graph."),
    ],
)
def test_format_1_checkpoints_load_through_the_new_api(checkpoints, kind, model_class, old_prefix):
    model, path = checkpoints[kind]
    _downgrade_to_format_1(path, model_class, old_prefix)
    keys = load_file(str(path / "model.safetensors"))
    assert not any(k.startswith(GRAPH_ENCODER_PREFIX) for k in keys)  # really the old layout
    _same_state(molgraphpt.load(path), model)
    _same_state(load_graph_encoder(path), model.graph_encoder)


def test_a_newer_format_is_refused_naming_both_versions(checkpoints):
    _, path = checkpoints["property"]
    meta = json.loads((path / "meta.json").read_text())
    meta.update(format_version=FORMAT_VERSION + 1, molgraphpt_version="9.9.0")
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"format 3, written by molgraphpt 9\.9\.0.*upgrade"):
        molgraphpt.load(path)
    with pytest.raises(CheckpointError, match="format 3"):
        load_graph_encoder(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        molgraphpt.load(tmp_path / "nothing")
    (tmp_path / "folder").mkdir()
    with pytest.raises(CheckpointError, match="missing config.yaml"):
        molgraphpt.load(tmp_path / "folder")


def test_a_graph_encoder_checkpoint_has_no_text_model(checkpoints):
    _, path = checkpoints["graph_encoder"]
    assert not (path / "text").exists()
    assert molgraphpt.load(path).cfg.objectives == ("attr_mask",)


def test_moved_modules_name_their_new_place(checkpoints):
    import importlib

    for old, new in [
        ("molgraphpt.pretrain", "molgraphpt.recipes.pretrain"),
        ("molgraphpt.evaluation.finetune", "molgraphpt.recipes.finetune"),
    ]:
        with pytest.raises(ImportError, match=new.replace(".", r"\.")):
            importlib.import_module(old)
    with pytest.raises(AttributeError, match=r"molgraphpt\.embed\.encode_smiles"):
        checkpoints["moltext"][0].encode_smiles(SMILES)
