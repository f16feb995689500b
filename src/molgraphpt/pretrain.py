"""Moved: the pretraining recipe is :mod:`molgraphpt.recipes.pretrain`."""

raise ImportError(
    "molgraphpt.pretrain moved to molgraphpt.recipes.pretrain "
    "(from molgraphpt.recipes.pretrain import run_pretraining)"
)
