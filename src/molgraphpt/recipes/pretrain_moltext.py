"""Molecule–text pretraining: pairs → MolTextModel → contrastive / KV-PLM / graph objectives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.config.schema import PretrainConfig
from molgraphpt.data.corpus import holdout_split
from molgraphpt.data.text import (
    PairDataset,
    PairLoader,
    TextFeatures,
    load_pairs_from_config,
    select_pairs,
)
from molgraphpt.errors import ConfigError
from molgraphpt.models.moltext import MolTextConfig, MolTextModel
from molgraphpt.models.serialization import load_encoder_weights
from molgraphpt.models.text import TextEncoder
from molgraphpt.models.text_features import cached_text_features, is_frozen
from molgraphpt.objectives.base import needs_text_tokens
from molgraphpt.objectives.multitask import build_objectives
from molgraphpt.recipes.pretrain_run import PretrainRun, validation
from molgraphpt.training import distributed as dist
from molgraphpt.training import optim

SMILES_TOKENIZER_NAME = "smiles_tokenizer.json"  # in the run dir, so --resume reuses it


def build_moltext_run(cfg: PretrainConfig, run_dir: Path, *, resumed: bool) -> PretrainRun:
    """The pairs, a MolTextModel, its objectives, loaders and (cached) text features.

    Writes nothing: a newly trained SMILES tokenizer is in ``smiles_tokenizer`` of the result,
    for the caller to :func:`save_smiles_tokenizer` once the run directory is committed.
    """
    pairs = load_pairs_from_config(cfg.data)
    index = select_pairs(pairs, cfg.data)
    # The stream Corpus.holdout uses, so both kinds of run split positions the same way.
    train_idx, valid_idx = holdout_split(
        index, cfg.valid_fraction, cfg.data.subset_seed, tag="corpus-valid"
    )
    tc, opts = cfg.train, cfg.moltext
    smiles_tokenizer = _smiles_tokenizer(cfg, pairs, train_idx, run_dir, resumed)
    torch.manual_seed(tc.seed)  # initial weights depend on the seed only
    text_encoder = TextEncoder.from_config(cfg.text)
    model = MolTextModel.build(
        MolTextConfig(
            graph=cfg.model,
            text=cfg.text,
            proj_dim=opts.proj_dim,
            temperature=opts.temperature,
            smiles_vocab_size=smiles_tokenizer.vocab_size if smiles_tokenizer else 0,
            projection=opts.projection,
        ),
        text_encoder=text_encoder,
        smiles_tokenizer=smiles_tokenizer,
    )
    if cfg.init:
        load_encoder_weights(model.graph_encoder, cfg.init)
    if opts.freeze_graph:
        model.graph_encoder.requires_grad_(False)
    task = build_objectives(cfg.objectives, model)
    features = None
    if _cache_text_features(cfg, text_encoder):
        values = cached_text_features(  # train + valid = index, sorted
            text_encoder, [pairs.texts[i] for i in index], cache_dir=cfg.data.cache_dir
        )
        features = TextFeatures(index, values)
    common = {
        "tokenizer": None if features is not None else text_encoder.tokenizer,
        "max_length": cfg.text.max_length,
        "smiles_tokenizer": smiles_tokenizer,
        "smiles_max_length": opts.smiles_max_length,
        "text_features": features,
        "batch_size": tc.batch_size,
    }
    loader = PairLoader(
        pairs,
        train_idx,
        shuffle=True,
        seed=tc.seed,
        num_workers=cfg.data.loader_workers,
        rank=dist.rank(),
        world_size=dist.world_size(),
        **common,
    )
    evaluate = None
    if len(valid_idx):
        evaluate = validation(PairLoader(pairs, valid_idx, **common), tc.seed)
    groups = None
    if opts.text_lr is not None:
        groups = optim.param_groups(
            task,
            tc.weight_decay,
            lr=tc.lr,
            head_lr=opts.text_lr,
            head_prefixes=_module_paths(task, model.text),
        )
    info = {**pairs.info, "text_features": "online" if features is None else "cached"}
    return PretrainRun(
        model, task, loader, evaluate, train_idx, valid_idx, info, groups, smiles_tokenizer
    )


def save_smiles_tokenizer(tokenizer: SmilesTokenizer, run_dir: Path) -> Path:
    """Write the run's SMILES tokenizer to ``run_dir`` (read back by a resumed run)."""
    path = run_dir / SMILES_TOKENIZER_NAME
    tokenizer.save(path)
    return path


def _smiles_tokenizer(
    cfg: PretrainConfig,
    pairs: PairDataset,
    train_idx: np.ndarray,
    run_dir: Path,
    resumed: bool,
) -> SmilesTokenizer | None:
    """The KV-PLM SMILES tokenizer: trained on the training SMILES, or the run's saved one."""
    opts = cfg.moltext
    if not opts.smiles_vocab_size:
        return None
    path = run_dir / SMILES_TOKENIZER_NAME
    if resumed and path.exists():  # the exact vocabulary the checkpoint was trained with
        return SmilesTokenizer.load(path)
    return SmilesTokenizer.train(
        [pairs.smiles[i] for i in train_idx], vocab_size=opts.smiles_vocab_size
    )


def _cache_text_features(cfg: PretrainConfig, text_encoder: TextEncoder) -> bool:
    """Whether the run feeds cached pooled text vectors, not tokens (``moltext.text_features``).

    Raises:
        ConfigError: ``"cached"`` was asked for, but the text encoder has trained weights or an
            objective reads text tokens.
    """
    mode = cfg.moltext.text_features
    if mode == "online":
        return False
    readers = [spec.name for spec in cfg.objectives if needs_text_tokens(spec.name)]
    frozen = is_frozen(text_encoder)
    if mode == "cached":
        if not frozen:
            raise ConfigError(
                "text.freeze_layers",
                cfg.text.freeze_layers if cfg.text is not None else None,
                expected="-1 with moltext.text_features: cached (a trained text encoder's "
                "outputs change every step), or moltext.text_features: online",
            )
        if readers:
            raise ConfigError(
                "moltext.text_features",
                mode,
                expected=f"online or auto: objectives {readers} read text tokens, which "
                "cached text features do not provide",
            )
    return frozen and not readers


def _module_paths(root: nn.Module, sub: nn.Module) -> list[str]:
    """``[path of sub in root]`` (e.g. ``tasks.mlm.model.text``); [] when sub has nothing to train.

    ``named_modules`` and ``named_parameters`` walk (and deduplicate) in the same order, so the
    first path of a shared module is the prefix its parameters are named under.
    """
    if not any(p.requires_grad for p in sub.parameters()):
        return []
    return [path for path, module in root.named_modules() if module is sub][:1]
