"""The one weight-decay rule of the package, and optimizer parameter groups built with it.

**Rule**: matrices decay; biases, every parameter of a normalization layer, embedding tables, a
parameter named ``logit_scale`` and every other parameter with fewer than 2 dimensions do not.
This is the BERT / timm convention, used by pretraining since the start and by fine-tuning since
the architecture step (fine-tuning used to decay embedding tables). Why embeddings are exempt:
an atom or bond category that is rare in a batch gets almost no gradient, so decay alone would
shrink its vector towards zero step after step, and a norm's scale or a temperature has no
"size" that decay should pull to 0. Every shipped fine-tuning config uses ``weight_decay: 0``,
where the two rules train identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from molgraphpt.errors import ConfigError

__all__ = ["no_weight_decay", "param_groups"]

_NO_DECAY_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm*, SyncBatchNorm
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
    nn.LocalResponseNorm,
    nn.Embedding,
    nn.EmbeddingBag,
)


def no_weight_decay(module: nn.Module, param_name: str, param: nn.Parameter) -> bool:
    """Whether a parameter is exempt from weight decay."""
    if isinstance(module, _NO_DECAY_MODULES) or "Norm" in type(module).__name__:
        return True  # norm scales/shifts (PyG GraphNorm etc. included) and embedding tables
    return param_name == "bias" or param_name == "logit_scale" or param.ndim < 2


def _matches(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p.rstrip(".") or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def param_groups(
    module: nn.Module,
    weight_decay: float,
    *,
    lr: float,
    head_lr: float | None = None,
    head_prefixes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Split the trainable parameters of ``module`` into optimizer groups.

    Biases, parameters of normalization layers, embedding tables, any parameter named
    ``logit_scale`` and every other parameter with fewer than 2 dimensions get no weight decay.
    Parameters under one of ``head_prefixes`` (module paths such as ``"head"`` or
    ``"model.proj"``, matched on ``.`` boundaries) get ``head_lr``. Frozen parameters are left out.

    Args:
        module: The model or task whose parameters to train.
        weight_decay: Decay of the matrices.
        lr: Learning rate of the body.
        head_lr: Learning rate of the head parameters; None uses ``lr``.
        head_prefixes: Module paths of the head parameters.

    Returns:
        Non-empty groups, each a dict with ``params``, ``lr``, ``weight_decay`` and a ``name``
        among ``"decay"``, ``"no_decay"``, ``"head_decay"``, ``"head_no_decay"``.

    Raises:
        ConfigError: If a head prefix matches no trainable parameter.
    """
    owner = {}
    for module_name, sub in module.named_modules():
        for param_name, _ in sub.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            owner[full] = (sub, param_name)
    buckets: dict[str, list[nn.Parameter]] = {}
    seen_prefixes: set[str] = set()
    for name, param in module.named_parameters():  # deduplicates shared parameters
        if not param.requires_grad:
            continue
        sub, param_name = owner[name]
        is_head = _matches(name, head_prefixes)
        if is_head:
            seen_prefixes.update(p for p in head_prefixes if _matches(name, [p]))
        key = ("head_" if is_head else "") + (
            "no_decay" if no_weight_decay(sub, param_name, param) else "decay"
        )
        buckets.setdefault(key, []).append(param)
    missing = [p for p in head_prefixes if p not in seen_prefixes]
    if missing:
        tops = sorted({n.split(".")[0] for n, _ in module.named_parameters()})
        raise ConfigError(
            "head_prefixes",
            missing,
            expected=f"module paths of trainable parameters (top-level modules: {tops})",
        )
    groups = []
    for key in ("decay", "no_decay", "head_decay", "head_no_decay"):
        if key in buckets:
            group_lr = head_lr if key.startswith("head_") and head_lr is not None else lr
            decay = 0.0 if key.endswith("no_decay") else weight_decay
            groups.append(
                {"params": buckets[key], "lr": group_lr, "weight_decay": decay, "name": key}
            )
    return groups
