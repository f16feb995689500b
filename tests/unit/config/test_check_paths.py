"""check_paths: paths named in a config are checked before any data work."""

from __future__ import annotations

import pytest

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig, check_paths, load_pretrain_config
from molgraphpt.errors import ConfigError, UnknownNameError


def _finetune(*overrides: str) -> FinetuneConfig:
    return load_config(FinetuneConfig, None, list(overrides))


def test_missing_init_checkpoint_is_named(tmp_path):
    cfg = _finetune(f"model.init={tmp_path / 'nope'}")
    with pytest.raises(ConfigError, match=r"'model.init'.*nope does not exist"):
        check_paths(cfg)


def test_init_without_meta_json_points_to_the_model_folder(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "meta.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"holds no meta.json; did you mean .*model\?"):
        check_paths(_finetune(f"model.init={tmp_path}"))
    check_paths(_finetune(f"model.init={tmp_path / 'model'}"))  # a checkpoint folder passes


def test_init_of_pretraining_is_checked(tmp_path):
    cfg = load_pretrain_config(None, [f"init={tmp_path}"])
    with pytest.raises(ConfigError, match="'init'.*holds no meta.json"):
        check_paths(cfg)


def test_missing_dataset_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.csv' does not exist"):
        check_paths(_finetune(f"data.dataset={tmp_path / 'missing.csv'}"))
    with pytest.raises(UnknownNameError, match="did you mean 'bbbp'"):
        check_paths(_finetune("data.dataset=bbbpp"))
    check_paths(_finetune("data.dataset=embedded"))


def test_pretraining_data_paths_resolve_against_the_data_root(tmp_path):
    (tmp_path / "a.smi").write_text("CCO\n")
    root = f"data.data_root={tmp_path}"
    check_paths(load_pretrain_config(None, [root, "data.paths=[a.smi]"]))
    cfg = load_pretrain_config(None, [root, "data.paths=[a.smi]", "data.exclude=[test.csv]"])
    with pytest.raises(ConfigError, match=r"'data.exclude.0'.*test.csv does not exist"):
        check_paths(cfg)
