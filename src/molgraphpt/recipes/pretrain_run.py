"""What every pretraining run hands to the loop, and the two helpers both kinds of run share."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from molgraphpt.seed import seed_everything
from molgraphpt.training.checkpoint import capture_rng_state, restore_rng_state

_FINAL_WINDOW = 20  # training batches averaged into pretrain.json's final losses


@dataclass
class PretrainRun:
    """What the training loop needs, for a graph-only or a molecule–text run."""

    encoder: nn.Module  # the module saved as model/: a graph encoder or a MolTextModel
    task: nn.Module
    loader: Any
    evaluate: Callable[[nn.Module], dict[str, float]] | None
    train_idx: np.ndarray
    valid_idx: np.ndarray
    info: dict[str, Any]
    param_groups: list[dict[str, Any]] | None = None  # None: the loop's default groups
    smiles_tokenizer: Any = None  # a molecule–text run's SMILES tokenizer, saved in the run dir


class LossRecorder:
    """Keeps the logs of the last training batches (on device: no sync per step)."""

    def __init__(self, task: nn.Module, size: int = _FINAL_WINDOW) -> None:
        self.recent: collections.deque[dict[str, torch.Tensor]] = collections.deque(maxlen=size)
        self.handle = task.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, out: Any) -> None:
        if module.training and hasattr(out, "loss"):
            logs = {"loss": out.loss, **getattr(out, "logs", {})}
            self.recent.append({k: torch.as_tensor(v).detach().float() for k, v in logs.items()})

    def means(self) -> dict[str, float]:
        """Mean of each logged value over the recorded batches."""
        names = dict.fromkeys(k for logs in self.recent for k in logs)
        out = {}
        for name in names:
            values = [logs[name] for logs in self.recent if name in logs]
            out[name] = float(torch.stack(values).mean().item())
        return out

    def close(self) -> None:
        """Stop recording."""
        self.handle.remove()


def validation(loader: Any, seed: int) -> Callable[[nn.Module], dict[str, float]]:
    """``evaluate(task)``: the mean objective logs over ``loader``, with fixed randomness.

    The objectives corrupt their inputs at random; the validation pass reseeds every RNG (and
    restores the training RNG state afterwards), so each evaluation sees the same corruptions and
    evaluating does not change the training run.
    """

    def evaluate(task: nn.Module) -> dict[str, float]:
        device = next(task.parameters()).device
        saved = capture_rng_state()
        private = task.rng_state() if hasattr(task, "rng_state") else None  # objectives' own
        seed_everything(seed)
        if hasattr(task, "reseed"):
            task.reseed(seed)
        sums: dict[str, float] = {}
        graphs = 0
        try:
            for batch in loader.iter_epoch(0):
                batch = batch.to(device)
                out = task(batch)
                n = batch.num_graphs
                for name, value in {"loss": out.loss, **out.logs}.items():
                    sums[name] = sums.get(name, 0.0) + float(value) * n
                graphs += n
        finally:
            restore_rng_state(saved)
            if private is not None:
                task.set_rng_state(private)
        return {f"valid/{name}": total / max(graphs, 1) for name, total in sums.items()}

    return evaluate
