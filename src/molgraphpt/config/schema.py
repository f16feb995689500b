"""Experiment configurations: each YAML file in ``configs/`` maps 1:1 onto one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from molgraphpt.errors import ConfigError
from molgraphpt.models.graph.config import GraphEncoderConfig
from molgraphpt.training.config import TrainConfig


@dataclass(frozen=True)
class DataConfig:
    """Which labelled dataset to load and how.

    Args:
        dataset: ``"embedded"``, an OGB name (``"ogbg-molhiv"``), a MoleculeNet name (``"bbbp"``)
            or the path of a CSV/TSV file or OGB raw folder.
        data_root: Folder holding ``ogb/``, ``ogb_recon/``, ``moleculenet/`` (else
            ``$MOLGRAPHPT_DATA``, else ``./data``).
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        download: Fetch the official files when missing locally (needs internet).
        smiles_col: SMILES column of a user CSV (guessed when None).
        targets: Target columns of a user CSV (every other column when None).
        task_type: Task type of a user CSV.
        split: ``scaffold`` (deterministic, Hu et al. 2020), ``random``, ``random_scaffold`` or
            ``balanced_scaffold``; OGB folders always use their official split files.
        split_seed: Seed of the seeded splits.
        frac: Train/valid/test fractions of computed splits.
        workers: Featurization processes (0 = all cores).
        on_invalid: ``raise`` on an invalid SMILES, or ``skip`` it and report the count.
        unsanitizable: ``partial`` keeps molecules that fail only RDKit's valence check.
        loader_workers: Background processes that collate batches.
    """

    dataset: str = "embedded"
    data_root: str | None = None
    cache_dir: str | None = None
    download: bool = False
    smiles_col: str | None = None
    targets: tuple[str, ...] | None = None
    task_type: Literal["classification", "regression"] = "classification"
    split: Literal["scaffold", "random", "random_scaffold", "balanced_scaffold"] = "scaffold"
    split_seed: int = 0
    frac: tuple[float, float, float] = (0.8, 0.1, 0.1)
    workers: int = 1
    on_invalid: Literal["raise", "skip"] = "raise"
    unsanitizable: Literal["partial", "invalid"] = "partial"
    loader_workers: int = 0


@dataclass(frozen=True)
class HeadConfig:
    """The prediction head: linear (``hidden_dim: null``) or a one-hidden-layer MLP."""

    hidden_dim: int | None = None
    dropout: float = 0.0


@dataclass(frozen=True)
class StrategyConfig:
    """How a model initialised from a checkpoint is fine-tuned.

    Args:
        mode: ``full`` fine-tuning; ``linear_probe`` (frozen encoder); ``lp_ft`` — linear probe
            for ``lp_epochs`` then full fine-tuning (Kumar et al. 2022, arXiv:2202.10054);
            ``freeze_layers`` — freeze the embeddings and the first ``freeze_layers`` layers.
        freeze_layers: Layers frozen in ``freeze_layers`` mode.
        lp_epochs: Epochs of the linear-probe phase of ``lp_ft``.
        encoder_lr: Learning rate of the encoder (``train.lr`` when None).
        head_lr: Learning rate of the head (``train.lr`` when None).
    """

    mode: Literal["full", "linear_probe", "lp_ft", "freeze_layers"] = "full"
    freeze_layers: int = 0
    lp_epochs: int = 10
    encoder_lr: float | None = None
    head_lr: float | None = None

    def __post_init__(self) -> None:
        if self.freeze_layers < 0:
            raise ConfigError("strategy.freeze_layers", self.freeze_layers, expected="an int >= 0")
        if self.lp_epochs < 1:
            raise ConfigError("strategy.lp_epochs", self.lp_epochs, expected="an int >= 1")


@dataclass(frozen=True)
class FinetuneModelConfig:
    """Encoder architecture, head, and an optional checkpoint to start from.

    Args:
        encoder: Graph encoder architecture (ignored in favour of the checkpoint's when ``init``
            is set).
        head: Prediction head.
        init: A ``save_pretrained`` directory (``molgraphpt pretrain`` or ``finetune`` output)
            whose graph encoder initialises this model; None trains from scratch.
    """

    encoder: GraphEncoderConfig = field(default_factory=GraphEncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    init: str | None = None


@dataclass(frozen=True)
class FinetuneConfig:
    """A property-prediction fine-tuning experiment (``molgraphpt finetune``).

    Args:
        run_dir: Output folder (``results.json``, ``metrics.csv``, ``seed_<k>/model``).
        seeds: Training seeds; the results report mean ± std over them.
        standardize_targets: Train regression heads on standardized targets (train-split mean
            and std); predictions are mapped back before scoring.
        data: The dataset.
        model: The model.
        strategy: The fine-tuning strategy.
        train: Optimisation (Hu et al. 2020: Adam, lr 1e-3, batch 32, 100 epochs).
    """

    run_dir: str = "runs/finetune"
    seeds: tuple[int, ...] = (0,)
    standardize_targets: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    model: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ConfigError("seeds", self.seeds, expected="a non-empty list of integers")
