"""CLI in-process: overrides after options, paths checked first, OS errors, quiet libraries."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

from molgraphpt.cli.main import main, quiet_libraries


def test_overrides_after_options_reach_the_config(tmp_path, capsys):
    code = main(["finetune", "--run-dir", str(tmp_path / "r"), "train.learning_rate=1e-3"])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'lr'" in err


def test_missing_init_fails_before_any_data_work(tmp_path, capsys):
    csv = tmp_path / "mols.csv"
    csv.write_text("smiles,y\nCCO,1\nCCN,0\n")
    argv = ["finetune", "--csv", str(csv), "--targets", "y", "--run-dir", str(tmp_path / "run")]
    argv += [f"data.cache_dir={tmp_path / 'cache'}", f"model.init={tmp_path / 'pretrained'}"]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "'model.init'" in err and "pretrained does not exist" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_missing_pretraining_corpus_is_named(tmp_path, capsys):
    argv = ["pretrain", "--run-dir", str(tmp_path / "run"), "--data-root", str(tmp_path)]
    code = main([*argv, "data.paths=[zinc.csv]"])
    err = capsys.readouterr().err
    assert code == 2 and "'data.paths.0'" in err and "zinc.csv does not exist" in err
    assert not (tmp_path / "run").exists()


def test_user_os_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    src.write_text("smiles\nCCO\n")
    code = main(["featurize", str(src), "--out", str(src / "store"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: NotADirectoryError:") and len(err.splitlines()) == 1


@pytest.fixture
def hf_env(monkeypatch):
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "HF_HUB_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)
    yield
    os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # monkeypatch restores the user's value
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        with warnings.catch_warnings():  # huggingface_hub read the variable when imported
            warnings.simplefilter("ignore")
            transformers_logging.enable_progress_bar()
        transformers_logging.set_verbosity_warning()


def test_library_progress_bars_and_notices_are_off(hf_env):
    quiet_libraries()
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    from transformers.utils import logging as transformers_logging

    quiet_libraries()  # also when transformers was imported before
    assert not transformers_logging.is_progress_bar_enabled()
    assert transformers_logging.get_verbosity() == transformers_logging.ERROR
