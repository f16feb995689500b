"""Graph self-supervised objectives: finite losses, gradients everywhere, overfitting, RNG."""

from __future__ import annotations

import pytest
import torch

from molgraphpt.errors import ConfigError, UnknownNameError
from molgraphpt.objectives import (
    TASKS,
    ContextPrediction,
    ContextPredictionConfig,
    StochasticTask,
    TaskSpec,
    build_task,
    build_task_config,
)

from .conftest import PARAMS, molecules, tiny_encoder, train_until_halved

NAMES = sorted(PARAMS)

#: Parameters that may legitimately receive no gradient, per objective (none today: every head,
#: the context encoder and every encoder parameter must be trained).
ALLOWED_WITHOUT_GRAD: dict[str, set[str]] = {name: set() for name in NAMES}

VARIANTS = [
    ("attr_mask", {"mask_bonds": True}),
    ("attr_mask", {"keep_atom_features": True}),
    ("context_pred", {"k": 2, "r1": 1, "r2": 3, "mode": "skipgram", "neg_samples": 2}),
    ("context_pred", {"k": 2, "r1": 0, "r2": 2, "context_pooling": "max"}),
    ("edge_pred", {"bond_rate": 0.5, "neg_samples": 3}),
    ("infomax", {"negative": "random"}),
    ("graphcl", {"aug1": "drop_nodes", "aug2": "subgraph", "symmetric": True}),
    ("graphcl", {"aug1": "perturb_edges", "aug2": "mask_attributes", "proj_dim": 8}),
    ("graphcl", {"aug1": "none", "aug2": "random", "random_augs": ["drop_nodes", "subgraph"]}),
    ("graphmae", {"alpha": 2.0}),
]


def build(name: str, params: dict | None = None, seed: int | None = 0, **encoder_kw):
    torch.manual_seed(0)
    spec = TaskSpec(name, params={**PARAMS[name], **(params or {}), "seed": seed})
    return build_task(spec, tiny_encoder(**encoder_kw))


def test_registry_has_every_graph_objective():
    assert set(NAMES) <= set(TASKS.names())
    for name in NAMES:
        assert TASKS.get(name).__doc__ and "arXiv:" in TASKS.get(name).__doc__


@pytest.mark.parametrize(
    ("name", "params"), [(n, {}) for n in NAMES] + VARIANTS, ids=lambda v: str(v)
)
def test_loss_is_finite_and_every_parameter_gets_a_gradient(batch, name, params):
    task = build(name, params)
    out = task(batch)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert "loss" in out.logs and all(not v.requires_grad for v in out.logs.values())
    out.loss.backward()
    missing = {
        n for n, p in task.named_parameters() if p.grad is None or not bool(p.grad.abs().sum())
    }
    assert missing <= ALLOWED_WITHOUT_GRAD[name], missing
    assert any(n.startswith("encoder.") for n, _ in task.named_parameters())


@pytest.mark.parametrize("name", NAMES)
def test_overfits_one_batch(batch, name):
    """Loss halves within 100 Adam steps with the randomness fixed (reseeded every step)."""
    losses = train_until_halved(build(name), batch, steps=100, lr=1e-2)
    assert losses[-1] <= 0.5 * losses[0], (losses[0], min(losses))


@pytest.mark.parametrize("name", NAMES)
def test_randomness_is_seeded_and_state_savable(batch, name):
    task = build(name, seed=3)
    assert isinstance(task, StochasticTask)
    task.train(False)  # batch-norm running statistics: identical forward passes
    state = task.rng_state()
    first = [float(task(batch).loss.detach()) for _ in range(3)]
    task.set_rng_state(state)
    assert [float(task(batch).loss.detach()) for _ in range(3)] == first
    task.reseed(3)
    assert float(task(batch).loss.detach()) == first[0]
    if name != "infomax":  # default infomax negatives are a deterministic shift
        assert len(set(first)) > 1


@pytest.mark.parametrize("name", NAMES)
def test_default_uses_global_rng(batch, name):
    task = build(name, seed=None)
    task.train(False)
    assert task.generator is None and task.rng_state() is None
    torch.manual_seed(11)
    a = float(task(batch).loss.detach())
    torch.manual_seed(11)
    assert float(task(batch).loss.detach()) == a


@pytest.mark.parametrize("name", NAMES)
def test_batches_without_bonds_or_context(name):
    task = build(name)
    out = task(molecules(["C", "[Na+].[Cl-]", "O"]))
    assert torch.isfinite(out.loss)
    out.loss.backward()


def test_context_encoder_matches_jk_cat_width(batch):
    task = build("context_pred", jk="cat", num_layers=3)
    assert task.context_encoder.output_dim == task.encoder.output_dim == 16 * 4
    assert task.context_encoder.cfg.num_layers == 2 and task.context_encoder.cfg.jk == "last"
    assert torch.isfinite(task(batch).loss)


def test_context_encoder_is_separate_and_sized_by_ring():
    task = ContextPrediction(tiny_encoder(num_layers=5), ContextPredictionConfig())
    assert task.context_encoder is not task.encoder
    assert task.context_encoder.cfg.num_layers == 3  # r2 - r1, pretrain-gnns' csize
    with pytest.raises(ConfigError):
        ContextPrediction(torch.nn.Linear(2, 2), ContextPredictionConfig())


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("attr_mask", {"mask_rate": 0.0}),
        ("attr_mask", {"mask_rate": 1.0}),
        ("attr_mask", {"mask_bonds": "yes"}),
        ("attr_mask", {"seed": -1}),
        ("context_pred", {"r1": 5}),
        ("context_pred", {"r2": 3}),
        ("context_pred", {"mode": "bow"}),
        ("context_pred", {"neg_samples": 0}),
        ("edge_pred", {"bond_rate": 0.0}),
        ("infomax", {"negative": "shuffle"}),
        ("graphcl", {"aug1": "dropN"}),
        ("graphcl", {"random_augs": []}),
        ("graphcl", {"random_augs": ["none"]}),
        ("graphcl", {"temperature": 0.0}),
        ("graphmae", {"alpha": 0}),
    ],
)
def test_invalid_options_raise_config_error(name, params):
    with pytest.raises(ConfigError):
        build_task_config(TaskSpec(name, params=params))


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        build_task_config(TaskSpec("attr_mask", params={"mask_ratio": 0.2}))
    assert "mask_rate" in str(err.value) and "did you mean" in str(err.value)
    with pytest.raises(UnknownNameError) as err:
        build_task_config(TaskSpec("graph_cl"))
    assert "graphcl" in str(err.value) and "context_pred" in str(err.value)


def test_configs_are_frozen_and_defaults_follow_the_papers():
    cfgs = {name: build_task_config(TaskSpec(name)) for name in NAMES}
    assert cfgs["attr_mask"].mask_rate == 0.15
    assert (cfgs["context_pred"].k, cfgs["context_pred"].r1, cfgs["context_pred"].r2) == (5, 4, 7)
    assert cfgs["context_pred"].mode == "cbow" and cfgs["context_pred"].neg_samples == 1
    assert cfgs["graphcl"].aug_ratio == 0.2 and cfgs["graphcl"].temperature == 0.1
    assert cfgs["graphmae"].mask_rate == 0.25 and cfgs["graphmae"].alpha == 1.0
    with pytest.raises(AttributeError):
        cfgs["attr_mask"].mask_rate = 0.3
