"""molgraphpt report on real run directories written by the fine-tuning (property and relation)
and pretraining recipes."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import matplotlib.image
import pytest

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import (
    FinetuneConfig,
    RelationFinetuneConfig,
    load_pretrain_config,
)
from molgraphpt.recipes.finetune import run_finetune
from molgraphpt.recipes.pretrain import run_pretraining
from molgraphpt.recipes.relation import run_relation_finetune
from molgraphpt.report import write_report
from molgraphpt.report.curves import finetune_curves, steps_per_epoch
from molgraphpt.report.files import read_run
from molgraphpt.report.predictions import read_predictions, rmse, roc
from molgraphpt.report.relation import confusion_counts, read_relation_predictions

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "ogb"
TINY = [
    "model.encoder.hidden_dim=16",
    "model.encoder.num_layers=1",
    "train.batch_size=64",
    "train.progress=false",
    "train.epochs=2",
    "train.log_every=4",
    "seeds=[0]",
]


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= 200, image.shape


def _finetune(run: Path, *overrides: str) -> dict:
    return run_finetune(load_config(FinetuneConfig, None, [f"run_dir={run}", *TINY, *overrides]))


def _check_finetune_report(run: Path, res: dict, plot: str) -> str:
    md = write_report(run).read_text()
    seed = res["seeds"][0]
    metric = res["metric"]
    row = f"| 0 | epoch {seed['best_epoch'] + 1} (step {seed['best_step']}) | 2 | "
    assert row + f"{seed['valid'][metric]:.4g} | {seed['test'][metric]:.4g} |" in md
    assert f"{res['test']['mean']:.4g} ± {res['test']['std']:.4g}" in md
    assert_png(run / "report" / "training_curves.png")
    # the epoch axis: evaluations after each epoch sit on whole epochs (the loader's batch count)
    _, valid = finetune_curves(run / "seed_0", metric, steps_per_epoch(res), "seed 0")
    assert valid.x == [1.0, 2.0]
    # the recipe's seed_0/test_predictions.csv, read back and drawn, gives the test metric
    pred = read_predictions(run / "seed_0" / "test_predictions.csv")
    value = roc(pred, 0).auc if metric == "roc_auc" else rmse(pred, 0)
    assert value == pytest.approx(seed["test"][metric], rel=1e-5)
    assert_png(run / "report" / plot)
    assert f"](report/{plot})" in md and "test_predictions.csv` missing" not in md
    return md


def _subset_csv(tmp_path: Path, ogb: str, rows: int = 300) -> Path:
    """The first ``rows`` molecules of an OGB fixture as a user CSV (``smiles`` + its target)."""
    path = tmp_path / f"{ogb}.csv"
    with gzip.open(DATA / ogb / "mapping" / "mol.csv.gz", "rt") as fin, path.open("w") as fout:
        reader, writer = csv.reader(fin), csv.writer(fout)
        header = next(reader)
        writer.writerow(["smiles", header[0]])
        for _, row in zip(range(rows), reader):
            writer.writerow([row[1], row[0]])
    return path


@pytest.mark.integration
def test_report_of_a_classification_finetune(tmp_path):
    csv_path = _subset_csv(tmp_path, "ogbg_molbbbp")
    res = _finetune(tmp_path / "run", f"data.dataset={csv_path}", "data.task_type=classification")
    md = _check_finetune_report(tmp_path / "run", res, "test_roc.png")
    assert md.startswith("# Fine-tuning report: ogbg_molbbbp") and "valid roc_auc" in md


@pytest.mark.integration
def test_report_of_a_regression_finetune(tmp_path):
    csv_path = _subset_csv(tmp_path, "ogbg_molesol")
    res = _finetune(tmp_path / "run", f"data.dataset={csv_path}", "data.task_type=regression")
    md = _check_finetune_report(tmp_path / "run", res, "test_parity.png")
    assert "## Test set: Parity plot" in md and "valid rmse" in md


@pytest.mark.integration
def test_report_of_a_pretraining_run(tmp_path):
    cfg = load_pretrain_config(
        REPO / "configs" / "pretrain" / "tiny.yaml",
        [f"run_dir={tmp_path}", f"data.data_root={REPO}", "train.max_steps=6"]
        + ["train.log_every=2", "train.eval_every=3"],
    )
    run_pretraining(cfg)
    md = write_report(tmp_path).read_text()
    info = json.loads((tmp_path / "pretrain.json").read_text())
    sha = info["corpus"]["sources"][0]["sha256"]
    assert read_run(tmp_path).kind == "pretrain" and f"`{sha}`" in md
    assert "| `attr_mask/loss` | " in md and "valid (step 6)" in md
    assert "](report/pretrain_losses.png)" in md
    assert_png(tmp_path / "report" / "pretrain_losses.png")


@pytest.mark.integration
def test_report_of_a_relation_finetune(tmp_path, tiny_text_dir):
    """The relation recipe writes report.md at its end; its numbers are results.json's."""
    overrides = [
        f"model.name_or_path={tiny_text_dir}",
        f"run_dir={tmp_path / 'run'}",
        "train.lr=1e-3",
        "train.num_threads=1",
        "train.log_every=2",
        *(
            f"data.{s}={REPO / 'tests/data/relation' / f'{s}.jsonl'}"
            for s in ("train", "dev", "test")
        ),
    ]
    cfg = load_config(
        RelationFinetuneConfig, REPO / "configs/finetune/relation_tiny.yaml", overrides
    )
    res = run_relation_finetune(cfg)
    run = tmp_path / "run"
    md = (run / "report.md").read_text()  # written by the recipe
    assert read_run(run).kind == "relation"
    assert md.startswith("# Relation-extraction report: relation")
    seed = res["seeds"][0]
    row = f"| 0 | epoch {seed['best_epoch'] + 1} (step {seed['best_step']}) | 2 | "
    for part in ("valid", "test"):
        scores = seed[part]
        cells = " | ".join(f"{scores[k]:.4g}" for k in ("micro_f1", "macro_f1", "accuracy"))
        assert row + cells + " |" in md
    assert f"{res['test']['mean']:.4g} ± {res['test']['std']:.4g}" in md
    assert f"`{res['data'][0]['sha256']}`" in md
    for name, scores in res["test_per_label"].items():
        assert f"| `{name}` | {scores['precision']:.4g} | {scores['recall']:.4g} | " in md
    assert "No training loss was logged" not in md
    assert_png(run / "report" / "training_curves.png")
    assert_png(run / "report" / "test_confusion.png")
    # the matrix's diagonal over the test file is the recorded accuracy
    pred = read_relation_predictions(run / "seed_0" / "test_predictions.csv")
    _, counts, _ = confusion_counts([pred], pred.labels)
    assert counts.trace() / counts.sum() == pytest.approx(seed["test"]["accuracy"])
