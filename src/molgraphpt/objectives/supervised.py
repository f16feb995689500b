"""Supervised property prediction as an objective (fine-tuning, and supervised pretraining)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from molgraphpt.data.batch import MolTextBatch
from molgraphpt.models.heads import PropertyModel
from molgraphpt.objectives.base import TASKS, PretrainTask, TaskOutput
from molgraphpt.objectives.losses import masked_bce_with_logits, masked_mse


@dataclass(frozen=True)
class PropertyPredictionConfig:
    """Options of :class:`PropertyPrediction`.

    Args:
        task_type: ``classification`` (masked BCE on logits) or ``regression`` (masked MSE on
            standardized targets).
    """

    task_type: Literal["classification", "regression"] = "classification"


@TASKS.register("supervised")
class PropertyPrediction(PretrainTask):
    """Multi-task property prediction with missing labels masked out.

    As in Hu et al. 2020 (arXiv:1905.12265), the loss is averaged over the labelled
    (molecule, task) entries of the batch. For regression, targets are standardized with
    ``target_mean`` / ``target_std`` (train-split statistics) before the MSE.

    Args:
        model: Encoder + head producing ``[num_graphs, num_tasks]``.
        cfg: Options.
        target_mean: ``[num_tasks]`` mean of the training targets (regression).
        target_std: ``[num_tasks]`` standard deviation of the training targets (regression).
    """

    config_cls = PropertyPredictionConfig

    def __init__(
        self,
        model: PropertyModel,
        cfg: PropertyPredictionConfig,
        target_mean: Tensor | None = None,
        target_std: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        num_tasks = model.cfg.num_tasks
        mean = torch.zeros(num_tasks) if target_mean is None else target_mean.float()
        std = torch.ones(num_tasks) if target_std is None else target_std.float()
        self.register_buffer("target_mean", mean.reshape(num_tasks))
        self.register_buffer("target_std", std.reshape(num_tasks))

    def predict(self, batch: MolTextBatch) -> Tensor:
        """Scores ``[num_graphs, num_tasks]``: logits, or regression values in target units."""
        out = self.model(batch.require("graph")).float()
        if self.cfg.task_type == "regression":
            out = out * self.target_std + self.target_mean
        return out

    def loss(self, batch: MolTextBatch) -> TaskOutput:
        """Masked BCE (classification) or masked MSE on standardized targets (regression)."""
        scores = self.model(batch.require("graph"))
        y = batch.require("y").float()
        if self.cfg.task_type == "classification":
            loss = masked_bce_with_logits(scores, y)
        else:
            loss = masked_mse(scores, (y - self.target_mean) / self.target_std)
        return TaskOutput(loss, {"loss": loss.detach()})
