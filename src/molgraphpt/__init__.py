"""molgraphpt: pretrain molecular graph encoders jointly with text encoders, then fine-tune them.

Importing the package defines names only: no logging configuration, no RDKit log silencing,
no heavy imports (torch, transformers) until a submodule that needs them is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from molgraphpt._version import __version__

__all__ = ["__version__", "load"]

if TYPE_CHECKING:
    import os

    from molgraphpt.models.pretrained import PretrainedModel


def load(directory: str | os.PathLike[str], *, verify: bool = True) -> PretrainedModel:
    """Load any molgraphpt checkpoint directory as the class that wrote it (CPU, eval mode).

    ``meta.json``'s ``model_type`` picks the class: ``"property"`` (a fine-tuned
    :class:`~molgraphpt.models.heads.PropertyModel`), ``"moltext"``
    (:class:`~molgraphpt.models.moltext.MolTextModel`) or ``"graph_encoder"`` (a pretrained
    :class:`~molgraphpt.models.graph_checkpoint.PretrainedGraphEncoder`). Checkpoints of the
    previous format (1) load too. The weight and tokenizer files are checked against the
    SHA-256 checksums ``meta.json`` recorded when they were saved; ``verify=False`` skips that.

    Raises:
        CheckpointError: Not a checkpoint, an unreadable format version, or an unknown type.
        IntegrityError: A file's bytes changed since it was saved.
    """
    from molgraphpt.models.pretrained import load as _load

    return _load(directory, verify=verify)
