"""Seeds are one or more distinct integers >= 0, in a config file, an override or --seeds."""

from __future__ import annotations

import pytest

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig
from molgraphpt.config.seeds import check_seeds, parse_seeds
from molgraphpt.errors import ConfigError


def test_parse_seeds_accepts_spaces():
    assert parse_seeds("0, 1,2") == (0, 1, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0,0", r"Seed 0 is listed more than once.*\[0\]"),
        ("", "at least one seed"),
        (" ", "at least one seed"),
        ("-1", r"-1 for 'seeds.0'.*from 0"),
        ("x", "'x' is not an integer"),
        ("0,,1", "An entry is empty"),
        ("1.5", "'1.5' is not an integer"),
    ],
)
def test_parse_seeds_rejects(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_seeds(text)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("seeds=[0, 1, 0]", "Seed 0 is listed more than once"),
        ("seeds=[-1]", "'seeds.0'"),
        ("seeds=[]", "at least one seed"),
        ("seeds=[4294967296]", "from 0 to 4294967295"),
    ],
)
def test_config_seeds_follow_the_same_rule(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(FinetuneConfig, None, [override])


def test_yaml_seeds_are_checked(tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text("seeds: [1, 2, 2]\n")
    with pytest.raises(ConfigError, match="Seed 2 is listed more than once"):
        load_config(FinetuneConfig, path)
    assert load_config(FinetuneConfig, None, ["seeds=[3, 1]"]).seeds == (3, 1)


def test_check_seeds_rejects_booleans_and_strings():
    with pytest.raises(ConfigError):
        check_seeds([True])
    with pytest.raises(ConfigError, match="a list of integers"):
        check_seeds("01")
