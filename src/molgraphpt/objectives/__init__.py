"""Objectives: one ``nn.Module`` per pretraining or fine-tuning loss, registered in ``TASKS``.

Importing this package registers every objective: ``supervised``, ``attr_mask``, ``edge_pred``,
``graphmae`` (:mod:`.graph_ssl`), ``infomax``, ``graphcl`` (:mod:`.contrastive`) and
``context_pred`` (:mod:`.context`). :func:`build_task` / :func:`build_objectives` build them from
config specs.
"""

from molgraphpt.objectives import context, contrastive, graph_ssl, supervised
from molgraphpt.objectives.base import TASKS, PretrainTask, TaskOutput, TaskSpec, build_task_config
from molgraphpt.objectives.context import ContextPrediction, ContextPredictionConfig
from molgraphpt.objectives.contrastive import (
    DeepGraphInfomax,
    GraphCL,
    GraphCLConfig,
    InfomaxConfig,
)
from molgraphpt.objectives.graph_ssl import (
    AttributeMasking,
    AttributeMaskingConfig,
    EdgePrediction,
    EdgePredictionConfig,
    GraphMAE,
    GraphMAEConfig,
    StochasticTask,
)
from molgraphpt.objectives.multitask import WeightedObjectives, build_objectives, build_task

__all__ = [
    "TASKS",
    "AttributeMasking",
    "AttributeMaskingConfig",
    "ContextPrediction",
    "ContextPredictionConfig",
    "DeepGraphInfomax",
    "EdgePrediction",
    "EdgePredictionConfig",
    "GraphCL",
    "GraphCLConfig",
    "GraphMAE",
    "GraphMAEConfig",
    "InfomaxConfig",
    "PretrainTask",
    "StochasticTask",
    "TaskOutput",
    "TaskSpec",
    "WeightedObjectives",
    "build_objectives",
    "build_task",
    "build_task_config",
    "context",
    "contrastive",
    "graph_ssl",
    "supervised",
]
