from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pytest
import torch
import yaml
from torch import nn

from molgraphpt import __version__
from molgraphpt._config_io import from_dict as config_from_dict
from molgraphpt.errors import CheckpointError, IntegrityError, UnknownNameError
from molgraphpt.models import (
    GraphEncoderConfig,
    PropertyModel,
    PropertyModelConfig,
    build_graph_encoder,
    load_encoder_weights,
    load_pretrained,
    load_state,
    save_pretrained,
)
from molgraphpt.models.serialization import load_meta


# Module-level so that typing.get_type_hints can resolve their (string) annotations.
@dataclass(frozen=True)
class TiedConfig:
    dim: int = 4


@dataclass(frozen=True)
class LinearConfig:
    dim: int = 3


@dataclass(frozen=True)
class WrapperConfig:
    encoder: GraphEncoderConfig = field(
        default_factory=lambda: GraphEncoderConfig(hidden_dim=8, num_layers=2)
    )


@dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    pair: tuple[str, int] = ("a", 1)


def tiny_cfg(**encoder) -> PropertyModelConfig:
    base = dict(hidden_dim=16, num_layers=2, jk="cat", readout="attention", virtual_node=True)
    return PropertyModelConfig(GraphEncoderConfig(**{**base, **encoder}), num_tasks=3)


@pytest.fixture
def saved(tmp_path, batch):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = PropertyModel(cfg).train()
    model(batch)  # move BatchNorm running statistics away from their init
    path = save_pretrained(model, tmp_path / "ckpt", cfg, meta={"step": 7})
    return model, cfg, path


def test_round_trip_gives_identical_outputs(saved, batch):
    model, cfg, path = saved
    assert sorted(p.name for p in path.iterdir()) == [
        "config.yaml",
        "meta.json",
        "model.safetensors",
    ]
    loaded, loaded_cfg = load_pretrained(path, PropertyModelConfig, PropertyModel)
    assert loaded_cfg == cfg
    assert not loaded.training
    model.eval()
    assert torch.equal(loaded(batch), model(batch))


def test_config_yaml_and_meta(saved):
    model, cfg, path = saved
    config = yaml.safe_load((path / "config.yaml").read_text())
    assert config["encoder"]["jk"] == "cat" and config["num_tasks"] == 3
    meta = load_meta(path)
    assert meta["step"] == 7
    assert meta["molgraphpt_version"] == __version__
    assert meta["torch_version"] == torch.__version__
    assert meta["model_class"].endswith("PropertyModel")
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert json.loads((path / "meta.json").read_text())["created"]


def test_save_replaces_an_existing_checkpoint_atomically(saved, tmp_path):
    model, cfg, path = saved
    (path / "stale.txt").write_text("old")
    save_pretrained(model, path, cfg, meta={"step": 8})
    assert load_meta(path)["step"] == 8
    assert not (path / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temp dirs left


def test_save_refuses_to_replace_a_non_checkpoint_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    cfg = tiny_cfg()
    with pytest.raises(CheckpointError, match="refusing to replace"):
        save_pretrained(PropertyModel(cfg), tmp_path, cfg)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_save_rejects_bad_meta_and_config(tmp_path):
    cfg = tiny_cfg()
    model = PropertyModel(cfg)
    with pytest.raises(CheckpointError, match="JSON"):
        save_pretrained(model, tmp_path / "a", cfg, meta={"x": object()})
    with pytest.raises(CheckpointError, match="reserved"):
        save_pretrained(model, tmp_path / "a", cfg, meta={"created": "yesterday"})
    with pytest.raises(CheckpointError, match="dataclass"):
        save_pretrained(model, tmp_path / "a", {"num_tasks": 3})
    assert list(tmp_path.iterdir()) == []


def test_shared_tensors_are_saved(tmp_path):
    def build(cfg: TiedConfig) -> nn.Module:
        module = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.Linear(cfg.dim, cfg.dim))
        module[1].weight = module[0].weight
        return module

    model = build(TiedConfig())
    save_pretrained(model, tmp_path / "tied", TiedConfig())
    loaded, _ = load_pretrained(tmp_path / "tied", TiedConfig, build)
    assert torch.equal(loaded[1].weight, model[0].weight)
    assert loaded[1].weight is loaded[0].weight


# ------------------------------------------------------------------------------- error cases


def test_missing_directory_and_files(tmp_path, saved):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(tmp_path / "nope", PropertyModelConfig, PropertyModel)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state(tmp_path / "nope")
    _, _, path = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"missing model\.safetensors"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)
    (path / "config.yaml").unlink()
    with pytest.raises(CheckpointError, match=r"config\.yaml, model\.safetensors"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)


def test_mismatching_weights_list_keys(saved):
    _, _, path = saved
    text = (path / "config.yaml").read_text()
    (path / "config.yaml").write_text(text.replace("virtual_node: true", "virtual_node: false"))
    with pytest.raises(CheckpointError, match="unexpected keys.*virtual_node"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)
    (path / "config.yaml").write_text(text.replace("num_tasks: 3", "num_tasks: 4"))
    with pytest.raises(CheckpointError, match=r"shape mismatches.*head\.net\.1\.weight"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)


def test_bad_config_files(saved):
    _, _, path = saved
    text = (path / "config.yaml").read_text()
    (path / "config.yaml").write_text(text + "colour: blue\n")
    with pytest.raises(CheckpointError, match="colour"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)
    (path / "config.yaml").write_text(text.replace("jk: cat", "jk: concat"))
    with pytest.raises(CheckpointError, match="concat"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)
    (path / "config.yaml").write_text("[unclosed")
    with pytest.raises(CheckpointError, match="cannot parse"):
        load_pretrained(path, PropertyModelConfig, PropertyModel)
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(IntegrityError, match=r"model\.safetensors is damaged"):
        load_state(path)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_state(path, verify=False)


# --------------------------------------------------------------------------- encoder weights


def _assert_same_params(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_load_encoder_weights_from_a_property_model(saved):
    model, cfg, path = saved
    encoder = build_graph_encoder(cfg.encoder)
    report = load_encoder_weights(encoder, path)
    assert report.prefix == "graph_encoder." and report.num_tensors == len(encoder.state_dict())
    _assert_same_params(encoder, model.encoder)


def test_load_encoder_weights_reads_only_the_one_prefix(tmp_path):
    # A module with a graph encoder under another name is not searched: no prefix guessing.
    wrapper = nn.Module()
    wrapper.add_module("encoder", build_graph_encoder(WrapperConfig().encoder))
    save_pretrained(wrapper, tmp_path / "ckpt", WrapperConfig())
    with pytest.raises(CheckpointError, match="holds no graph encoder.*graph_encoder"):
        load_encoder_weights(build_graph_encoder(WrapperConfig().encoder), tmp_path / "ckpt")


def test_load_encoder_weights_is_strict(saved):
    _, cfg, path = saved
    wider = build_graph_encoder(dataclasses.replace(cfg.encoder, hidden_dim=32))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_encoder_weights(wider, path)
    no_vn = build_graph_encoder(dataclasses.replace(cfg.encoder, virtual_node=False))
    with pytest.raises(CheckpointError, match="unexpected keys.*virtual_node"):
        load_encoder_weights(no_vn, path)
    report = load_encoder_weights(no_vn, path, strict=False)
    assert report.unexpected_keys and not report.missing_keys
    mean_readout = build_graph_encoder(dataclasses.replace(cfg.encoder, readout="mean"))
    assert load_encoder_weights(mean_readout, path, strict=False).unexpected_keys


def test_load_encoder_weights_without_any_encoder(tmp_path):
    save_pretrained(nn.Linear(3, 3), tmp_path / "lin", LinearConfig())
    with pytest.raises(CheckpointError, match="holds no graph encoder"):
        load_encoder_weights(
            build_graph_encoder(GraphEncoderConfig(hidden_dim=8)), tmp_path / "lin"
        )


# ---------------------------------------------------------------------------- config_from_dict


def test_config_from_dict_nested_and_tuples():
    data = yaml.safe_load(
        yaml.safe_dump({"inner": {"sizes": [3, 4]}, "maybe": {"sizes": []}, "pair": ["b", 2]})
    )
    cfg = config_from_dict(Outer, data)
    assert cfg == Outer(Inner((3, 4)), Inner(()), ("b", 2))
    assert config_from_dict(Outer, {"maybe": None}).maybe is None
    with pytest.raises(UnknownNameError, match="siezs"):
        config_from_dict(Outer, {"inner": {"siezs": [1]}})
