from __future__ import annotations

import copy
import csv
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.errors import CheckpointError, ConfigError, UnknownNameError
from molgraphpt.objectives.base import PretrainTask, TaskOutput
from molgraphpt.seed import derive_generator
from molgraphpt.training import BatchSource, TrainConfig, load_training_state, train


class TensorSource:
    """In-memory batches of (x in meta, y); epoch order is a pure function of (seed, epoch)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True):
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, 11

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def iter_epoch(self, epoch: int, start: int = 0) -> Iterator[MolTextBatch]:
        n = len(self.x)
        gen = derive_generator(self.seed, epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        for b in range(start, self.num_batches(epoch)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield MolTextBatch(y=self.y[idx], index=idx, meta={"x": self.x[idx]})


class Regression(PretrainTask):
    def __init__(self, dropout: float = 0.3, hidden: int = 16, linear: bool = False):
        super().__init__()
        if linear:
            self.net = nn.Linear(4, 1)
        else:
            self.net = nn.Sequential(
                nn.Linear(4, hidden),
                nn.LayerNorm(hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, 1),
            )

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        pred = self.net(batch.meta["x"])
        loss = F.mse_loss(pred.float(), batch.y)
        return TaskOutput(loss, {"loss": loss.detach(), "mae": (pred - batch.y).abs().mean()})


def make_data(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.1 * torch.randn(n, 1, generator=gen)
    return x, y


def make_task(init_seed: int = 0, **kwargs) -> Regression:
    torch.manual_seed(init_seed)
    return Regression(**kwargs)


def make_eval(fail_on_call: int | None = None):
    x, y = make_data(16, seed=1)
    calls = {"n": 0}

    def evaluate(task: nn.Module) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise KeyboardInterrupt("simulated crash")
        assert not task.training and not torch.is_grad_enabled()
        return {"neg_mse": -F.mse_loss(task.net(x), y).item()}

    return evaluate


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


FAST = dict(progress=False, num_threads=1)


def test_tensor_source_is_a_batch_source():
    assert isinstance(TensorSource(*make_data(), 4), BatchSource)


@pytest.mark.parametrize("save_every", [3, 4])  # 3: resume mid-epoch; 4: at an epoch's end
def test_resume_is_exact(tmp_path, save_every):
    cfg = TrainConfig(
        epochs=3,
        lr=1e-2,
        weight_decay=0.01,
        optimizer="adamw",
        schedule="cosine",
        warmup_steps=2,
        grad_accum=3,
        clip_norm=1.0,
        eval_every=5,
        save_every=save_every,
        log_every=2,
        seed=7,
        **FAST,
    )
    data = TensorSource(*make_data(), batch_size=4)  # 10 batches -> 4 steps per epoch, 12 total
    kwargs = dict(select="neg_mse", mode="max")

    full = make_task()
    ref = train(full, data, cfg, run_dir=tmp_path / "a", evaluate=make_eval(), **kwargs)
    assert ref.final_step == 12 and [h["step"] for h in ref.history] == [5, 10, 12]

    crashed = make_task()
    with pytest.raises(KeyboardInterrupt):  # the evaluation at step 10 crashes
        train(crashed, data, cfg, run_dir=tmp_path / "b", evaluate=make_eval(2), **kwargs)
    ckpt = load_training_state(tmp_path / "b" / "checkpoints" / "last.pt")
    assert ckpt["step"] == (9 if save_every == 3 else 8)
    assert ckpt["batch_in_epoch"] == (3 if save_every == 3 else 10)

    resumed = make_task(init_seed=123)  # weights come from the checkpoint
    out = train(
        resumed, data, cfg, run_dir=tmp_path / "b", evaluate=make_eval(), resume=True, **kwargs
    )

    for (name, p_ref), (_, p_res) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(p_ref, p_res), name
    last_ref = load_training_state(tmp_path / "a" / "checkpoints" / "last.pt")
    last_res = load_training_state(tmp_path / "b" / "checkpoints" / "last.pt")
    for name, value in last_ref["model"].items():
        assert torch.equal(value, last_res["model"][name]), name
    assert out.history == ref.history and out.best_step == ref.best_step
    assert out.final_step == 12 and out.best_metrics == ref.best_metrics

    def rows(run: str) -> list[dict[str, str]]:
        return [r for r in read_csv(tmp_path / run / "metrics.csv") if r["name"] != "graphs_per_s"]

    assert rows("a") == rows("b")

    # Resuming a finished run does nothing more and still returns the best model.
    again = make_task(init_seed=5)
    done = train(
        again, data, cfg, run_dir=tmp_path / "a", evaluate=make_eval(), resume=True, **kwargs
    )
    assert done.final_step == 12 and done.history == ref.history
    for name, value in full.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])


def test_resume_without_checkpoint_starts_fresh(tmp_path, caplog):
    cfg = TrainConfig(max_steps=3, **FAST)
    with caplog.at_level(logging.INFO, logger="molgraphpt.training.loop"):
        out = train(make_task(), TensorSource(*make_data(), 8), cfg, run_dir=tmp_path, resume=True)
    assert out.final_step == 3
    assert "starting a fresh run" in caplog.text
    assert (tmp_path / "checkpoints" / "last.pt").exists()


def test_grad_accumulation_matches_a_larger_batch(tmp_path):
    x, y = make_data(16)
    cfg = dict(epochs=3, lr=0.05, clip_norm=1e9, log_every=1, **FAST)
    big, small = make_task(linear=True), make_task(linear=True)
    train(big, TensorSource(x, y, 16, shuffle=False), TrainConfig(**cfg), run_dir=tmp_path / "big")
    out = train(
        small,
        TensorSource(x, y, 8, shuffle=False),
        TrainConfig(grad_accum=2, **cfg),
        run_dir=tmp_path / "small",
    )
    assert out.final_step == 3
    for name, value in big.state_dict().items():
        torch.testing.assert_close(value, small.state_dict()[name], rtol=1e-5, atol=1e-6)

    def norms(run: str) -> list[float]:
        rows = read_csv(tmp_path / run / "metrics.csv")
        return [float(r["value"]) for r in rows if r["name"] == "grad_norm"]

    torch.testing.assert_close(torch.tensor(norms("big")), torch.tensor(norms("small")))


def test_partial_accumulation_group_still_steps(tmp_path):
    cfg = TrainConfig(epochs=2, grad_accum=2, **FAST)
    out = train(make_task(), TensorSource(*make_data(12), 4), cfg, run_dir=tmp_path)
    assert out.final_step == 4  # 3 batches per epoch -> groups of 2 and 1


def test_early_stopping(tmp_path):
    values = iter([0.9, 0.8, 0.7, 0.6, 0.5])
    cfg = TrainConfig(max_steps=20, eval_every=1, patience=2, **FAST)
    out = train(
        make_task(),
        TensorSource(*make_data(), 8),
        cfg,
        run_dir=tmp_path,
        evaluate=lambda task: {"acc": next(values)},
        select="acc",
    )
    assert out.stopped_early and out.final_step == 3
    assert out.best_step == 1 and out.best_metrics == {"acc": 0.9}
    ckpt = load_training_state(tmp_path / "checkpoints" / "last.pt")
    assert ckpt["step"] == 3 and ckpt["extra"]["stopped_early"]


def test_best_state_is_restored_and_on_best_called(tmp_path):
    values = iter([0.5, 0.2, 0.3, 0.1, 0.4])  # mode="min": the 4th evaluation is best
    snapshots, best_calls = [], []

    def evaluate(task):
        snapshots.append(copy.deepcopy(task.state_dict()))
        return {"loss": next(values)}

    cfg = TrainConfig(max_steps=5, eval_every=1, **FAST)
    task = make_task()
    out = train(
        task,
        TensorSource(*make_data(), 8),
        cfg,
        run_dir=tmp_path,
        evaluate=evaluate,
        select="loss",
        mode="min",
        on_best=lambda t, m: best_calls.append(m["loss"]),
    )
    assert out.best_step == 4 and out.final_step == 5 and best_calls == [0.5, 0.2, 0.1]
    for name, value in snapshots[3].items():
        assert torch.equal(value, task.state_dict()[name])
    assert not torch.equal(snapshots[4]["net.0.weight"], task.state_dict()["net.0.weight"])


def test_unknown_select_metric(tmp_path):
    cfg = TrainConfig(max_steps=2, eval_every=1, **FAST)
    with pytest.raises(UnknownNameError, match="neg_mse"):
        train(
            make_task(),
            TensorSource(*make_data(), 8),
            cfg,
            run_dir=tmp_path,
            evaluate=make_eval(),
            select="auc",
        )


def test_metrics_csv(tmp_path):
    cfg = TrainConfig(epochs=2, log_every=2, **FAST)  # 5 batches per epoch, eval at epoch ends
    out = train(
        make_task(),
        TensorSource(*make_data(), 8),
        cfg,
        run_dir=tmp_path,
        evaluate=make_eval(),
        select="neg_mse",
    )
    rows = read_csv(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["step", "epoch", "split", "name", "value"]
    train_rows = {(int(r["step"]), r["name"]) for r in rows if r["split"] == "train"}
    assert {s for s, _ in train_rows} == {2, 4, 6, 8, 10}
    assert {n for _, n in train_rows} == {"loss", "mae", "graphs_per_s", "lr"}
    val = [
        (int(r["step"]), int(r["epoch"]), float(r["value"])) for r in rows if r["split"] == "val"
    ]
    assert val == [(h["step"], h["epoch"], h["neg_mse"]) for h in out.history]
    assert [v[:2] for v in val] == [(5, 0), (10, 1)]
    assert out.train_graphs_per_s > 0 and out.wall_time_s > 0


def test_bf16_on_cpu(tmp_path):
    task = make_task()
    before = copy.deepcopy(task.state_dict())
    cfg = TrainConfig(max_steps=3, precision="bf16", device="cpu", log_every=1, **FAST)
    train(task, TensorSource(*make_data(), 8), cfg, run_dir=tmp_path)
    losses = [float(r["value"]) for r in read_csv(tmp_path / "metrics.csv") if r["name"] == "loss"]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert not torch.equal(before["net.0.weight"], task.state_dict()["net.0.weight"])


def test_fp16_needs_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(ConfigError, match="bf16"):
        train(
            make_task(),
            TensorSource(*make_data(), 8),
            TrainConfig(precision="fp16", **FAST),
            run_dir=tmp_path,
        )


def test_head_lr_needs_a_head(tmp_path):
    cfg = TrainConfig(max_steps=1, head_lr=1e-2, **FAST)
    with pytest.raises(ConfigError, match="head_prefixes"):
        train(make_task(), TensorSource(*make_data(), 8), cfg, run_dir=tmp_path)
    out = train(
        make_task(), TensorSource(*make_data(), 8), cfg, run_dir=tmp_path, head_prefixes=["net.4"]
    )
    assert out.final_step == 1


def test_resume_from_a_state_of_the_old_layout_says_why(tmp_path):
    """A training state naming the graph encoder ``model.encoder.*`` (format 1) is refused."""
    cfg = TrainConfig(epochs=1, save_every=2, **FAST)
    data = TensorSource(*make_data(), batch_size=8)
    train(make_task(), data, cfg, run_dir=tmp_path)
    path = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=False)
    state["model"] = {f"model.encoder.{k}": v for k, v in state["model"].items()}
    torch.save(state, path)
    (tmp_path / "checkpoints" / "last.pt.sha256").unlink()  # as an old state: no checksum
    with pytest.raises(CheckpointError, match=r"unexpected keys.*model\.encoder.*graph_encoder"):
        train(make_task(), data, cfg, run_dir=tmp_path, resume=True)
