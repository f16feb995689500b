"""End-to-end relation fine-tuning on the tiny fixture with a tiny random BERT (CLI and recipe)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

import molgraphpt
from molgraphpt.cli.main import main
from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import RelationFinetuneConfig
from molgraphpt.errors import RunDirError
from molgraphpt.models.relation import RelationModel
from molgraphpt.recipes.relation import run_relation_finetune

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "finetune" / "relation_tiny.yaml"


def _cfg(tmp_path, text_dir, *extra) -> RelationFinetuneConfig:
    overrides = [
        f"model.name_or_path={text_dir}",
        f"run_dir={tmp_path / 'run'}",
        "train.lr=1e-3",
        "train.num_threads=1",
    ]
    for split in ("train", "dev", "test"):
        overrides.append(f"data.{split}={ROOT / 'tests/data/relation' / f'{split}.jsonl'}")
    return load_config(RelationFinetuneConfig, TINY, [*overrides, *extra])


@pytest.mark.integration
def test_cli_dispatches_relation_config_and_writes_run(tmp_path, tiny_text_dir, capsys):
    run = tmp_path / "run"
    code = main(
        ["finetune", "--config", str(TINY), f"model.name_or_path={tiny_text_dir}",
         "train.num_threads=1", "--run-dir", str(run), "--data-root", str(ROOT)]
    )  # fmt: skip
    assert code == 0 and "test micro-F1" in capsys.readouterr().out
    res = json.loads((run / "results.json").read_text())
    assert res["task_type"] == "relation" and res["metric"] == "micro_f1"
    assert 0.0 <= res["test"]["mean"] <= 1.0 and "test_macro_f1" in res
    assert set(res["test_per_label"]) == {"AGONIST", "INHIBITOR", "SUBSTRATE"}
    seed = res["seeds"][0]
    assert seed["test"]["micro_f1"] == pytest.approx(seed["test"]["accuracy"])
    assert seed["tokenization"]["train"]["rows"] == 30
    with (run / "seed_0" / "test_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {"text", "label", "predicted", "p_AGONIST"} <= set(rows[0])
    assert sum(float(rows[0][f"p_{n}"]) for n in ("AGONIST", "INHIBITOR", "SUBSTRATE")) == (
        pytest.approx(1.0, abs=1e-4)
    )
    assert isinstance(molgraphpt.load(run / "seed_0" / "model"), RelationModel)
    assert not (run / "seed_0" / "checkpoints" / "last.pt").exists()
    assert (run / "metrics.csv").read_text().startswith("seed,split,name,value")

    # predict with the saved model, reading the file as the model's training files were read
    model_dir = run / "seed_0" / "model"
    test_file = ROOT / "tests" / "data" / "relation" / "test.jsonl"
    out_csv, out_jsonl = tmp_path / "pred.csv", tmp_path / "pred.jsonl"
    assert (
        main(
            ["predict", "--model", str(model_dir), "--input", str(test_file), "--out", str(out_csv)]
        )
        == 0
    )
    assert "micro-F1" in capsys.readouterr().out
    with out_csv.open() as handle:
        predicted = list(csv.DictReader(handle))
    assert [r["predicted"] for r in predicted] == [r["predicted"] for r in rows]
    main(["predict", "--model", str(model_dir), "--input", str(test_file), "--out", str(out_jsonl)])
    first = json.loads(out_jsonl.read_text().splitlines()[0])
    assert set(first["probabilities"]) == {"AGONIST", "INHIBITOR", "SUBSTRATE"}


@pytest.mark.integration
def test_rerun_reuses_seeds_and_refuses_other_config(tmp_path, tiny_text_dir):
    cfg = _cfg(tmp_path, tiny_text_dir, "train.epochs=1")
    first = run_relation_finetune(cfg)
    again = run_relation_finetune(cfg)
    assert again["seeds"] == first["seeds"]
    with pytest.raises(RunDirError, match="model.dropout"):
        run_relation_finetune(_cfg(tmp_path, tiny_text_dir, "train.epochs=1", "model.dropout=0.2"))


@pytest.mark.integration
def test_resume_is_exact(tmp_path, tiny_text_dir, monkeypatch):
    cfg = _cfg(tmp_path, tiny_text_dir, "train.epochs=2")
    full = run_relation_finetune(cfg)["seeds"][0]
    shutil.rmtree(tmp_path / "run")
    import molgraphpt.recipes.relation as rel

    calls = {"n": 0}
    real = rel.relation_scores

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the evaluation after epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(rel, "relation_scores", crashing)
    with pytest.raises(KeyboardInterrupt):
        run_relation_finetune(cfg)
    assert (tmp_path / "run" / "seed_0" / "checkpoints" / "last.pt").exists()
    monkeypatch.setattr(rel, "relation_scores", real)
    resumed = run_relation_finetune(cfg, resume=True)["seeds"][0]
    for part in ("valid", "test"):
        full[part].pop("sentences_per_s"), resumed[part].pop("sentences_per_s")
        assert resumed[part] == full[part]
    assert resumed["best_step"] == full["best_step"]


@pytest.mark.integration
def test_class_weights_and_moltext_style_init(tmp_path, tiny_text_dir):
    # a checkpoint folder with meta.json + text/ (as MolTextModel writes) initialises the encoder
    ckpt = tmp_path / "moltext_ckpt"
    shutil.copytree(tiny_text_dir, ckpt / "text")
    (ckpt / "meta.json").write_text("{}")
    cfg = _cfg(tmp_path, ckpt, "train.epochs=1", "model.class_weights=inverse_frequency")
    res = run_relation_finetune(cfg)
    assert res["config"]["model"]["class_weights"] == "inverse_frequency"
    assert res["seeds"][0]["epochs_run"] == 1


@pytest.mark.integration
def test_random_init_is_the_architecture_without_its_weights(tmp_path, tiny_text_dir):
    from molgraphpt.data.relation import load_relation_data
    from molgraphpt.recipes.relation import build_model

    cfg = _cfg(tmp_path, tiny_text_dir, "model.init=random")
    data = load_relation_data(cfg.data)
    pretrained = build_model(_cfg(tmp_path, tiny_text_dir), data)
    random = build_model(cfg, data)
    a = pretrained.text.model.encoder.layer[0].attention.self.query.weight
    b = random.text.model.encoder.layer[0].attention.self.query.weight
    assert a.shape == b.shape and not torch.equal(a, b)
    assert random.marker_ids == pretrained.marker_ids


def test_cli_tells_relation_configs_apart(tmp_path):
    from molgraphpt.cli.commands import is_relation_config

    chemprot = ROOT / "configs" / "finetune" / "chemprot.yaml"
    assert is_relation_config(str(chemprot), []) and is_relation_config(str(TINY), [])
    assert not is_relation_config(str(ROOT / "configs" / "finetune" / "bbbp.yaml"), [])
    bare = tmp_path / "r.yaml"
    bare.write_text("data: {folder: chemprot}\n")
    assert is_relation_config(str(bare), []) and is_relation_config(None, ["task=relation"])
    cfg = load_config(RelationFinetuneConfig, chemprot)
    assert cfg.seeds == (0, 1, 2) and cfg.train.epochs == 3 and cfg.train.lr == 5e-5
    assert cfg.data.max_length == 128 and cfg.model.name_or_path == "minilm-l6-offline"
