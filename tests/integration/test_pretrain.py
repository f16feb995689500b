"""End-to-end graph pretraining: CLI outputs, exact resume, and fine-tuning from the encoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from molgraphpt.cli.main import main
from molgraphpt.config.loading import to_dict
from molgraphpt.config.schema import load_pretrain_config
from molgraphpt.errors import ConfigError, UnknownNameError
from molgraphpt.models.graph import build_graph_encoder
from molgraphpt.models.serialization import load_state
from molgraphpt.recipes.pretrain import load_pretrained_encoder, run_pretraining
from molgraphpt.training import loop as loop_module
from tests.integration.finetune_spy import finetune_from

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "pretrain" / "tiny.yaml"


class _Killed(Exception):
    """Stands for the process being killed right after a checkpoint was written."""


@pytest.mark.integration
def test_cli_pretrain_then_finetune_from_the_encoder(tmp_path, monkeypatch, capsys):
    run = tmp_path / "pre"
    args = ["pretrain", "--config", str(TINY), "train.max_steps=4", "--run-dir", str(run)]
    assert main([*args, "--data-root", str(REPO)]) == 0
    assert "pretrained 4 steps" in capsys.readouterr().out
    for name in ("model/config.yaml", "model/model.safetensors", "model/meta.json"):
        assert (run / name).is_file(), name
    info = json.loads((run / "pretrain.json").read_text())
    assert info["steps"] == 4 and info["molecules_per_s"] > 0 and info["peak_rss_mib"]["self"] > 0
    corpus = info["corpus"]
    # the embedded BBBP set is excluded: tests/data/molecules.csv holds 60 BBBP rows
    assert corpus["num_excluded"] >= 50 and corpus["num_rows"] == 360
    assert info["num_train"] + info["num_valid"] == corpus["num_molecules"]
    assert set(info["final_train"]) >= {"loss"} and info["final_valid"]["step"] == 4
    saved = yaml.safe_load((run / "model" / "config.yaml").read_text())
    assert saved["encoder"]["hidden_dim"] == 32 and saved["objectives"] == ["attr_mask"]
    assert load_pretrain_config(run / "config.yaml").model.hidden_dim == 32  # reloads
    encoder = load_pretrained_encoder(run / "model")
    assert encoder.cfg.num_layers == 2

    # fine-tune with model.init: the architecture and the weights come from the checkpoint
    checkpoint = {
        k.removeprefix("graph_encoder."): v for k, v in load_state(run / "model").items()
    }
    assert all(k.startswith("graph_encoder.") for k in load_state(run / "model"))
    seen, res = finetune_from(run / "model", tmp_path / "ft", monkeypatch)
    assert set(seen) == set(checkpoint)
    for key, value in checkpoint.items():
        assert torch.equal(seen[key], value), key
    assert 0.0 < res["test"]["mean"] < 1.0


@pytest.mark.integration
def test_resume_after_a_kill_is_exact(tmp_path, monkeypatch):
    common = [
        f"data.data_root={REPO}",
        "train.max_steps=8",
        "train.save_every=4",
        "train.eval_every=3",
        "train.schedule=cosine",
        "train.warmup_steps=2",
    ]
    whole = run_pretraining(load_pretrain_config(TINY, [f"run_dir={tmp_path / 'a'}", *common]))
    assert whole["steps"] == 8

    cfg = load_pretrain_config(TINY, [f"run_dir={tmp_path / 'b'}", *common])
    real_save = loop_module.save_training_state

    def save_then_die(path, **state):
        real_save(path, **state)
        if state["step"] == 4:
            raise _Killed

    monkeypatch.setattr(loop_module, "save_training_state", save_then_die)
    with pytest.raises(_Killed):
        run_pretraining(cfg)
    assert not (tmp_path / "b" / "model").exists()
    monkeypatch.setattr(loop_module, "save_training_state", real_save)
    resumed = run_pretraining(cfg, resume=True)
    assert resumed["steps"] == 8 and resumed["resumed"]

    a = load_pretrained_encoder(tmp_path / "a" / "model").state_dict()
    b = load_pretrained_encoder(tmp_path / "b" / "model").state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed["final_valid"] == whole["final_valid"]  # validation loss at step 8 too
    # training moved the weights away from their seeded initial values (not a vacuous check)
    torch.manual_seed(0)
    start = build_graph_encoder(load_pretrain_config(TINY).model).state_dict()
    assert not all(torch.equal(a[k], start[k]) for k in a if a[k].is_floating_point())


def test_flat_objectives_and_validation():
    cfg = load_pretrain_config(
        None,
        [
            "objectives=[{name: attr_mask, weight: 2.0, mask_rate: 0.25}, {name: graphcl}]",
            "objectives.1.temperature=0.2",
        ],
    )
    assert cfg.objectives[0].params == {"mask_rate": 0.25} and cfg.objectives[0].weight == 2.0
    assert cfg.objectives[1].params == {"temperature": 0.2}
    assert cfg.model.dropout == 0.0 and cfg.train.batch_size == 256
    for bad in (
        "objectives=[]",
        "objectives=[{name: attr_mask, weight: 0}]",
        "objectives=[{name: attr_mask}, {name: attr_mask}]",
        "objectives=[{name: attr_mask, mask_rate: 0.1, params: {mask_rate: 0.2}}]",
    ):
        with pytest.raises(ConfigError):
            load_pretrain_config(None, [bad])
    rooted = load_pretrain_config(None, ["data.data_root=/data", "data.paths=[a.csv, /b.csv]"])
    assert [str(rooted.data.resolve(p)) for p in rooted.data.paths] == ["/data/a.csv", "/b.csv"]


def test_unknown_objective_fails_before_the_corpus_is_built(tmp_path):
    for override, match in (
        ("objectives=[{name: atr_mask}]", "attr_mask"),
        ("objectives=[{name: attr_mask, mask_ratio: 0.2}]", "mask_rate"),
    ):
        cfg = load_pretrain_config(None, [override, f"run_dir={tmp_path}", "data.paths=[nowhere]"])
        with pytest.raises(UnknownNameError, match=match):
            run_pretraining(cfg)


@pytest.mark.integration
@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "configs" / "pretrain").glob("*.yaml") if "moltext" not in p.stem),
    ids=lambda p: p.stem,
)
def test_every_shipped_config_trains_two_steps_on_the_tiny_corpus(path, tmp_path):
    shipped = load_pretrain_config(path)
    assert shipped.data.paths and shipped.data.exclude and shipped.train.max_steps
    specs = json.dumps([to_dict(spec) for spec in shipped.objectives])
    cfg = load_pretrain_config(
        TINY,
        [f"objectives={specs}", f"run_dir={tmp_path}", f"data.data_root={REPO}"]
        + ["train.max_steps=2", "valid_fraction=0.0"],
    )
    res = run_pretraining(cfg)
    assert res["steps"] == 2 and all(math.isfinite(v) for v in res["final_train"].values())
