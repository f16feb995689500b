"""Tests for the generic strict config loader (molgraphpt.config.loading)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import pytest
import yaml

from molgraphpt.config.loading import (
    ConfigFileNotFoundError,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    set_dotted,
    to_dict,
    to_yaml,
)
from molgraphpt.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class GraphCfg:
    arch: str = "gine"
    hidden_dim: int = 300
    num_layers: int = 5
    dropout: float = 0.0
    jk: Literal["last", "sum", "cat"] = "last"

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise ConfigError("model.graph.num_layers", self.num_layers, expected="an int >= 1")


@dataclass(frozen=True)
class TextCfg:
    name_or_path: str = "bert"
    pooling: Literal["cls", "mean"] = "cls"


@dataclass(frozen=True)
class ModelCfg:
    graph: GraphCfg = field(default_factory=GraphCfg)
    text: TextCfg | None = None
    legacy: Optional[TextCfg] = None  # noqa: UP045 - the typing spelling must work too
    embed_dim: int = 256


@dataclass(frozen=True)
class TaskCfg:
    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainCfg:
    lr: float = 1e-4
    batch_size: int = 32
    amp: bool = False
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    milestones: tuple[int, ...] = (10, 20)
    betas: tuple[float, float] = (0.9, 0.999)
    tags: list[str] = field(default_factory=list)
    clip: float | None = None
    extra: Any = None


@dataclass(frozen=True)
class ExpCfg:
    seed: int = 0
    out: Path = Path("runs")
    model: ModelCfg = field(default_factory=ModelCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    objectives: tuple[TaskCfg, ...] = (TaskCfg("attr_mask"),)
    heads: list[TaskCfg] = field(default_factory=list)


@dataclass(frozen=True)
class Schedule:
    milestones: tuple[int, ...] = ()
    grid: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class NeedsName:
    name: str
    size: int
    note: str = ""


# --- from_dict: keys ---------------------------------------------------------------------------


def test_defaults_from_empty_mapping() -> None:
    assert from_dict(ExpCfg, {}) == ExpCfg()


def test_unknown_top_level_key_suggests_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        from_dict(ExpCfg, {"sed": 1})
    msg = str(info.value)
    assert "did you mean 'seed'" in msg
    assert "top-level config key" in msg
    assert "heads, model, objectives, out, seed, train" in msg
    assert isinstance(info.value, KeyError)


def test_unknown_nested_key_names_its_section() -> None:
    with pytest.raises(UnknownNameError) as info:
        from_dict(ExpCfg, {"model": {"graph": {"hiden_dim": 64}}})
    msg = str(info.value)
    assert "config key under 'model.graph'" in msg
    assert "did you mean 'hidden_dim'" in msg
    assert info.value.kind == "config key under 'model.graph'"


def test_unknown_key_inside_list_element_names_index() -> None:
    with pytest.raises(UnknownNameError, match=r"under 'objectives\.1'.*did you mean 'weight'"):
        from_dict(ExpCfg, {"objectives": [{"name": "a"}, {"name": "b", "wieght": 2}]})


def test_missing_required_field_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(NeedsName, {"note": "x"})
    assert info.value.key == "name"
    assert "name, size" in str(info.value)
    with pytest.raises(ConfigError, match=r"objectives\.0\.name"):
        from_dict(ExpCfg, {"objectives": [{"weight": 0.5}]})


def test_non_mapping_section_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'model\.graph'.*GraphCfg"):
        from_dict(ExpCfg, {"model": {"graph": 3}})


# --- from_dict: leaf types ---------------------------------------------------------------------


def test_wrong_type_reports_dotted_key_value_and_expected() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(ExpCfg, {"train": {"lr": "fast"}})
    err = info.value
    assert err.key == "train.lr"
    assert err.value == "fast"
    assert "number" in err.expected
    assert isinstance(err, ValueError)


def test_literal_error_lists_choices() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(ExpCfg, {"train": {"precision": "bf15"}})
    assert info.value.key == "train.precision"
    assert "'fp32', 'bf16', 'fp16'" in str(info.value)


@pytest.mark.parametrize("bad", [True, 3.5, "three", None, [3]])
def test_int_is_strict(bad: object) -> None:
    with pytest.raises(ConfigError, match="train.batch_size"):
        from_dict(ExpCfg, {"train": {"batch_size": bad}})


@pytest.mark.parametrize(("given", "expected"), [(64, 64), (64.0, 64), ("1e5", 100000)])
def test_int_accepts_integral_numbers(given: object, expected: int) -> None:
    cfg = from_dict(ExpCfg, {"train": {"batch_size": given}})
    assert cfg.train.batch_size == expected
    assert type(cfg.train.batch_size) is int


@pytest.mark.parametrize(
    ("given", "expected"), [(1, 1.0), (0.5, 0.5), ("1e-3", 1e-3), ("-2.5E+2", -250.0)]
)
def test_float_accepts_int_and_yaml11_exponent_strings(given: object, expected: float) -> None:
    cfg = from_dict(ExpCfg, {"train": {"lr": given}})
    assert cfg.train.lr == expected
    assert type(cfg.train.lr) is float


def test_yaml_string_exponent_through_load(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  lr: 1e-3\n")
    assert yaml.safe_load("lr: 1e-3")["lr"] == "1e-3"  # the YAML 1.1 quirk being handled
    assert load_config(ExpCfg, tmp_path / "c.yaml").train.lr == pytest.approx(1e-3)


@pytest.mark.parametrize("bad", [True, "1e-3x", "inf", None])
def test_float_rejects_bools_and_junk(bad: object) -> None:
    with pytest.raises(ConfigError, match="train.lr"):
        from_dict(ExpCfg, {"train": {"lr": bad}})


@pytest.mark.parametrize("bad", [1, 0, "true", "yes", None])
def test_bool_is_strict(bad: object) -> None:
    with pytest.raises(ConfigError, match="train.amp"):
        from_dict(ExpCfg, {"train": {"amp": bad}})


def test_str_is_strict() -> None:
    with pytest.raises(ConfigError, match="model.graph.arch"):
        from_dict(ExpCfg, {"model": {"graph": {"arch": 7}}})


def test_tuple_fields_become_tuples_and_config_stays_hashable() -> None:
    cfg = from_dict(ExpCfg, {"train": {"milestones": [1, 2, 3], "betas": [0.8, 1]}})
    assert cfg.train.milestones == (1, 2, 3)
    assert cfg.train.betas == (0.8, 1.0)
    sched = from_dict(Schedule, {"milestones": [1, 2], "grid": [[1, 2], [3, 4]]})
    assert sched == Schedule((1, 2), ((1, 2), (3, 4)))
    assert hash(sched) == hash(Schedule((1, 2), ((1, 2), (3, 4))))
    with pytest.raises(ConfigError, match=r"train\.milestones\.1"):
        from_dict(ExpCfg, {"train": {"milestones": [1, "two"]}})
    with pytest.raises(ConfigError, match="2 items"):
        from_dict(ExpCfg, {"train": {"betas": [0.9]}})
    with pytest.raises(ConfigError, match="train.milestones"):
        from_dict(ExpCfg, {"train": {"milestones": 5}})


def test_list_of_str_and_optional_leaf() -> None:
    cfg = from_dict(ExpCfg, {"train": {"tags": ["a", "b"], "clip": 1, "extra": {"x": [1]}}})
    assert cfg.train.tags == ["a", "b"]
    assert cfg.train.clip == 1.0
    assert cfg.train.extra == {"x": [1]}
    assert from_dict(ExpCfg, {"train": {"clip": None}}).train.clip is None
    with pytest.raises(ConfigError, match=r"train\.tags\.0"):
        from_dict(ExpCfg, {"train": {"tags": [1]}})


def test_path_field_from_string() -> None:
    assert from_dict(ExpCfg, {"out": "runs/x"}).out == Path("runs/x")


def test_list_of_nested_configs() -> None:
    data = {
        "objectives": [{"name": "attr_mask", "weight": 0.5, "params": {"mask_rate": 0.15}}],
        "heads": [{"name": "h"}],
    }
    cfg = from_dict(ExpCfg, data)
    assert cfg.objectives == (TaskCfg("attr_mask", 0.5, {"mask_rate": 0.15}),)
    assert cfg.heads == [TaskCfg("h")]
    with pytest.raises(ConfigError, match=r"objectives\.0\.weight"):
        from_dict(ExpCfg, {"objectives": [{"name": "a", "weight": "heavy"}]})


def test_optional_nested_config() -> None:
    assert from_dict(ExpCfg, {"model": {"text": None}}).model.text is None
    cfg = from_dict(ExpCfg, {"model": {"text": {"pooling": "mean"}, "legacy": {}}})
    assert cfg.model.text == TextCfg(pooling="mean")
    assert cfg.model.legacy == TextCfg()
    with pytest.raises(UnknownNameError, match="under 'model.text'"):
        from_dict(ExpCfg, {"model": {"text": {"poolin": "mean"}}})


def test_post_init_errors_propagate() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(ExpCfg, {"model": {"graph": {"num_layers": 0}}})
    assert info.value.key == "model.graph.num_layers"


def test_from_dict_rejects_non_dataclass() -> None:
    with pytest.raises(TypeError):
        from_dict(dict, {})


# --- overrides ---------------------------------------------------------------------------------


def test_set_dotted_creates_intermediate_dicts() -> None:
    raw: dict[str, Any] = {"model": None}
    set_dotted(raw, "model.graph.hidden_dim", 64)
    set_dotted(raw, "seed", 3)
    assert raw == {"model": {"graph": {"hidden_dim": 64}}, "seed": 3}


def test_set_dotted_list_index_and_append() -> None:
    raw: dict[str, Any] = {"objectives": [{"name": "a"}]}
    set_dotted(raw, "objectives.0.weight", 0.5)
    set_dotted(raw, "objectives.1.name", "b")
    assert raw == {"objectives": [{"name": "a", "weight": 0.5}, {"name": "b"}]}
    with pytest.raises(ConfigError, match=r"objectives\.5"):
        set_dotted(raw, "objectives.5.name", "c")
    with pytest.raises(ConfigError, match="list index"):
        set_dotted(raw, "objectives.first.name", "c")


def test_set_dotted_through_scalar_and_bad_keys() -> None:
    raw: dict[str, Any] = {"train": {"lr": 0.1}}
    with pytest.raises(ConfigError, match="train.lr"):
        set_dotted(raw, "train.lr.value", 1)
    with pytest.raises(ConfigError):
        set_dotted(raw, "train..lr", 1)


def test_apply_overrides_parses_yaml_values_and_copies() -> None:
    raw = {"train": {"lr": 0.1}, "objectives": [{"name": "a"}]}
    out = apply_overrides(
        raw,
        [
            "train.lr=3e-4",
            "train.milestones=[1, 2]",
            "train.clip=null",
            "train.amp=true",
            "objectives.0.weight=0.5",
            "model.text.pooling=mean",
            "out=a=b",
        ],
    )
    assert raw == {"train": {"lr": 0.1}, "objectives": [{"name": "a"}]}
    assert out["train"] == {"lr": "3e-4", "milestones": [1, 2], "clip": None, "amp": True}
    assert out["objectives"] == [{"name": "a", "weight": 0.5}]
    assert out["model"] == {"text": {"pooling": "mean"}}
    assert out["out"] == "a=b"
    cfg = from_dict(ExpCfg, out)
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.train.milestones == (1, 2)
    assert cfg.objectives[0].weight == 0.5


def test_override_without_equals_shows_example() -> None:
    with pytest.raises(ConfigError, match=r"KEY=VALUE, e\.g\. train\.lr=3e-4"):
        apply_overrides({}, ["train.lr"])


def test_override_with_bad_yaml_value() -> None:
    with pytest.raises(ConfigError, match="train.milestones"):
        apply_overrides({}, ["train.milestones=[1, 2"])


def test_override_unknown_key_is_rejected_by_from_dict() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'lr'"):
        load_config(ExpCfg, None, ["train.lrr=0.1"])


# --- files -------------------------------------------------------------------------------------


def test_load_config_from_file_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "seed: 1\n"
        "model:\n  graph: {hidden_dim: 64, jk: cat}\n"
        "objectives:\n  - {name: attr_mask, weight: 0.5}\n  - {name: mlm}\n"
        "train:\n  lr: 1.0e-4\n  precision: bf16\n"
    )
    cfg = load_config(ExpCfg, path, ["objectives.1.weight=0.25", "seed=7"])
    assert cfg.seed == 7
    assert cfg.model.graph == GraphCfg(hidden_dim=64, jk="cat")
    assert cfg.objectives == (TaskCfg("attr_mask", 0.5), TaskCfg("mlm", 0.25))
    assert cfg.train.precision == "bf16"


def test_load_config_none_and_empty_file(tmp_path: Path) -> None:
    assert load_config(ExpCfg, None) == ExpCfg()
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert load_config(ExpCfg, str(tmp_path / "empty.yaml")) == ExpCfg()


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigFileNotFoundError) as info:
        load_config(ExpCfg, missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, ConfigError)
    assert str(missing) in str(info.value)
    assert "No such file" in str(info.value)


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(ExpCfg, tmp_path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\ntrain:\n  lr: [0.1\n  amp: true\n")
    with pytest.raises(ConfigError) as info:
        load_config(ExpCfg, path)
    msg = str(info.value)
    assert str(path) in msg
    assert "line 4" in msg


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(ExpCfg, path)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = from_dict(
        ExpCfg,
        {
            "out": "runs/a",
            "model": {"text": {"pooling": "mean"}, "graph": {"dropout": 0.1}},
            "train": {"lr": "1e-10", "milestones": [5], "tags": ["x"], "clip": 1.5},
            "objectives": [{"name": "a", "params": {"mask_rate": 0.15, "keep": [1, 2]}}],
            "heads": [{"name": "h", "weight": 2}],
        },
    )
    plain = to_dict(cfg)
    assert plain["train"]["milestones"] == [5]
    assert plain["train"]["betas"] == [0.9, 0.999]
    assert plain["out"] == "runs/a"
    text = to_yaml(cfg)
    assert "!!python" not in text
    assert from_dict(ExpCfg, yaml.safe_load(text)) == cfg
    written = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert written == tmp_path / "run" / "config.yaml"
    assert load_config(ExpCfg, written) == cfg
    assert [p.name for p in written.parent.iterdir()] == ["config.yaml"]  # no temp file left


def test_save_config_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("old: true\n")
    save_config(ExpCfg(seed=5), path)
    assert load_config(ExpCfg, path).seed == 5


def test_to_dict_needs_instance() -> None:
    with pytest.raises(TypeError):
        to_dict(ExpCfg)
    assert dataclasses.is_dataclass(ExpCfg())


@pytest.mark.parametrize(
    "override, key",
    [
        ("moltext.temperature=0.001", "moltext.temperature"),  # MolTextConfig's bound (>= 0.01)
        ("moltext.proj_dim=0", "moltext.proj_dim"),
        ("moltext.projection=deep", "moltext.projection"),
    ],
)
def test_moltext_options_follow_the_model_rule_when_the_config_is_read(override, key):
    """Checked when the YAML is read, naming the key the user wrote (not model.temperature)."""
    from molgraphpt.config.schema import load_pretrain_config

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_pretrain_config(None, [override])
