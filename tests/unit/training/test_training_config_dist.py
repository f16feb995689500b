from __future__ import annotations

import pytest
from torch import nn

from molgraphpt.errors import ConfigError
from molgraphpt.training import TrainConfig
from molgraphpt.training import distributed as dist


def test_defaults_are_valid():
    cfg = TrainConfig()
    assert cfg.optimizer == "adam" and cfg.device == "auto" and cfg.max_steps is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 0),
        ("max_steps", 0),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("head_lr", -1.0),
        ("weight_decay", -0.1),
        ("optimizer", "sgd"),
        ("schedule", "step"),
        ("grad_accum", 0),
        ("grad_accum", True),
        ("clip_norm", 0),
        ("precision", "fp8"),
        ("eval_every", -1),
        ("patience", 0),
        ("log_every", 0),
        ("device", "tpu:x"),
        ("num_threads", 0),
        ("progress", "yes"),
    ],
)
def test_invalid_values(key, value):
    with pytest.raises(ConfigError, match=f"train.{key}"):
        TrainConfig(**{key: value})


def test_fp16_on_cpu_is_rejected():
    with pytest.raises(ConfigError, match="bf16"):
        TrainConfig(device="cpu", precision="fp16")


def test_single_process_helpers():
    assert not dist.is_distributed()
    assert dist.rank() == 0 and dist.world_size() == 1 and dist.is_main_process()
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    dist.barrier()
    dist.cleanup()
    model = nn.Linear(2, 2)
    assert dist.unwrap(model) is model


def test_init_distributed_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.init_distributed() is False
