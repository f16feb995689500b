from __future__ import annotations

import pytest
import torch
from torch import nn

from molgraphpt.errors import ConfigError
from molgraphpt.training import TrainConfig, build_optimizer, build_scheduler, param_groups
from molgraphpt.training.optim import lr_factor


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.lin = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, 2)
        self.logit_scale = nn.Parameter(torch.zeros(()))
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)


def names(module: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {n for n, p in module.named_parameters() if id(p) in ids}


def test_no_decay_on_bias_norm_embedding_logit_scale():
    model = Toy()
    groups = {g["name"]: g for g in param_groups(model, 0.1, lr=1e-3)}
    assert set(groups) == {"decay", "no_decay"}
    assert names(model, groups["decay"]) == {"lin.weight", "head.weight"}
    assert names(model, groups["no_decay"]) == {
        "embed.weight",
        "lin.bias",
        "norm.weight",
        "norm.bias",
        "bn.weight",
        "bn.bias",
        "head.bias",
        "logit_scale",
    }
    assert groups["decay"]["weight_decay"] == 0.1 and groups["no_decay"]["weight_decay"] == 0.0


def test_head_lr_groups():
    model = Toy()
    groups = {
        g["name"]: g
        for g in param_groups(model, 0.1, lr=1e-3, head_lr=1e-2, head_prefixes=["head"])
    }
    assert names(model, groups["head_decay"]) == {"head.weight"}
    assert names(model, groups["head_no_decay"]) == {"head.bias"}
    assert groups["head_decay"]["lr"] == 1e-2 and groups["decay"]["lr"] == 1e-3
    with pytest.raises(ConfigError, match="headz"):
        param_groups(model, 0.1, lr=1e-3, head_prefixes=["headz"])
    with pytest.raises(ConfigError):  # prefixes match on module boundaries, not substrings
        param_groups(model, 0.1, lr=1e-3, head_prefixes=["hea"])


def test_build_optimizer():
    model = Toy()
    opt = build_optimizer(param_groups(model, 0.1, lr=1e-3), TrainConfig(optimizer="adamw"))
    assert isinstance(opt, torch.optim.AdamW)
    assert isinstance(build_optimizer(list(model.parameters()), TrainConfig()), torch.optim.Adam)


def test_lr_factor_values():
    kw = dict(warmup_steps=4, total_steps=10)
    assert [lr_factor(s, schedule="cosine", **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, schedule="cosine", **kw) == 1.0
    assert lr_factor(7, schedule="cosine", **kw) == pytest.approx(0.5)
    assert lr_factor(10, schedule="cosine", **kw) == pytest.approx(0.0)
    assert lr_factor(7, schedule="linear", **kw) == pytest.approx(0.5)
    assert lr_factor(9, schedule="linear", **kw) == pytest.approx(1 / 6)
    assert lr_factor(9, schedule="constant", **kw) == 1.0
    assert lr_factor(0, schedule="cosine", warmup_steps=0, total_steps=10) == 1.0


def test_scheduler_drives_every_group():
    model = Toy()
    groups = param_groups(model, 0.0, lr=1.0, head_lr=10.0, head_prefixes=["head"])
    cfg = TrainConfig(lr=1.0, schedule="cosine", warmup_steps=2)
    opt = build_optimizer(groups, cfg)
    sched = build_scheduler(opt, cfg, total_steps=6)
    seen = []
    for _ in range(6):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    body = [lrs[0] for lrs in seen]
    head = [lrs[-1] for lrs in seen]
    expected = [0.5, 1.0, 1.0, 0.5 * (1 + 0.7071067811865476), 0.5, 0.5 * (1 - 0.7071067811865476)]
    assert body == pytest.approx(expected)
    assert head == pytest.approx([10 * v for v in expected])
    state = sched.state_dict()  # a plain, weights_only-loadable state
    assert state["last_epoch"] == 6
