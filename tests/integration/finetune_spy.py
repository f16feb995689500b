"""Fine-tune the embedded BBBP from a checkpoint and capture the encoder weights it starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig
from molgraphpt.recipes import finetune as finetune_module

REPO = Path(__file__).resolve().parents[2]


def finetune_from(
    init: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Run 2 fine-tuning steps with ``model.init=init``.

    Returns:
        ``(encoder state when training starts, run_finetune's result)``.
    """
    seen: dict[str, torch.Tensor] = {}
    real_train = finetune_module.train

    def spy(task, *a, **kw):
        seen.update({k: v.clone() for k, v in task.model.encoder.state_dict().items()})
        return real_train(task, *a, **kw)

    monkeypatch.setattr(finetune_module, "train", spy)
    cfg = load_config(
        FinetuneConfig,
        REPO / "configs" / "finetune" / "embedded.yaml",
        [f"run_dir={run_dir}", f"model.init={init}", "train.max_steps=2"]
        + ["train.progress=false"],
    )
    return seen, finetune_module.run_finetune(cfg)
