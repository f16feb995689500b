"""Objectives: one ``nn.Module`` per pretraining or fine-tuning loss, registered in ``TASKS``.

Importing this package registers every objective: ``supervised``, ``attr_mask``, ``edge_pred``,
``graphmae`` (:mod:`.graph_ssl`), ``infomax``, ``graphcl`` (:mod:`.contrastive`),
``context_pred`` (:mod:`.context`), ``mlm``, ``kvplm_mlm`` (:mod:`.text_mlm`),
``mol_text_contrastive``, ``cross_modal_mlm`` and ``mol_text_matching`` (:mod:`.moltext`).
:func:`build_task` / :func:`build_objectives` build them from
config specs.
"""

from molgraphpt.objectives import context, contrastive, graph_ssl, moltext, supervised, text_mlm
from molgraphpt.objectives.base import (
    TASKS,
    PretrainTask,
    StochasticTask,
    TaskOutput,
    TaskSpec,
    build_task_config,
)
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
)
from molgraphpt.objectives.moltext import (
    CrossModalMLM,
    CrossModalMLMConfig,
    MolTextContrastive,
    MolTextContrastiveConfig,
    MolTextMatching,
    MolTextMatchingConfig,
)
from molgraphpt.objectives.multitask import (
    WeightedObjectives,
    borrowed_encoder,
    build_objectives,
    build_task,
)
from molgraphpt.objectives.text_mlm import (
    KVPLMConfig,
    KVPLMMaskedModeling,
    MaskedLanguageModeling,
    MaskedLMConfig,
)

__all__ = [
    "TASKS",
    "CrossModalMLM",
    "CrossModalMLMConfig",
    "KVPLMConfig",
    "KVPLMMaskedModeling",
    "MaskedLMConfig",
    "MaskedLanguageModeling",
    "MolTextContrastive",
    "MolTextContrastiveConfig",
    "MolTextMatching",
    "MolTextMatchingConfig",
    "borrowed_encoder",
    "moltext",
    "text_mlm",
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
