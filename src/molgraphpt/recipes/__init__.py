"""Recipes: the composition roots that turn a config into a run.

Each recipe module is short and only composes: it reads its config (a frozen dataclass), builds
the data through the data layer's ``*_from_config`` functions, the model from
:mod:`molgraphpt.models` (a fresh one, or one initialised from any checkpoint), the objective
from :mod:`molgraphpt.objectives`, runs :func:`molgraphpt.training.loop.train`, and writes its
results and a ``save_pretrained`` checkpoint. It contains no parsing, no file-format logic and
no dict surgery: each of those lives in the layer whose job it is.

* :mod:`~molgraphpt.recipes.pretrain` — graph-only (:mod:`.pretrain_graph`) and molecule–text
  (:mod:`.pretrain_moltext`) pretraining (``molgraphpt pretrain``);
* :mod:`~molgraphpt.recipes.finetune` — property prediction over seeds (``molgraphpt finetune``);
* :mod:`~molgraphpt.recipes.retrieval` — molecule ↔ text retrieval evaluation
  (``molgraphpt evaluate retrieval``).
"""
