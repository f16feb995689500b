"""End-to-end graph pretraining: CLI outputs, exact resume, and fine-tuning from the encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from molgraphpt.cli.main import main
from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig, load_pretrain_config
from molgraphpt.evaluation import finetune as finetune_module
from molgraphpt.models.serialization import load_state
from molgraphpt.pretrain import load_pretrained_encoder, run_pretraining
from molgraphpt.training import loop as loop_module

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
    checkpoint = load_state(run / "model")
    seen = {}
    real_train = finetune_module.train

    def spy(task, *a, **kw):
        seen.update({k: v.clone() for k, v in task.model.encoder.state_dict().items()})
        return real_train(task, *a, **kw)

    monkeypatch.setattr(finetune_module, "train", spy)
    cfg = load_config(
        FinetuneConfig,
        REPO / "configs" / "finetune" / "embedded.yaml",
        [f"run_dir={tmp_path / 'ft'}", f"model.init={run / 'model'}", "train.max_steps=2"]
        + ["train.progress=false"],
    )
    res = run_finetune_once(cfg)
    assert set(seen) == set(checkpoint)
    for key, value in checkpoint.items():
        assert torch.equal(seen[key], value), key
    assert 0.0 < res["test"]["mean"] < 1.0


def run_finetune_once(cfg):
    return finetune_module.run_finetune(cfg)


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
    # a fresh run with a different seed ends elsewhere (the comparison above is not vacuous)
    other = load_pretrain_config(TINY, [f"run_dir={tmp_path / 'c'}", *common, "train.seed=1"])
    run_pretraining(other)
    c = load_pretrained_encoder(tmp_path / "c" / "model").state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)


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
    from molgraphpt.errors import ConfigError

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
