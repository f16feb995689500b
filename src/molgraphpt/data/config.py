"""Configs of the data section of an experiment, beside the loaders that read them.

* :class:`DataConfig` — the labelled dataset of ``molgraphpt finetune``
  (:func:`~molgraphpt.data.datasets.load_dataset_from_config`).
* :class:`CorpusConfig` — the unlabelled corpus of ``molgraphpt pretrain``
  (:func:`~molgraphpt.data.corpus.load_corpus_from_config`) or its molecule–text pairs
  (:func:`~molgraphpt.data.text.load_pairs_from_config`, then
  :func:`~molgraphpt.data.text.select_pairs`), one :class:`PairSourceConfig` per pair file.

:func:`data_root` is the one place the data root (``data_root`` argument, else
``$MOLGRAPHPT_DATA``, else a default folder) is worked out.

This module imports nothing of the data layer, so the config schema can load it cheaply.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from molgraphpt.errors import ConfigError

__all__ = ["CorpusConfig", "DataConfig", "PairSourceConfig", "data_root"]


def data_root(root: str | Path | None = None, *, default: str = "data") -> Path:
    """The data root: ``root``, else ``$MOLGRAPHPT_DATA``, else ``default``.

    Args:
        root: An explicit data root (used as given, even when empty).
        default: Folder used when neither ``root`` nor ``$MOLGRAPHPT_DATA`` is set: ``./data``
            for the labelled datasets, the current directory for corpus paths
            (:meth:`CorpusConfig.root`).
    """
    if root is not None:
        return Path(root)
    return Path(os.environ.get("MOLGRAPHPT_DATA", default))


@dataclass(frozen=True)
class DataConfig:
    """Which labelled dataset to load and how.

    Args:
        dataset: ``"embedded"``, an OGB name (``"ogbg-molhiv"``), a MoleculeNet name (``"bbbp"``)
            or the path of a CSV/TSV file or OGB raw folder (a relative path is looked for from
            the current directory, then under the data root).
        data_root: Folder holding ``ogb/``, ``ogb_recon/``, ``moleculenet/`` (else
            ``$MOLGRAPHPT_DATA``, else ``./data``).
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        download: Fetch the official files when missing locally (needs internet; CLI:
            ``data.download=true``). Downloads are verified against the checksums pinned in
            ``resources/checksums.json`` (:mod:`molgraphpt.data.download`); files already under
            the data root are used as they are.
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
class PairSourceConfig:
    """One file of molecule–text pairs (see :func:`molgraphpt.data.text.load_pairs`).

    Args:
        path: CSV / TSV / JSONL file (``.gz`` allowed) with a SMILES and a text column, or an
            L+M-24 ``train_props.txt.gz`` file (phrases turned into text by templates).
        format: ``auto`` (from the name), ``csv``, ``tsv``, ``jsonl`` or ``lpm24_props``.
        smiles_col: SMILES column (guessed when None: ``smiles``, any case).
        text_col: Text column (guessed when None: ``text``, ``description``, ``caption``).
        max_pairs: Use at most this many pairs of this source (a seeded random subset, e.g. to
            subsample a large weakly-labelled source while keeping a small curated one whole).
    """

    path: str
    format: str = "auto"
    smiles_col: str | None = None
    text_col: str | None = None
    max_pairs: int | None = None

    def __post_init__(self) -> None:
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ConfigError("data.pairs.max_pairs", self.max_pairs, expected="an int >= 1")


@dataclass(frozen=True)
class CorpusConfig:
    """The unlabelled corpus of ``molgraphpt pretrain`` (see :mod:`molgraphpt.data.corpus`).

    Args:
        paths: SMILES files (CSV/TSV with a header, or one SMILES a line; ``.gz`` allowed) or
            folders of them, read in this order into one cached store.
        smiles_col: SMILES column of the CSV/TSV files (guessed per file when None).
        exclude: Files or folders (an OGB raw folder means its ``mapping/mol.csv.gz``) whose
            molecules are removed from the corpus, compared by RDKit canonical SMILES: put every
            downstream evaluation set here so no test molecule is seen in pretraining.
        max_molecules: Cap on the molecules used (a seeded random subset); None uses all.
        fraction: Share of the corpus used (a seeded random subset), in ``(0, 1]``.
        subset_seed: Seed of that subset (independent of the training seed).
        cache_dir: Feature cache root (else ``$MOLGRAPHPT_CACHE``, else ``~/.cache/molgraphpt``).
        workers: Processes for canonicalization and featurization (0 = all cores).
        on_invalid: ``skip`` invalid SMILES (counted in ``pretrain.json``) or ``raise``.
        unsanitizable: ``partial`` keeps molecules that fail only RDKit's valence check.
        loader_workers: Background processes that collate batches.
        data_root: Folder that relative ``paths`` and ``exclude`` entries are resolved against;
            when None, ``$MOLGRAPHPT_DATA`` if set, else the current directory.
        pairs: Molecule–text pair files, for runs with a ``text:`` encoder (instead of
            ``paths``); graph objectives of such a run see the pairs' molecules.
    """

    paths: tuple[str, ...] = ()
    pairs: tuple[PairSourceConfig, ...] = ()
    smiles_col: str | None = None
    exclude: tuple[str, ...] = ()
    max_molecules: int | None = None
    fraction: float = 1.0
    subset_seed: int = 0
    cache_dir: str | None = None
    workers: int = 1
    on_invalid: Literal["raise", "skip"] = "skip"
    unsanitizable: Literal["partial", "invalid"] = "partial"
    loader_workers: int = 0
    data_root: str | None = None

    def __post_init__(self) -> None:
        if self.max_molecules is not None and self.max_molecules < 1:
            raise ConfigError("data.max_molecules", self.max_molecules, expected="an int >= 1")
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError("data.fraction", self.fraction, expected="a float in (0, 1]")
        for key in ("subset_seed", "workers", "loader_workers"):
            if getattr(self, key) < 0:
                raise ConfigError(f"data.{key}", getattr(self, key), expected="an int >= 0")
        if self.paths and self.pairs:
            raise ConfigError(
                "data.paths",
                list(self.paths),
                expected="either data.paths (unlabelled molecules) or data.pairs (molecule-text "
                "pairs), not both",
                hint="a molecule-text run trains its graph objectives on the pairs' molecules",
            )

    def root(self) -> Path:
        """The folder relative paths are resolved against (see ``data_root``)."""
        # An empty data_root counts as unset, and the default is the current directory.
        return data_root(self.data_root or None, default=".").expanduser()

    def resolve(self, path: str) -> Path:
        """``path`` made absolute-or-rooted: kept if absolute, else joined to :meth:`root`."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.root() / candidate
