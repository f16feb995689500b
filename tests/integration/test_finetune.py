"""End-to-end fine-tuning on real data: results.json, saved model, resume, strategies, user CSV."""

from __future__ import annotations

import csv
import gzip
import json
import shutil

import numpy as np
import pytest
import torch

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig
from molgraphpt.recipes.finetune import load_property_model, run_finetune

TINY = [
    "model.encoder.hidden_dim=32",
    "model.encoder.num_layers=2",
    "train.batch_size=64",
    "train.progress=false",
]


def _cfg(tmp_path, *extra):
    return load_config(FinetuneConfig, None, [f"run_dir={tmp_path / 'run'}", *TINY, *extra])


@pytest.mark.integration
def test_finetune_embedded_two_seeds_writes_results_and_models(tmp_path):
    cfg = _cfg(tmp_path, "data.dataset=embedded", "train.epochs=2", "seeds=[0,1]")
    res = run_finetune(cfg)
    assert res["dataset"] == "ogbg-molbbbp" and res["split"]["sizes"] == [1631, 204, 204]
    assert len(res["seeds"]) == 2
    for seed in res["seeds"]:
        # the real OGB Evaluator agrees with our ROC-AUC
        assert seed["test"]["roc_auc"] == pytest.approx(seed["test"]["ogb_roc_auc"], abs=1e-9)
        assert 0.0 < seed["test"]["roc_auc"] < 1.0
    assert res["test"]["std"] >= 0.0
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["test"] == res["test"] and "versions" in saved
    model = load_property_model(tmp_path / "run" / "seed_0" / "model")
    assert model.cfg.num_tasks == 1 and model.cfg.encoder.hidden_dim == 32
    assert (tmp_path / "run" / "seed_0" / "metrics.csv").exists()


@pytest.mark.integration
def test_finished_seed_is_not_rerun_and_model_init_strategies(tmp_path):
    cfg = _cfg(tmp_path, "data.dataset=embedded", "train.epochs=1")
    first = run_finetune(cfg)
    again = run_finetune(cfg)
    assert again["seeds"][0] == first["seeds"][0]
    init = tmp_path / "run" / "seed_0" / "model"
    for mode in ("linear_probe", "lp_ft", "freeze_layers"):
        cfg2 = load_config(
            FinetuneConfig,
            None,
            [
                f"run_dir={tmp_path / mode}",
                *TINY,
                "data.dataset=embedded",
                "train.epochs=1",
                f"model.init={init}",
                f"strategy.mode={mode}",
                "strategy.lp_epochs=1",
                "strategy.freeze_layers=1",
            ],
        )
        res = run_finetune(cfg2)
        assert 0.0 < res["test"]["mean"] < 1.0
    # linear probe keeps the initial encoder weights exactly
    start = load_property_model(init).encoder.state_dict()
    probed = load_property_model(
        tmp_path / "linear_probe" / "seed_0" / "model"
    ).encoder.state_dict()
    for key, value in start.items():
        if value.is_floating_point():
            assert torch.equal(value, probed[key]), key


@pytest.mark.integration
def test_user_csv_regression_with_invalid_rows_skipped(tmp_path, data_dir):
    src = data_dir / "ogb" / "ogbg_molesol" / "mapping" / "mol.csv.gz"
    path = tmp_path / "esol.csv"
    with gzip.open(src, "rt") as fin, open(path, "w", newline="") as fout:
        reader, writer = csv.reader(fin), csv.writer(fout)
        next(reader)
        writer.writerow(["smiles", "logS"])
        for i, row in enumerate(reader):
            writer.writerow([row[1], row[0] if i % 10 else ""])
        writer.writerow(["C1CC", "1.0"])  # invalid, skipped
    cfg = _cfg(
        tmp_path,
        f"data.dataset={path}",
        "data.task_type=regression",
        "data.on_invalid=skip",
        "train.epochs=3",
        "data.split=random",
    )
    res = run_finetune(cfg)
    assert res["metric"] == "rmse" and res["data_info"]["num_invalid"] == 1
    assert 0.3 < res["test"]["mean"] < 5.0  # log-solubility units
    assert res["split"]["name"] == "random"
    model_meta = json.loads((tmp_path / "run" / "seed_0" / "model" / "meta.json").read_text())
    assert model_meta["target_std"] is not None and np.isfinite(model_meta["target_mean"][0])


@pytest.mark.integration
def test_resume_continues_interrupted_seed(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, "data.dataset=embedded", "train.epochs=3")
    full = run_finetune(cfg)["seeds"][0]
    shutil.rmtree(tmp_path / "run")
    import molgraphpt.recipes.finetune as ft

    calls = {"n": 0}
    real_score = ft.score

    def crashing_score(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # during the evaluation after epoch 3 (2 splits per evaluation)
            raise KeyboardInterrupt
        return real_score(*args, **kwargs)

    monkeypatch.setattr(ft, "score", crashing_score)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(cfg)
    monkeypatch.setattr(ft, "score", real_score)
    resumed = run_finetune(cfg, resume=True)["seeds"][0]
    assert resumed["test"] == full["test"] and resumed["valid"] == full["valid"]
