"""Experiment configurations: each YAML file in ``configs/`` maps 1:1 onto one of these."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from molgraphpt.config.seeds import check_seeds

# The data-section configs live beside their loaders (molgraphpt.data.config); re-exported
# here so existing imports from molgraphpt.config.schema keep working.
from molgraphpt.data.config import CorpusConfig as CorpusConfig
from molgraphpt.data.config import DataConfig as DataConfig
from molgraphpt.data.config import PairSourceConfig as PairSourceConfig
from molgraphpt.data.relation_config import RelationDataConfig
from molgraphpt.errors import ConfigError
from molgraphpt.models.graph.config import GraphEncoderConfig
from molgraphpt.models.moltext import check_projection_options
from molgraphpt.models.text import TextEncoderConfig
from molgraphpt.objectives.base import TaskSpec
from molgraphpt.training.config import TrainConfig


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
        seeds: Training seeds, distinct integers >= 0; the results report mean ± std over them.
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
        check_seeds(self.seeds)


# ------------------------------------------------------------------------- relation extraction


@dataclass(frozen=True)
class RelationModelOptions:
    """The relation classifier of ``task: relation`` runs.

    Args:
        name_or_path: Text encoder: an alias (``minilm-l6-offline``), a Hugging Face directory,
            a hub name, or a molgraphpt molecule–text checkpoint (its ``text/`` is used).
        pooling: ``entity_start`` (concatenated start-marker states, Baldini Soares et al.
            2019) or ``cls``.
        dropout: Dropout before the classifier.
        class_weights: ``none`` or ``inverse_frequency`` (cross-entropy weights
            ``n / (num_labels * count)`` from the training labels).
        init: ``pretrained`` (the weights of ``name_or_path``) or ``random`` (its architecture
            and tokenizer, randomly initialised: the no-pretraining floor).
    """

    name_or_path: str = "minilm-l6-offline"
    pooling: Literal["entity_start", "cls"] = "entity_start"
    dropout: float = 0.1
    class_weights: Literal["none", "inverse_frequency"] = "none"
    init: Literal["pretrained", "random"] = "pretrained"

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout", self.dropout, expected="a float in [0, 1)")


def _default_relation_train() -> TrainConfig:
    return TrainConfig(
        epochs=3, batch_size=16, lr=5e-5, optimizer="adamw", schedule="linear", warmup_steps=0
    )


@dataclass(frozen=True)
class RelationFinetuneConfig:
    """A relation-extraction fine-tuning experiment (``molgraphpt finetune``, ``task: relation``).

    Args:
        task: Always ``relation`` (how the CLI tells this config from a property one).
        run_dir: Output folder (``results.json``, ``seed_<k>/model``, predictions).
        seeds: Training seeds; the results report mean ± std over them.
        data: The sentence files and how entities are written.
        model: The encoder and classifier.
        train: Optimisation (default: AdamW, lr 5e-5, batch 16, 3 epochs, linear decay, the
            usual BERT fine-tuning).
    """

    task: Literal["relation"] = "relation"
    run_dir: str = "runs/finetune/relation"
    seeds: tuple[int, ...] = (0,)
    data: RelationDataConfig = field(default_factory=lambda: RelationDataConfig(folder="chemprot"))
    model: RelationModelOptions = field(default_factory=RelationModelOptions)
    train: TrainConfig = field(default_factory=_default_relation_train)

    def __post_init__(self) -> None:
        check_seeds(self.seeds)


# ---------------------------------------------------------------------------------- pretraining


@dataclass(frozen=True)
class MolTextOptions:
    """Molecule–text parts of a pretraining run with a ``text:`` encoder.

    Args:
        proj_dim: Width of the shared embedding space (projection heads of both encoders).
        temperature: Initial contrastive temperature (learnable as ``logit_scale``).
        smiles_vocab_size: Train a SMILES BPE tokenizer of this many tokens on the training
            pairs' SMILES and give the model a SMILES embedding table (``kvplm_mlm`` needs it);
            0 for none.
        smiles_max_length: SMILES tokens per molecule (with [CLS] and [SEP]).
        freeze_graph: Keep the graph encoder fixed (e.g. a baseline that trains only the
            projection heads; the text encoder is frozen with ``text.freeze_layers: -1``).
        text_lr: Learning rate of the text encoder's trainable layers (pretrained transformers
            want a smaller one than a GNN trained from scratch); None uses ``train.lr``.
        projection: Projection head of each modality, ``"linear"`` (CLIP) or ``"mlp"``
            (``Linear - GELU - Linear``).
        text_features: ``"cached"``: run the text encoder once per text before training and
            feed its stored pooled outputs to the objectives
            (:mod:`molgraphpt.models.text_features`); needs a text encoder with no trained
            weight (``text.freeze_layers: -1``) and objectives that do not read text tokens
            (``mol_text_contrastive`` and graph objectives). ``"online"``: run the encoder on
            every batch. ``"auto"`` (default): ``"cached"`` whenever it applies.
    """

    proj_dim: int = 256
    temperature: float = 0.07
    smiles_vocab_size: int = 0
    smiles_max_length: int = 64
    freeze_graph: bool = False
    text_lr: float | None = None
    projection: Literal["linear", "mlp"] = "linear"
    text_features: Literal["auto", "cached", "online"] = "auto"

    def __post_init__(self) -> None:
        check_projection_options(  # the same rule as MolTextConfig's, checked before any data work
            "moltext",
            proj_dim=self.proj_dim,
            projection=self.projection,
            temperature=self.temperature,
        )
        if self.text_features not in ("auto", "cached", "online"):
            raise ConfigError(
                "moltext.text_features", self.text_features, expected="one of auto, cached, online"
            )
        if self.text_lr is not None and not 0.0 < self.text_lr < float("inf"):
            raise ConfigError("moltext.text_lr", self.text_lr, expected="a number > 0 or null")
        if self.smiles_vocab_size < 0:  # the tokenizer checks its own minimum (its alphabet)
            raise ConfigError(
                "moltext.smiles_vocab_size",
                self.smiles_vocab_size,
                expected="0 (no SMILES tokenizer) or a vocabulary size",
            )
        if self.smiles_max_length < 3:
            raise ConfigError(
                "moltext.smiles_max_length", self.smiles_max_length, expected="an int >= 3"
            )


def _default_pretrain_train() -> TrainConfig:
    return TrainConfig(epochs=100, batch_size=256, lr=1e-3, save_every=1000)


@dataclass(frozen=True)
class PretrainConfig:
    """A self-supervised graph pretraining run (``molgraphpt pretrain``).

    In YAML an objective may be written flat, ``{name: attr_mask, weight: 1.0, mask_rate: 0.15}``:
    :func:`load_pretrain_config` moves every key other than ``name``, ``weight`` and ``params``
    into ``params`` (the options of the objective's own config dataclass).

    Args:
        run_dir: Output folder: ``model/`` (the encoder, for ``finetune model.init=RUN_DIR/model``),
            ``config.yaml``, ``pretrain.json``, ``metrics.csv``, ``checkpoints/last.pt``.
        data: The corpus.
        model: The graph encoder. Defaults to the GIN of Hu et al. 2020 (5 layers x 300) with
            dropout 0, as in their pretraining scripts (fine-tuning then uses its own dropout).
        objectives: Objectives whose weighted losses are summed; names must be registered
            (``attr_mask``, ``context_pred``, ``edge_pred``, ``infomax``, ``graphcl``,
            ``graphmae``).
        train: Optimisation. Pretraining defaults (Hu et al. 2020): Adam, lr 1e-3, batch 256,
            100 epochs; runs are usually bounded by ``train.max_steps`` instead; a checkpoint is
            written every ``train.save_every`` steps.
        valid_fraction: Share of the selected corpus held out to report the pretraining loss on
            (at every evaluation point, ``train.eval_every``); 0 holds out nothing.
        text: The text encoder of a molecule–text run (None: a graph-only run). With it, the
            data are ``data.pairs`` and ``model/`` is a ``MolTextModel`` checkpoint.
        moltext: Projection, temperature and SMILES tokenizer options of a molecule–text run.
        init: Checkpoint directory whose graph encoder initialises ``model`` (any checkpoint
            ``finetune model.init`` accepts), e.g. a graph-pretrained ``RUN_DIR/model``.
    """

    run_dir: str = "runs/pretrain"
    data: CorpusConfig = field(default_factory=CorpusConfig)
    model: GraphEncoderConfig = field(
        default_factory=lambda: GraphEncoderConfig(
            arch="gin", hidden_dim=300, num_layers=5, dropout=0.0
        )
    )
    objectives: tuple[TaskSpec, ...] = (TaskSpec("attr_mask"),)
    train: TrainConfig = field(default_factory=_default_pretrain_train)
    valid_fraction: float = 0.0
    text: TextEncoderConfig | None = None
    moltext: MolTextOptions = field(default_factory=MolTextOptions)
    init: str | None = None

    def __post_init__(self) -> None:
        if self.text is not None and not self.data.pairs:
            raise ConfigError(
                "data.pairs",
                [],
                expected="molecule-text pair files for a run with a text encoder",
                hint="e.g. data.pairs: [{path: chebi20/validation.txt}]",
            )
        if self.text is None and self.data.pairs:
            raise ConfigError(
                "text",
                None,
                expected="a text encoder for a run on data.pairs",
                hint="add text: {name_or_path: minilm-l6-offline}",
            )
        if not self.objectives:
            raise ConfigError("objectives", [], expected="at least one objective, e.g. attr_mask")
        seen: set[str] = set()
        for i, spec in enumerate(self.objectives):
            weight = spec.weight
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not (0.0 < weight < float("inf"))
            ):
                raise ConfigError(f"objectives.{i}.weight", weight, expected="a finite number > 0")
            if spec.name in seen:
                raise ConfigError(
                    f"objectives.{i}.name",
                    spec.name,
                    expected="a name not listed before",
                    hint="each objective may appear once; merge the duplicate entries",
                )
            seen.add(spec.name)
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ConfigError("valid_fraction", self.valid_fraction, expected="a float in [0, 1)")


_SPEC_KEYS = ("name", "weight", "params")


def normalize_objectives(raw: dict[str, Any]) -> dict[str, Any]:
    """Return ``raw`` with flat objective entries rewritten as ``{name, weight, params}``.

    Every key of an entry other than ``name``/``weight``/``params`` moves into ``params``; a key
    given both flat and in ``params`` is an error. Entries that are not mappings are left for
    :func:`~molgraphpt.config.loading.from_dict` to reject.
    """
    objectives = raw.get("objectives")
    if not isinstance(objectives, list):
        return raw
    entries = []
    for i, entry in enumerate(objectives):
        if isinstance(entry, dict):
            flat = {k: v for k, v in entry.items() if k not in _SPEC_KEYS}
            params = dict(entry.get("params") or {})
            clash = sorted(set(flat) & set(params))
            if clash:
                raise ConfigError(
                    f"objectives.{i}.{clash[0]}",
                    flat[clash[0]],
                    expected="one value",
                    hint="the option is given both flat and under params; keep one",
                )
            entry = {k: v for k, v in entry.items() if k in _SPEC_KEYS}
            if flat or params:
                entry["params"] = {**params, **flat}
        entries.append(entry)
    return {**raw, "objectives": entries}


def load_pretrain_config(
    path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()
) -> PretrainConfig:
    """Read a pretraining YAML file (flat objective entries allowed) and apply overrides.

    Overrides are applied before the objective entries are normalized, so both
    ``objectives.0.mask_rate=0.2`` and ``objectives.0.params.mask_rate=0.2`` work.

    Raises:
        ConfigError, UnknownNameError: As :func:`~molgraphpt.config.loading.load_config`.
    """
    from molgraphpt.config.loading import _read_yaml, apply_overrides, from_dict

    raw = {} if path is None else _read_yaml(Path(path))
    return from_dict(PretrainConfig, normalize_objectives(apply_overrides(raw, overrides)))


# ---------------------------------------------------------------------------------- paths


def check_paths(cfg: FinetuneConfig | PretrainConfig) -> None:
    """Check that the files and folders ``cfg`` names exist, before any data work.

    Checked: the checkpoint to start from (``model.init`` / ``init``: a folder holding a
    molgraphpt checkpoint's ``meta.json``), a fine-tuning dataset given as a path, and a
    pretraining run's ``data.paths``, ``data.exclude`` and ``data.pairs`` (resolved against the
    data root as the loaders do). Dataset names are checked as the loader resolves them.
    The CLI calls this after loading a config; recipes may call it too.

    Raises:
        ConfigError: A path does not exist, or ``init`` is no molgraphpt checkpoint.
        DataFileNotFoundError: ``data.dataset`` looks like a path that does not exist.
        UnknownNameError: ``data.dataset`` is neither a known dataset name nor a path.
    """
    if isinstance(cfg, FinetuneConfig):
        _check_init("model.init", cfg.model.init)
        _check_dataset(cfg.data)
        return
    _check_init("init", cfg.init)
    data = cfg.data
    named = [(f"data.paths.{i}", p) for i, p in enumerate(data.paths)]
    named += [(f"data.exclude.{i}", p) for i, p in enumerate(data.exclude)]
    named += [(f"data.pairs.{i}.path", src.path) for i, src in enumerate(data.pairs)]
    for key, path in named:
        resolved = data.resolve(path)
        if not resolved.exists():
            raise ConfigError(
                key,
                path,
                expected="an existing file or folder",
                hint=f"{resolved} does not exist; relative paths resolve against "
                f"{data.root()} (data.data_root, --data-root or $MOLGRAPHPT_DATA)",
            )


def _check_init(key: str, init: str | None) -> None:
    """``init`` is None or a folder with a molgraphpt checkpoint (its ``meta.json``)."""
    if init is None:
        return
    from molgraphpt.models.serialization import META_NAME

    path = Path(init).expanduser()
    expected = "a checkpoint folder written by molgraphpt (with config.yaml, meta.json, ...)"
    if not path.is_dir():
        why = "is a file" if path.exists() else "does not exist"
        raise ConfigError(key, init, expected=expected, hint=f"{path.absolute()} {why}")
    if not (path / META_NAME).is_file():
        inner = path / "model"  # a run directory given instead of its model/ folder
        fix = (
            f"did you mean {inner}?"
            if (inner / META_NAME).is_file()
            else "point it to a run's model/ folder"
        )
        raise ConfigError(key, init, expected=expected, hint=f"{path} holds no {META_NAME}; {fix}")


def _check_dataset(data: DataConfig) -> None:
    """``data.dataset`` is a known name or an existing file or folder, as the loader sees it."""
    from molgraphpt.data.datasets import dataset_kind

    dataset_kind(data.dataset, data.data_root)
