"""End-to-end molecule–text pretraining: outputs, exact resume, retrieval and fine-tuning."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
import yaml

from molgraphpt.cli.main import main
from molgraphpt.config.schema import load_pretrain_config
from molgraphpt.errors import ConfigError
from molgraphpt.models.moltext import MolTextModel
from molgraphpt.models.serialization import load_state
from molgraphpt.objectives.base import needs_text_tokens
from molgraphpt.recipes.pretrain import run_pretraining
from molgraphpt.training import loop as loop_module
from tests.integration.finetune_spy import finetune_from

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "pretrain" / "tiny_moltext.yaml"
CHEBI = REPO / "tests" / "data" / "moltext" / "chebi20_sample.tsv"


class _Killed(Exception):
    """Stands for the process being killed right after a checkpoint was written."""


def overrides(run_dir: Path, text_dir: Path, *extra: str) -> list[str]:
    return [
        f"run_dir={run_dir}",
        f"data.data_root={REPO}",
        f"text.name_or_path={text_dir}",
        "text.freeze_layers=1",
        "train.num_threads=1",
        *extra,
    ]


@pytest.mark.integration
def test_pretrain_writes_a_moltext_model_that_retrieves_and_finetunes(
    tmp_path, tiny_text_dir, monkeypatch, capsys
):
    run = tmp_path / "pre"
    cfg = load_pretrain_config(TINY, overrides(run, tiny_text_dir, "train.max_steps=6"))
    info = run_pretraining(cfg)
    assert info["steps"] == 6 and all(math.isfinite(v) for v in info["final_train"].values())
    assert {"mol_text_contrastive/loss", "kvplm_mlm/smiles_acc", "attr_mask/atom_acc"} <= set(
        info["final_train"]
    )
    corpus = info["corpus"]
    assert corpus["num_pairs"] == info["num_train"] + info["num_valid"]
    assert corpus["num_rows"] >= 290 and len(corpus["sources"]) == 2
    assert (run / "smiles_tokenizer.json").is_file()

    model = MolTextModel.from_pretrained(run / "model")
    assert model.smiles_tokenizer is not None and model.smiles_embeddings is not None
    assert model.text.cfg.name_or_path  # the config travels with the checkpoint
    saved = yaml.safe_load((run / "model" / "config.yaml").read_text())
    assert saved["graph"]["hidden_dim"] == 32

    # retrieval over the ChEBI sample, through the CLI
    out = tmp_path / "retrieval.json"
    code = main(
        ["evaluate", "retrieval", "--model", str(run / "model"), "--pairs", str(CHEBI)]
        + ["--out", str(out)]
    )
    assert code == 0
    res = json.loads(out.read_text())
    assert res["num_pairs"] == 150
    for direction in ("text_to_mol", "mol_to_text"):
        assert 0.0 < res[direction]["mrr"] <= 1.0 and 1 <= res[direction]["mean_rank"] <= 150

    # fine-tuning starts from the jointly pretrained graph encoder
    checkpoint = {
        k.removeprefix("graph_encoder."): v
        for k, v in load_state(run / "model").items()
        if k.startswith("graph_encoder.")
    }
    assert checkpoint  # the graph encoder sits under the one prefix every checkpoint uses
    seen, _ = finetune_from(run / "model", tmp_path / "ft", monkeypatch)
    assert set(seen) == set(checkpoint)
    assert all(torch.equal(seen[k], checkpoint[k]) for k in checkpoint)


@pytest.mark.integration
def test_moltext_resume_after_a_kill_is_exact(tmp_path, tiny_text_dir, monkeypatch):
    extra = ["train.max_steps=6", "train.save_every=3", "train.eval_every=3"]
    whole = run_pretraining(
        load_pretrain_config(TINY, overrides(tmp_path / "a", tiny_text_dir, *extra))
    )
    cfg = load_pretrain_config(TINY, overrides(tmp_path / "b", tiny_text_dir, *extra))
    real_save = loop_module.save_training_state

    def save_then_die(path, **state):
        real_save(path, **state)
        if state["step"] == 3:
            raise _Killed

    monkeypatch.setattr(loop_module, "save_training_state", save_then_die)
    with pytest.raises(_Killed):
        run_pretraining(cfg)
    monkeypatch.setattr(loop_module, "save_training_state", real_save)
    resumed = run_pretraining(cfg, resume=True)
    assert resumed["resumed"] and resumed["steps"] == 6
    a = MolTextModel.from_pretrained(tmp_path / "a" / "model").state_dict()
    b = MolTextModel.from_pretrained(tmp_path / "b" / "model").state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed["final_valid"] == whole["final_valid"]


@pytest.mark.integration
def test_text_lr_puts_the_text_encoder_in_its_own_group(tmp_path, tiny_text_dir, monkeypatch):
    groups_seen = []
    real_train = loop_module.train

    def spy(task, data, cfg, **kw):
        groups_seen.append(kw.get("param_groups"))
        return real_train(task, data, cfg, **kw)

    import molgraphpt.recipes.pretrain as pretrain_module

    monkeypatch.setattr(pretrain_module, "train", spy)
    cfg = load_pretrain_config(
        TINY, overrides(tmp_path, tiny_text_dir, "train.max_steps=1", "moltext.text_lr=1.0e-5")
    )
    run_pretraining(cfg)
    (groups,) = groups_seen
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["head_decay"] == 1e-5 and lrs["decay"] == cfg.train.lr
    model_text = {id(p) for g in groups if g["name"].startswith("head") for p in g["params"]}
    assert model_text  # the text encoder's trainable layers, and only those
    n_text = sum(1 for g in groups if g["name"].startswith("head") for _ in g["params"])
    assert n_text == len(model_text)


def test_text_section_and_pairs_go_together(tmp_path):
    with pytest.raises(ConfigError, match="data.pairs"):
        load_pretrain_config(None, ["text={name_or_path: x}", f"run_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="text"):
        load_pretrain_config(None, ["data.pairs=[{path: x.tsv}]"])
    with pytest.raises(ConfigError, match="either data.paths"):
        load_pretrain_config(None, ["data.pairs=[{path: x.tsv}]", "data.paths=[y.csv]"])


def test_the_shipped_moltext_config_loads():
    cfg = load_pretrain_config(REPO / "configs" / "pretrain" / "moltext.yaml")
    assert cfg.text is not None and cfg.text.name_or_path == "minilm-l6-offline"
    assert {s.name for s in cfg.objectives} >= {"mol_text_contrastive", "kvplm_mlm"}
    assert "chebi20/test.txt" in cfg.data.exclude
    frozen = load_pretrain_config(REPO / "configs" / "pretrain" / "moltext_frozen_text.yaml")
    assert frozen.text is not None and frozen.text.freeze_layers == -1
    assert frozen.moltext.text_features == "auto" and "chebi20/test.txt" in frozen.data.exclude
    assert not any(needs_text_tokens(s.name) for s in frozen.objectives)


@pytest.mark.integration
def test_max_pairs_caps_one_source_and_keeps_the_other_whole(tmp_path, tiny_text_dir):
    cfg = load_pretrain_config(
        TINY,
        overrides(tmp_path, tiny_text_dir, "train.max_steps=1", "valid_fraction=0.0")
        + ["data.pairs.1.max_pairs=20", "objectives=[{name: mol_text_contrastive}]"]
        + ["moltext.smiles_vocab_size=0"],
    )
    info = run_pretraining(cfg)
    per_source = [s["num_pairs"] for s in info["corpus"]["sources"]]
    assert info["num_train"] == per_source[0] + 20 and per_source[1] > 20


# ------------------------------------------------------------------- cached text features

CONTRASTIVE_ONLY = ["objectives=[{name: mol_text_contrastive}, {name: attr_mask, weight: 0.5}]"]


@pytest.mark.integration
def test_a_frozen_text_encoder_trains_from_cached_features_like_online(tmp_path, tiny_text_dir):
    """auto picks the cache for a frozen encoder; the losses match the online run's."""
    extra = ["train.max_steps=4", "moltext.smiles_vocab_size=0", *CONTRASTIVE_ONLY]
    runs = {}
    for mode in ("auto", "online"):
        args = overrides(tmp_path / mode, tiny_text_dir, *extra, f"moltext.text_features={mode}")
        args[args.index("text.freeze_layers=1")] = "text.freeze_layers=-1"
        runs[mode] = run_pretraining(load_pretrain_config(TINY, args))
    assert runs["auto"]["corpus"]["text_features"] == "cached"
    assert runs["online"]["corpus"]["text_features"] == "online"
    assert list(Path(os.environ["MOLGRAPHPT_CACHE"]).glob("text-features/*.npy"))
    for key, value in runs["online"]["final_train"].items():
        assert runs["auto"]["final_train"][key] == pytest.approx(value, rel=2e-3, abs=2e-3), key
    assert runs["auto"]["final_valid"]["valid/loss"] == pytest.approx(
        runs["online"]["final_valid"]["valid/loss"], rel=2e-3
    )
    # the checkpoint is a normal MolTextModel: it embeds raw text with its own encoder
    model = MolTextModel.from_pretrained(tmp_path / "auto" / "model")
    assert model.encode_texts(["a salt"]).shape == (1, 32)


@pytest.mark.integration
def test_auto_keeps_tokens_when_an_objective_reads_them(tmp_path, tiny_text_dir):
    args = overrides(tmp_path, tiny_text_dir, "train.max_steps=1")
    args[args.index("text.freeze_layers=1")] = "text.freeze_layers=-1"
    info = run_pretraining(load_pretrain_config(TINY, args))  # kvplm_mlm reads tokens
    assert info["corpus"]["text_features"] == "online"


@pytest.mark.integration
@pytest.mark.parametrize(
    "freeze, objectives, match",
    [
        ("1", CONTRASTIVE_ONLY, "freeze_layers"),
        ("-1", [], "kvplm_mlm"),
    ],
)
def test_cached_text_features_refuses_what_it_cannot_serve(
    tmp_path, tiny_text_dir, freeze, objectives, match
):
    args = overrides(tmp_path, tiny_text_dir, "train.max_steps=1", "moltext.text_features=cached")
    args[args.index("text.freeze_layers=1")] = f"text.freeze_layers={freeze}"
    with pytest.raises(ConfigError, match=match):
        run_pretraining(load_pretrain_config(TINY, args + objectives))
