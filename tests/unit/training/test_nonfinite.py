"""NaN/Inf losses and gradients: the loop never steps on them (train.nonfinite: stop | skip)."""

from __future__ import annotations

import csv
import dataclasses
import logging
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import ConfigError, NonFiniteLossError
from molgraphpt.objectives.base import PretrainTask, TaskOutput
from molgraphpt.training import TrainConfig, load_training_state, train
from tests.unit.training.test_training_loop import TensorSource, make_data

FAST = dict(progress=False, num_threads=1, lr=1e-2)


class TwoObjectives(PretrainTask):
    """A small regression model with two losses; from its ``bad_from``-th call on, it goes bad.

    ``kind="loss"`` makes objective ``b``'s loss NaN; ``kind="grad"`` keeps the loss finite but
    adds ``sqrt(w - w.detach())`` (0 forward, infinite gradient backward).
    """

    def __init__(self, bad_calls: set[int], kind: str = "loss") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        self.bad_calls, self.kind, self.calls = bad_calls, kind, 0

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        self.calls += 1
        pred = self.net(batch.meta["x"])
        a = F.mse_loss(pred, batch.y)
        b = (pred - batch.y).abs().mean()
        if self.calls in self.bad_calls:
            if self.kind == "loss":
                b = b * float("nan")
            else:
                weight = self.net[0].weight
                a = a + torch.sqrt(weight - weight.detach()).sum()
        total = a + 0.5 * b
        logs = {"a/loss": a.detach(), "b/loss": b.detach(), "loss": total.detach()}
        return TaskOutput(total, logs)


def _data() -> TensorSource:
    return TensorSource(*make_data(40), batch_size=4)  # 10 batches = 10 steps per epoch


def _finite(task: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in task.parameters())


def test_nonfinite_must_be_stop_or_skip():
    with pytest.raises(ConfigError, match="train.nonfinite"):
        TrainConfig(nonfinite="ignore")


def test_stop_raises_before_stepping_and_keeps_the_last_good_state(tmp_path):
    task = TwoObjectives(bad_calls={4})
    cfg = TrainConfig(epochs=2, save_every=1, **FAST)
    with pytest.raises(NonFiniteLossError) as err:
        train(task, _data(), cfg, run_dir=tmp_path)
    msg = str(err.value)
    assert "epoch 0, optimizer step 4" in msg and "loss=nan" in msg
    assert "b/loss=nan" in msg and "a/loss=" in msg  # each objective's loss
    assert "last.pt (step 3)" in msg
    assert "train.lr" in msg and "train.clip_norm" in msg and "train.nonfinite=skip" in msg
    state = load_training_state(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 3
    for name, value in task.state_dict().items():  # no optimizer step with the NaN loss
        assert torch.equal(value, state["model"][name]), name
    assert _finite(task) and all(p.grad is None for p in task.parameters())


def test_stop_on_a_nonfinite_gradient_when_clipping(tmp_path):
    task = TwoObjectives(bad_calls={2}, kind="grad")
    cfg = TrainConfig(epochs=1, clip_norm=1.0, **FAST)
    with pytest.raises(NonFiniteLossError, match=r"gradient norm=(inf|nan)") as err:
        train(task, _data(), cfg, run_dir=tmp_path)
    assert "no training state was saved" in str(err.value)
    assert _finite(task)


def test_skip_drops_the_step_counts_and_warns(tmp_path, caplog):
    task = TwoObjectives(bad_calls={3, 15})  # one bad step in each of two epochs
    cfg = TrainConfig(epochs=2, nonfinite="skip", log_every=5, **FAST)
    with caplog.at_level(logging.WARNING, logger="molgraphpt"):
        result = train(task, _data(), cfg, run_dir=tmp_path, evaluate=lambda t: {"m": 1.0})
    assert result.nonfinite_steps_skipped == 2 and result.final_step == 20
    assert _finite(task)
    warnings = [r.getMessage() for r in caplog.records if "skipped optimizer step" in r.message]
    assert len(warnings) == 2 and "b/loss=nan" in warnings[0] and "1 step(s)" in warnings[0]
    assert result.history[-1]["nonfinite_steps_skipped"] == 2
    rows = [r for r in _csv_rows(tmp_path) if r["name"] == "nonfinite_steps_skipped"]
    assert rows and float(rows[-1]["value"]) == 2.0
    losses = [r for r in _csv_rows(tmp_path) if r["name"] == "loss"]
    assert all(math.isfinite(float(r["value"])) for r in losses)  # skipped losses not averaged


def _csv_rows(run_dir) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_skip_still_stops_when_too_many_steps_of_an_epoch_are_bad(tmp_path):
    task = TwoObjectives(bad_calls={2, 5})  # 2 of 10 steps > 10%
    cfg = TrainConfig(epochs=1, nonfinite="skip", **FAST)
    with pytest.raises(NonFiniteLossError, match="2 of the 10 optimizer steps of epoch 0"):
        train(task, _data(), cfg, run_dir=tmp_path)
    assert _finite(task)


def test_skip_counts_survive_resume(tmp_path):
    cfg = TrainConfig(epochs=2, nonfinite="skip", save_every=5, **FAST)
    first = TwoObjectives(bad_calls={2})
    train(first, _data(), dataclasses.replace(cfg, epochs=1), run_dir=tmp_path)
    resumed = train(TwoObjectives(bad_calls=set()), _data(), cfg, run_dir=tmp_path, resume=True)
    assert resumed.nonfinite_steps_skipped == 1 and resumed.final_step == 20
