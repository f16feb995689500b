"""WeightedObjectives, build_task and build_objectives."""

from __future__ import annotations

import pytest
import torch

from molgraphpt.errors import ConfigError, UnknownNameError
from molgraphpt.objectives import (
    TASKS,
    AttributeMasking,
    GraphCL,
    TaskSpec,
    WeightedObjectives,
    borrowed_encoder,
    build_objectives,
    build_task,
)

from .conftest import tiny_encoder


def test_build_task_returns_the_registered_class():
    encoder = tiny_encoder()
    task = build_task(TaskSpec("attr_mask", params={"mask_rate": 0.3}), encoder)
    assert isinstance(task, AttributeMasking) and task.cfg.mask_rate == 0.3
    assert task.encoder is encoder
    with pytest.raises(UnknownNameError, match="attr_mask"):
        build_task(TaskSpec("atr_mask"), encoder)
    with pytest.raises(UnknownNameError, match="temperature"):
        build_task(TaskSpec("graphcl", params={"temp": 0.2}), encoder)


def test_which_objectives_need_the_molecule_text_model():
    text = {"mlm", "kvplm_mlm", "mol_text_contrastive", "cross_modal_mlm", "mol_text_matching"}
    assert {name for name in TASKS.names() if TASKS.get(name).needs_text_model} == text
    encoder = tiny_encoder()
    assert borrowed_encoder(TASKS.get("graphcl"), "graphcl", encoder) is encoder
    # a module that merely has graph and text attributes is not a molecule-text model
    lookalike = torch.nn.Module()
    lookalike.graph, lookalike.text = encoder, torch.nn.Linear(1, 1)
    with pytest.raises(ConfigError, match="'mlm'.*a run with a text encoder.*add a text: section"):
        borrowed_encoder(TASKS.get("mlm"), "mlm", lookalike)


def test_weighted_sum_of_losses_with_the_same_rng(batch):
    torch.manual_seed(0)
    encoder = tiny_encoder()
    specs = [
        TaskSpec("attr_mask", weight=0.3),
        TaskSpec("graphcl", weight=2.0, params={"seed": 5}),
    ]
    combined = build_objectives(specs, encoder)
    combined.train(False)
    mask, graphcl = combined.tasks["attr_mask"], combined.tasks["graphcl"]
    assert isinstance(mask, AttributeMasking) and isinstance(graphcl, GraphCL)
    assert mask.encoder is graphcl.encoder is encoder
    # attr_mask draws from the global RNG, graphcl from its own generator
    torch.manual_seed(1)
    graphcl.reseed(5)
    out = combined(batch)
    torch.manual_seed(1)
    graphcl.reseed(5)
    a, b = mask(batch).loss, graphcl(batch).loss
    torch.testing.assert_close(out.loss, 0.3 * a + 2.0 * b)
    assert set(out.logs) == {
        "loss",
        "attr_mask/loss",
        "attr_mask/atom_loss",
        "attr_mask/atom_acc",
        "graphcl/loss",
        "graphcl/acc",
    }
    torch.testing.assert_close(out.logs["attr_mask/loss"], a.detach())
    torch.testing.assert_close(out.logs["loss"], out.loss.detach())
    # the shared encoder's parameters are counted once
    shared = {id(p) for p in encoder.parameters()}
    assert sum(id(p) in shared for p in combined.parameters()) == len(shared)


def test_reseed_and_rng_state_cover_every_task(batch):
    combined = build_objectives(
        [TaskSpec("attr_mask"), TaskSpec("graphmae", params={"seed": 1})], tiny_encoder()
    )
    combined.train(False)
    assert combined.rng_state()["attr_mask"] is None
    combined.reseed(7)
    state = combined.rng_state()
    assert all(isinstance(s, torch.Tensor) for s in state.values())
    assert not torch.equal(state["attr_mask"], state["graphmae"])  # decorrelated per task
    first = float(combined(batch).loss.detach())
    combined.set_rng_state(state)
    assert float(combined(batch).loss.detach()) == first


def test_single_spec_still_gives_prefixed_logs(batch):
    combined = build_objectives([TaskSpec("infomax")], tiny_encoder())
    assert isinstance(combined, WeightedObjectives)
    out = combined(batch)
    assert set(out.logs) == {"loss", "infomax/loss", "infomax/acc"}


def test_invalid_combinations():
    encoder = tiny_encoder()
    with pytest.raises(ConfigError, match="attr_mask"):
        build_objectives([TaskSpec("attr_mask"), TaskSpec("attr_mask", weight=2.0)], encoder)
    with pytest.raises(ConfigError):
        build_objectives([], encoder)
    task = build_task(TaskSpec("attr_mask"), encoder)
    with pytest.raises(ConfigError):
        WeightedObjectives({"attr_mask": task}, {"attr_mask": -1.0})
    with pytest.raises(ConfigError):
        WeightedObjectives({"attr_mask": task}, {"graphcl": 1.0})
    with pytest.raises(ConfigError):
        build_objectives([TaskSpec("attr_mask", weight=float("nan"))], encoder)
