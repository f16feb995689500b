"""``molgraphpt demo`` end to end on the embedded data, with tiny step budgets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from molgraphpt import demo as demo_module
from molgraphpt.cli.main import main
from molgraphpt.demo import demo_resource, run_demo
from molgraphpt.errors import MissingDependencyError
from molgraphpt.models import text as text_models
from molgraphpt.models.text import TextEncoderConfig

STEPS = ("featurize", "pretrain_graph", "pretrain_moltext", "finetune", "embed", "text_search")
FAST = {"epochs": 1, "pretrain_steps": 2, "moltext_steps": 2}


def test_demo_resources_are_shipped_small_and_attributed():
    for folder, files in {
        "zinc_demo": ["smiles.txt.gz"],
        "chebi20_demo": ["pairs_train.tsv.gz", "pairs_eval.tsv.gz"],
    }.items():
        assert (demo_resource(folder) / "ATTRIBUTION.md").is_file()
        size = sum((demo_resource(folder) / name).stat().st_size for name in files)
        assert 0 < size < 200_000


@pytest.mark.integration
def test_demo_runs_every_step(tmp_path, tiny_text_dir, capsys):
    text = TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=48, freeze_layers=1)
    summary = run_demo(tmp_path / "demo", text=text, **FAST)
    saved = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert set(STEPS) <= set(saved) and saved["seconds"] > 0

    graph = saved["pretrain_graph"]
    assert graph["steps"] == 2 and graph["molecules"] == 2000
    assert all(math.isfinite(v) for v in graph["final_train"].values())
    moltext = saved["pretrain_moltext"]
    assert moltext["skipped"] is False and moltext["steps"] == 2
    assert moltext["init"] == graph["model_dir"]  # step 3 starts from step 2's encoder
    assert moltext["pairs"] + moltext["held_out_pairs"] == 320
    retrieval = moltext["retrieval"]
    assert retrieval["num_pairs"] == 80
    assert 0.0 < retrieval["text_to_mol_mrr"] <= 1.0
    chance = sum(1.0 / k for k in range(1, 81)) / 80  # H_80 / 80
    assert retrieval["chance_mrr"] == pytest.approx(chance, abs=1e-4)
    assert saved["finetune"]["init"] == moltext["model_dir"]  # step 4 starts from step 3's
    assert 0.0 <= saved["finetune"]["test_roc_auc"] <= 1.0

    emb = np.load(tmp_path / "demo" / "test_embeddings.npy")
    assert list(emb.shape) == saved["embed"]["shape"] and emb.shape[0] == 204
    search = saved["text_search"]
    assert search["skipped"] is False and search["pool"] == 80 and len(search["hits"]) == 3
    assert summary["text_search"]["query"] == demo_module.DEMO_QUERY

    out = capsys.readouterr().out
    for i in range(1, 6):
        assert f"[{i}/5]" in out
    assert "MRR" in out and "chance" in out and "text search" in out


@pytest.mark.integration
def test_demo_skips_the_moltext_step_without_the_text_model(tmp_path, monkeypatch, capsys):
    def missing(name_or_path):
        raise MissingDependencyError(f"the text model alias {name_or_path!r} is not installed")

    monkeypatch.setattr(text_models, "resolve_text_model", missing)
    budgets = ["--epochs", "1", "--pretrain-steps", "2", "--moltext-steps", "2"]
    assert main(["demo", "--run-dir", str(tmp_path / "demo"), *budgets]) == 0
    saved = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert set(STEPS) <= set(saved)
    assert saved["pretrain_moltext"]["skipped"] is True
    assert "not installed" in saved["pretrain_moltext"]["reason"]
    assert saved["text_search"] == {"skipped": True}
    assert saved["finetune"]["init"] == saved["pretrain_graph"]["model_dir"]
    out = capsys.readouterr().out
    assert "[3/5] SKIPPED" in out and "[5/5]" in out
