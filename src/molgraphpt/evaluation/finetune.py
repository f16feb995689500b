"""Moved: the fine-tuning recipe is :mod:`molgraphpt.recipes.finetune`."""

raise ImportError(
    "molgraphpt.evaluation.finetune moved to molgraphpt.recipes.finetune "
    "(from molgraphpt.recipes.finetune import run_finetune); versions() is "
    "molgraphpt.provenance.versions"
)
