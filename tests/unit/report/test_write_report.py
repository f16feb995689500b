"""write_report on hand-written run directories: the Markdown, the PNGs, the links, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.image
import pytest

from molgraphpt.errors import RunDirError
from molgraphpt.report import write_report
from molgraphpt.report.curves import Curve
from molgraphpt.report.plots import pretrain_figure
from tests.unit.report.run_dirs import REVISION, finetune_run, pretrain_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_side: int = 200) -> None:
    """``path`` is a PNG that decodes to an RGBA image of a readable size."""
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] == 4 and min(image.shape[:2]) >= min_side, image.shape


def test_classification_report(tmp_path):
    run = tmp_path / "run"
    extra = {
        "command": ["molgraphpt", "finetune", "--run-dir", "my run"],
        "data": [{"path": "/d/mol.csv.gz", "sha256": "ef" * 32, "role": "dataset"}],
        "cwd": "/home/me",
        "created": "2026-01-02T03:04:05+00:00",
    }
    res = finetune_run(run, tasks=("p_np", "tox"), extra=extra)
    path = write_report(run)
    assert path == run / "report.md"
    md = path.read_text()
    assert md.startswith("# Fine-tuning report: toyset")
    assert "| 0 | epoch 3 (step 9) | 3 | 0.7 | 0.6 |" in md
    assert "| 1 | epoch 3 (step 9) | 3 | 0.71 | 0.62 |" in md
    valid, test = res["valid"], res["test"]
    assert (
        f"| {valid['mean']:.4g} ± {valid['std']:.4g} | {test['mean']:.4g} ± {test['std']:.4g} |"
        in md
    )
    assert "`molgraphpt finetune --run-dir 'my run'`" in md and REVISION in md
    assert "2026-01-02T03:04:05+00:00" in md and "| working directory | `/home/me` |" in md
    assert "| dataset | `/d/mol.csv.gz` | `" + "ef" * 32 + "` |" in md
    assert "train / valid / test = 30 / 10 / 20" in md
    assert "![training loss and validation roc_auc per seed](report/training_curves.png)" in md
    assert "](report/test_roc.png)" in md and "```yaml\nrun_dir: " in md
    assert_png(run / "report" / "training_curves.png")
    assert_png(run / "report" / "test_roc.png")


def test_regression_report_has_a_parity_plot(tmp_path):
    finetune_run(tmp_path, task_type="regression", tasks=("measured log solubility",), seeds=(3,))
    md = write_report(tmp_path).read_text()
    assert "## Test set: Parity plot" in md and "](report/test_parity.png)" in md
    assert "| 3 | epoch 3 (step 9) | 3 | 0.73 | 0.66 |" in md
    assert_png(tmp_path / "report" / "test_parity.png")
    assert not (tmp_path / "report" / "test_roc.png").exists()


def test_missing_predictions_are_reported_instead_of_the_plot(tmp_path):
    finetune_run(tmp_path, predictions=False, extra={"data_hashes": {"a.csv": "12" * 32}})
    md = write_report(tmp_path).read_text()
    assert "| input | `a.csv` | `" + "12" * 32 + "` |" in md  # the mapping form of data hashes
    assert "`seed_0/test_predictions.csv`, `seed_1/test_predictions.csv` missing" in md
    assert not (tmp_path / "report" / "test_roc.png").exists()
    assert_png(tmp_path / "report" / "training_curves.png")


def test_pretraining_report(tmp_path):
    summary = pretrain_run(tmp_path)
    md = write_report(tmp_path).read_text()
    assert md.startswith(f"# Pretraining report: attr_mask, graphcl ({tmp_path.name})")
    assert "`" + summary["corpus"]["sources"][0]["sha256"] + "`" in md
    assert "| `attr_mask/loss` | 0.5 | 0.625 |" in md and "valid (step 8)" in md
    assert "](report/pretrain_losses.png)" in md
    assert_png(tmp_path / "report" / "pretrain_losses.png")


def test_pretrain_axis_is_logarithmic_only_beyond_a_factor_of_ten():
    wide = Curve("a", [1.0, 2.0], [100.0, 5.0])
    narrow = Curve("a", [1.0, 2.0], [10.0, 5.0])
    assert pretrain_figure([wide], title="t").axes[0].get_yscale() == "log"
    assert pretrain_figure([narrow], title="t").axes[0].get_yscale() == "linear"


def test_out_elsewhere_links_figures_relatively(tmp_path):
    finetune_run(tmp_path / "run")
    out = write_report(tmp_path / "run", out=tmp_path / "docs" / "bbbp.md")
    assert out == tmp_path / "docs" / "bbbp.md"
    assert "](bbbp/training_curves.png)" in out.read_text()
    assert_png(tmp_path / "docs" / "bbbp" / "training_curves.png")
    assert not (tmp_path / "run" / "report.md").exists()
    (tmp_path / "d").mkdir()
    assert write_report(tmp_path / "run", out=tmp_path / "d") == tmp_path / "d" / "report.md"


def test_missing_config_yaml_falls_back_to_the_summary_copy(tmp_path):
    finetune_run(tmp_path, predictions=False)
    (tmp_path / "config.yaml").unlink()
    md = write_report(tmp_path).read_text()
    assert "_`config.yaml` is missing; the copy in results.json:_" in md
    assert "```yaml\ntrain:\n  batch_size: 10" in md


def test_missing_run_dir_writes_nothing(tmp_path):
    with pytest.raises(RunDirError, match="nowhere"):
        write_report(tmp_path / "nowhere")
    assert list(tmp_path.iterdir()) == []


def test_reports_of_two_runs_in_threads(tmp_path):
    for name in ("a", "b"):
        finetune_run(tmp_path / name)
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(write_report, [tmp_path / "a", tmp_path / "b"]))
    for path in paths:
        assert_png(path.parent / "report" / "test_roc.png")


def test_report_imports_no_torch(tmp_path):
    pretrain_run(tmp_path)  # one figure: the subprocess stays short
    code = (
        "import sys; from molgraphpt.report import write_report; "
        f"write_report({str(tmp_path)!r}); "
        "print(sorted(m for m in ('torch', 'torch_geometric', 'rdkit', 'molgraphpt.recipes') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


def test_many_tasks_draw_the_first_twelve_and_say_so(tmp_path):
    tasks = tuple(f"task_{i}" for i in range(14))
    finetune_run(tmp_path, task_type="regression", tasks=tasks, seeds=(0,))
    md = write_report(tmp_path).read_text()
    assert "_The first 12 of 14 tasks are drawn._" in md
    assert_png(tmp_path / "report" / "test_parity.png", min_side=800)  # a 4 x 3 grid of panels
