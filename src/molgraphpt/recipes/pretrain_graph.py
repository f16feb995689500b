"""Graph-only pretraining: unlabelled SMILES corpus → graph encoder → graph objectives."""

from __future__ import annotations

import torch

from molgraphpt.config.schema import PretrainConfig
from molgraphpt.data.corpus import load_corpus_from_config
from molgraphpt.data.loader import GraphLoader
from molgraphpt.models.graph import build_graph_encoder
from molgraphpt.models.serialization import load_encoder_weights
from molgraphpt.objectives.multitask import build_objectives
from molgraphpt.recipes.pretrain_run import PretrainRun, validation
from molgraphpt.training import distributed as dist


def build_graph_run(cfg: PretrainConfig) -> PretrainRun:
    """The corpus, a fresh (or ``init``-loaded) graph encoder, its objectives and loaders."""
    corpus = load_corpus_from_config(
        cfg.data, progress=cfg.train.progress and dist.is_main_process()
    )
    train_idx, valid_idx = corpus.holdout(cfg.valid_fraction, seed=cfg.data.subset_seed)
    tc = cfg.train
    torch.manual_seed(tc.seed)  # initial weights depend on the seed only
    encoder = build_graph_encoder(cfg.model)
    if cfg.init:
        load_encoder_weights(encoder, cfg.init)
    task = build_objectives(cfg.objectives, encoder)
    loader = GraphLoader(
        corpus.store,
        train_idx,
        batch_size=tc.batch_size,
        shuffle=True,
        seed=tc.seed,
        with_labels=False,
        num_workers=cfg.data.loader_workers,
        rank=dist.rank(),
        world_size=dist.world_size(),
    )
    evaluate = None
    if len(valid_idx):
        valid_loader = GraphLoader(
            corpus.store, valid_idx, batch_size=tc.batch_size, with_labels=False
        )
        evaluate = validation(valid_loader, tc.seed)
    return PretrainRun(encoder, task, loader, evaluate, train_idx, valid_idx, corpus.info)
