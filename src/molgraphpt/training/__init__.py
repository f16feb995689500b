"""The training layer: a plain-PyTorch loop, its config, optimizers, checkpoints and loggers.

It knows the :class:`~molgraphpt.objectives.base.PretrainTask` contract and the
:class:`BatchSource` protocol, never a specific objective or dataset.
"""

from molgraphpt.training.checkpoint import load_training_state, save_training_state
from molgraphpt.training.config import TrainConfig
from molgraphpt.training.loop import BatchSource, TrainResult, train
from molgraphpt.training.optim import build_optimizer, build_scheduler, param_groups

__all__ = [
    "BatchSource",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "load_training_state",
    "param_groups",
    "save_training_state",
    "train",
]
