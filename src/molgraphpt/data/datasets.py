"""Labelled molecule datasets: OGB raw folders, MoleculeNet CSVs, user CSVs and the embedded set.

Every loader featurizes through the on-disk cache (:mod:`molgraphpt.data.cache`) and returns a
:class:`MoleculeDataset`: a :class:`GraphStore` plus task names, task type, metric and a split.

Where data comes from, for a name like ``"bbbp"`` or ``"ogbg-molbbbp"``:

* ``"ogbg-mol<x>"`` — an OGB raw folder (``mapping/mol.csv.gz`` + ``split/scaffold/*.csv.gz``)
  found under the data root as ``ogb/ogbg_mol<x>``, ``ogb_recon/ogbg_mol<x>`` or ``ogbg_mol<x>``;
  with ``download=True`` (config: ``data.download=true``) it is fetched from OGB's server. The
  official split files are used and the metrics come from ``ogb.graphproppred.Evaluator``.
* ``"<x>"`` (a MoleculeNet name) — the MoleculeNet CSV under ``<root>/moleculenet/`` (chemprop's
  file names, e.g. ``delaney.csv.gz``, or DeepChem's, e.g. ``delaney-processed.csv``); with
  ``download=True`` chemprop's file is fetched from GitHub at a pinned commit. The split is
  computed (deterministic scaffold by default).
* ``"embedded"`` — BBBP with its OGB scaffold split, shipped inside the package (works offline).
* a path to a CSV/TSV file or OGB raw folder — a user dataset; give ``smiles_col``, ``targets``
  and ``task_type``. A relative path is looked for from the current directory, then under the
  data root; a path-like name that exists in neither place is a ``DataFileNotFoundError``.

Every download is verified against the checksums pinned in ``resources/checksums.json`` (see
:mod:`molgraphpt.data.download`); local files are used as they are, offline.

The data root is the ``data_root`` argument, else ``$MOLGRAPHPT_DATA``, else ``./data``
(:func:`~molgraphpt.data.config.data_root`). :func:`dataset_kind` decides which of these a name
is; :func:`load_dataset_from_config` loads the dataset of a
:class:`~molgraphpt.data.config.DataConfig`.

Checks when a dataset is loaded (:mod:`molgraphpt.data.tables`): a table without data rows, a
file in which no SMILES is valid, a target column without any label and (classification)
labels other than 0/1 are errors naming the file lines; molecules that occur more than once
(same canonical SMILES) are counted (``info["num_duplicates"]``) and logged, not removed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from molgraphpt.chem.splits import SplitIndices, make_split
from molgraphpt.data.cache import cached_store, file_sha256
from molgraphpt.data.config import DataConfig, data_root
from molgraphpt.data.download import download_moleculenet, download_ogb, pinned_checksums
from molgraphpt.data.store import GraphStore
from molgraphpt.data.tables import (
    TABLE_SUFFIXES,
    DataFileNotFoundError,
    check_labels,
    check_not_empty,
    count_duplicates,
    data_lines,
    guess_smiles_column,
    iter_chunks,
    missing_file,
    read_header,
    read_split_file,
)
from molgraphpt.errors import ConfigError, DataFormatError, InvalidSmilesError, UnknownNameError

logger = logging.getLogger(__name__)

TaskType = Literal["classification", "regression"]
Metric = Literal["roc_auc", "ap", "rmse", "mae"]
#: What a dataset name stands for (see :func:`dataset_kind`).
DatasetKind = Literal["embedded", "ogb", "moleculenet", "ogb_folder", "table"]
#: The kinds that come with OGB's official split files (no computed split).
OGB_KINDS: tuple[DatasetKind, ...] = ("embedded", "ogb", "ogb_folder")

#: Where ``download=True`` fetches from (``resources/checksums.json`` pins what they serve).
OGB_URL = pinned_checksums()["ogb"]["url"]
MOLECULENET_URL = pinned_checksums()["moleculenet"]["url"]


@dataclass(frozen=True)
class MoleculeNetSpec:
    """Where a MoleculeNet dataset lives and how to read it.

    Attributes:
        name: Short name (``"bbbp"``).
        ogb_suffix: OGB name without ``ogbg-mol`` (``"bbbp"``), or None if OGB lacks it.
        local_files: File stems looked for under ``<root>/moleculenet/`` (chemprop's names).
        local_smiles_col: SMILES column of those files.
        deepchem_file: File name of the DeepChem original (read when found; not downloaded).
        deepchem_smiles_col: Its SMILES column.
        targets: Target columns in both layouts, or None for "every column but the SMILES" (local)
            and ``deepchem_targets`` for the DeepChem file.
        deepchem_targets: Target columns of the DeepChem file when they differ.
        task_type: Classification or regression.
        metric: Metric by convention (Hu et al. 2020 / OGB).
    """

    name: str
    ogb_suffix: str | None
    local_files: tuple[str, ...]
    local_smiles_col: str
    deepchem_file: str
    deepchem_smiles_col: str
    targets: tuple[str, ...] | None
    task_type: TaskType
    metric: Metric
    deepchem_targets: tuple[str, ...] | None = None


def _cls(
    name: str,
    stem: str,
    dc_file: str,
    targets: tuple[str, ...] | None = None,
    smiles: str = "smiles",
) -> MoleculeNetSpec:
    """A classification dataset (ROC-AUC) whose OGB name is ``name``."""
    return MoleculeNetSpec(
        name, name, (stem,), smiles, dc_file, smiles, targets, "classification", "roc_auc", targets
    )


def _reg(name: str, stem: str, dc_file: str, target: str, dc_target: str) -> MoleculeNetSpec:
    """A one-target regression dataset (RMSE) whose OGB name is ``name``."""
    targets, dc_targets = (target,), (dc_target,)
    return MoleculeNetSpec(
        name, name, (stem,), "smiles", dc_file, "smiles", targets, "regression", "rmse", dc_targets
    )


MOLECULENET: dict[str, MoleculeNetSpec] = {
    s.name: s
    for s in (
        _cls("bbbp", "BBBP", "BBBP.csv", ("p_np",)),
        _cls("bace", "bace", "bace.csv", ("Class",), smiles="mol"),
        _cls("clintox", "clintox", "clintox.csv.gz", ("FDA_APPROVED", "CT_TOX")),
        _cls("hiv", "HIV", "HIV.csv", ("HIV_active",)),
        _cls("tox21", "tox21", "tox21.csv.gz"),
        _cls("toxcast", "toxcast", "toxcast_data.csv.gz"),
        _cls("sider", "sider", "sider.csv.gz"),
        _cls("muv", "muv", "muv.csv.gz"),
        _reg(
            "esol",
            "delaney",
            "delaney-processed.csv",
            "logp",
            "measured log solubility in mols per litre",
        ),
        _reg("freesolv", "freesolv", "SAMPL.csv", "freesolv", "expt"),
        _reg("lipo", "lipo", "Lipophilicity.csv", "lipo", "exp"),
    )
}
_OGB_METRIC: dict[str, Metric] = {"muv": "ap", "pcba": "ap"}


@dataclass
class MoleculeDataset:
    """A featurized, labelled dataset with a split.

    Attributes:
        name: Dataset name (``"bbbp"``, ``"ogbg-molbbbp"``, or the file stem of a user CSV).
        store: The featurized molecules and their labels ``[num_molecules, num_tasks]``.
        task_names: One name per label column.
        task_type: ``"classification"`` (binary, multi-task) or ``"regression"``.
        metric: The dataset's metric by convention.
        split: Train/valid/test positions into ``store``.
        source: The file the molecules came from.
        ogb_name: OGB dataset name when the data is an OGB dataset (metrics use its Evaluator).
        split_name: How the split was made.
        info: Counts (invalid, partially sanitized, rows dropped from the split...).
    """

    name: str
    store: GraphStore
    task_names: tuple[str, ...]
    task_type: TaskType
    metric: Metric
    split: SplitIndices
    source: str
    ogb_name: str | None = None
    split_name: str = "scaffold"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        """Number of label columns."""
        return len(self.task_names)

    @property
    def labels(self) -> np.ndarray:
        """Labels ``[num_molecules, num_tasks]`` float32, NaN where missing."""
        return np.asarray(self.store.labels)

    def __len__(self) -> int:
        return len(self.store)


def _find(root: Path, candidates: list[str]) -> Path | None:
    for rel in candidates:
        if (root / rel).exists():
            return root / rel
    return None


def _not_found(what: str, root: Path, tried: list[str]) -> DataFileNotFoundError:
    listed = ", ".join(str(root / t) for t in dict.fromkeys(tried))
    return DataFileNotFoundError(
        f"{what} not found under the data root {root} (looked for {listed}). Point --data-root "
        f"(or $MOLGRAPHPT_DATA) at the folder that holds it, or, on a machine with internet, "
        f"set data.download=true (add `data.download=true` to the command line; "
        f"download=True in Python): the download is checked against pinned checksums."
    )


def _rows_to_positions(
    store: GraphStore, rows: np.ndarray, num_rows: int
) -> tuple[np.ndarray, int]:
    position = np.full(num_rows, -1, dtype=np.int64)
    position[np.asarray(store.rows)] = np.arange(len(store))
    mapped = position[rows]
    return np.sort(mapped[mapped >= 0]), int((mapped < 0).sum())


def load_ogb_folder(
    folder: str | Path,
    *,
    name: str | None = None,
    cache_dir: str | Path | None = None,
    **featurize: Any,
) -> MoleculeDataset:
    """Load an OGB raw folder (``mapping/mol.csv.gz`` + ``split/scaffold/*.csv.gz``).

    Args:
        folder: The dataset folder, e.g. ``data/ogb/ogbg_molbbbp``.
        name: OGB name (``"ogbg-molbbbp"``); derived from the folder name when None.
        cache_dir: Feature cache root.
        **featurize: ``workers``, ``on_invalid``, ``unsanitizable``, ``progress``.
    """
    folder = Path(folder)
    mapping = folder / "mapping" / "mol.csv.gz"
    if not mapping.exists():
        raise DataFormatError(
            f"{folder} is not an OGB raw folder: {mapping} is missing (expected mapping/mol.csv.gz "
            f"and split/scaffold/{{train,valid,test}}.csv.gz)"
        )
    name = name or folder.name.replace("ogbg_", "ogbg-")
    header = read_header(mapping)
    targets = tuple(c for c in header if c not in ("smiles", "mol_id"))
    suffix = name.removeprefix("ogbg-mol")
    spec = MOLECULENET.get(suffix)
    task_type: TaskType = spec.task_type if spec else "classification"
    metric: Metric = _OGB_METRIC.get(suffix, spec.metric if spec else "roc_auc")
    store = _store_for_table(mapping, name, "smiles", targets, cache_dir, featurize)
    check_labels(store, mapping, targets, task_type)
    split_dir = folder / "split" / "scaffold"
    parts, dropped = {}, 0
    num_rows = int(store.meta["num_rows"])
    for part in ("train", "valid", "test"):
        path = split_dir / f"{part}.csv.gz"
        if not path.exists():
            raise DataFormatError(f"OGB split file {path} is missing")
        parts[part], lost = _rows_to_positions(store, read_split_file(path, num_rows), num_rows)
        dropped += lost
    if dropped:
        logger.warning("%d molecules of the %s split were invalid and left out", dropped, name)
    return MoleculeDataset(
        name=name,
        store=store,
        task_names=targets,
        task_type=task_type,
        metric=metric,
        split=SplitIndices(**parts),
        source=str(mapping),
        ogb_name=name,
        split_name="ogb-scaffold",
        info={**_store_info(store, mapping), "dropped_from_split": dropped},
    )


def _store_info(store: GraphStore, path: Path) -> dict[str, Any]:
    keys = ("num_rows", "num_invalid", "num_partial")
    info = {k: store.meta.get(k) for k in keys} | {"num_molecules": len(store)}
    return info | {"num_duplicates": count_duplicates(store, path)}


def _store_for_table(
    path: Path,
    name: str,
    smiles_col: str,
    targets: tuple[str, ...],
    cache_dir: str | Path | None,
    featurize: dict[str, Any],
) -> GraphStore:
    on_invalid = featurize.get("on_invalid", "raise")
    unsanitizable = featurize.get("unsanitizable", "partial")
    key = {
        "source_sha256": file_sha256(path),
        "smiles_col": smiles_col,
        "targets": list(targets),
        "on_invalid": on_invalid,
        "unsanitizable": unsanitizable,
    }
    try:
        store = cached_store(
            name.replace("/", "_"),
            key,
            iter_chunks(path, smiles_col=smiles_col, target_cols=targets),
            cache_dir=cache_dir,
            num_tasks=len(targets),
            on_invalid=on_invalid,
            unsanitizable=unsanitizable,
            workers=featurize.get("workers", 1),
            progress=featurize.get("progress", False),
            source=str(path),
        )
    except InvalidSmilesError as err:
        if err.line is None and err.row is not None:  # the store names rows, users count lines
            raise err.at(line=int(data_lines(path)[err.row]), source=str(path)) from None
        raise
    check_not_empty(store, path)
    return store


def _computed_split(
    store: GraphStore, kind: str, seed: int, frac: tuple[float, float, float]
) -> SplitIndices:
    """Compute a split on the store's SMILES, cached next to the store."""
    path = store.directory / f"split-{kind}-{seed}-{'-'.join(map(str, frac))}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return SplitIndices(**{k: np.asarray(v, dtype=np.int64) for k, v in raw.items()})
    split = make_split(kind, store.all_smiles(), frac, seed=seed)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in split.to_dict().items()}))
    os.replace(tmp, path)
    return split


def load_csv(
    path: str | Path,
    *,
    smiles_col: str | None = None,
    targets: tuple[str, ...] | list[str] | None = None,
    task_type: TaskType = "classification",
    metric: Metric | None = None,
    name: str | None = None,
    split: str = "scaffold",
    split_seed: int = 0,
    frac: tuple[float, float, float] = (0.8, 0.1, 0.1),
    cache_dir: str | Path | None = None,
    **featurize: Any,
) -> MoleculeDataset:
    """Load a user CSV/TSV: a SMILES column and one or more target columns.

    Args:
        path: The file (``.csv``, ``.tsv``, optionally ``.gz``).
        smiles_col: SMILES column (guessed from common names when None).
        targets: Target columns; None means every other column.
        task_type: ``"classification"`` (0/1 labels, empty = missing) or ``"regression"``.
        metric: Defaults to ROC-AUC for classification, RMSE for regression.
        name: Dataset name (defaults to the file stem).
        split: ``scaffold``, ``random``, ``random_scaffold`` or ``balanced_scaffold``.
        split_seed: Seed of the seeded splits.
        frac: Train/valid/test fractions.
        cache_dir: Feature cache root.
        **featurize: ``workers``, ``on_invalid``, ``unsanitizable``, ``progress``.
    """
    path = Path(path)
    if task_type not in ("classification", "regression"):
        raise ConfigError("task_type", task_type, expected="'classification' or 'regression'")
    header = read_header(path)
    smiles_col = smiles_col or guess_smiles_column(header, path)
    targets = tuple(targets) if targets else tuple(c for c in header if c != smiles_col)
    if not targets:
        raise DataFormatError(f"{path} has no target column besides {smiles_col!r}")
    name = name or path.name.split(".")[0]
    store = _store_for_table(path, name, smiles_col, targets, cache_dir, featurize)
    check_labels(store, path, targets, task_type)
    metric = metric or ("roc_auc" if task_type == "classification" else "rmse")
    return MoleculeDataset(
        name=name,
        store=store,
        task_names=targets,
        task_type=task_type,
        metric=metric,
        split=_computed_split(store, split, split_seed, frac),
        source=str(path),
        split_name=split,
        info=_store_info(store, path),
    )


def load_moleculenet(
    name: str, *, data_root_dir: str | Path | None = None, download: bool = False, **kwargs: Any
) -> MoleculeDataset:
    """Load a MoleculeNet dataset from its CSV (see the module docstring for where it is found)."""
    spec = MOLECULENET.get(name.lower())
    if spec is None:
        raise UnknownNameError("MoleculeNet dataset", name, choices=MOLECULENET)
    root = data_root(data_root_dir)
    local = [f"moleculenet/{stem}{ext}" for stem in spec.local_files for ext in (".csv.gz", ".csv")]
    path = _find(root, local)
    smiles_col, targets = spec.local_smiles_col, spec.targets
    if path is None:
        dc_rel = f"moleculenet/{spec.deepchem_file}"
        path = _find(root, [dc_rel])
        if path is not None:
            smiles_col, targets = spec.deepchem_smiles_col, spec.deepchem_targets
        elif download:
            path = download_moleculenet(_chemprop_file(spec), root)
        else:
            raise _not_found(f"MoleculeNet {name!r}", root, [*local, dc_rel])
    if targets is None:
        targets = tuple(c for c in read_header(path) if c not in (smiles_col, "mol_id"))
    return load_csv(
        path,
        smiles_col=smiles_col,
        targets=targets,
        task_type=spec.task_type,
        metric=spec.metric,
        name=spec.name,
        **kwargs,
    )


def find_ogb_folder(name: str, root: Path, *, download: bool = False) -> Path:
    """Locate (or download) the OGB raw folder of ``ogbg-mol<x>`` under ``root``."""
    folder = name.replace("-", "_")
    tried = [f"ogb/{folder}", f"ogb_recon/{folder}", folder]
    found = _find(root, [f"{t}/mapping/mol.csv.gz" for t in tried])
    if found is not None:
        return found.parent.parent
    if not download:
        raise _not_found(f"OGB dataset {name!r}", root, tried)
    return download_ogb(name.removeprefix("ogbg-mol"), root)


def _chemprop_file(spec: MoleculeNetSpec) -> str:
    """File name of ``spec`` in chemprop's ``data/`` folder (the pinned download)."""
    files = pinned_checksums()["moleculenet"]["files"]
    return next(f for f in files if f.split(".")[0] == spec.local_files[0])


def embedded_dataset_dir() -> Path:
    """Folder of the embedded BBBP dataset (OGB raw layout) inside the installed package."""
    return Path(str(resources.files("molgraphpt.resources") / "bbbp"))


def resolve_dataset_path(name: str, data_root_dir: str | Path | None = None) -> Path | None:
    """The existing file or folder ``name`` stands for, or None.

    ``name`` as given (a relative path from the current directory), else, for a relative path,
    the same path under the data root.
    """
    path = Path(name).expanduser()
    if path.exists():
        return path
    rooted = data_root(data_root_dir).expanduser() / path
    return rooted if not path.is_absolute() and rooted.exists() else None


def _looks_like_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.lower().endswith(TABLE_SUFFIXES)


def dataset_kind(name: str, data_root_dir: str | Path | None = None) -> DatasetKind:
    """What the dataset ``name`` stands for; the one place a name is resolved.

    In this order: ``"embedded"`` (the shipped BBBP); ``"ogb"`` for ``"ogbg-mol<x>"`` (an OGB raw
    folder under the data root); ``"moleculenet"`` for a MoleculeNet name (any case); for an
    existing path (see :func:`resolve_dataset_path`), ``"ogb_folder"`` when it holds
    ``mapping/mol.csv.gz``, else ``"table"`` (a user CSV/TSV file).

    Raises:
        DataFileNotFoundError: ``name`` looks like a path (a separator or a data file suffix such
            as ``.csv``) but no such file exists; the message says where it was looked for.
        UnknownNameError: ``name`` is none of these.
    """
    if name == "embedded":
        return "embedded"
    if name.startswith("ogbg-mol"):
        return "ogb"
    if name.lower() in MOLECULENET:
        return "moleculenet"
    path = resolve_dataset_path(name, data_root_dir)
    if path is not None:
        return "ogb_folder" if (path / "mapping" / "mol.csv.gz").exists() else "table"
    if _looks_like_path(name):
        raise missing_file(
            name,
            what="dataset file",
            data_root=data_root(data_root_dir),
            hint="Check the path given to --csv / data.dataset (a relative path is looked for "
            "from the current directory, then under the data root: --data-root, "
            "$MOLGRAPHPT_DATA, else ./data).",
        )
    raise UnknownNameError(
        "dataset",
        name,
        choices=["embedded", *MOLECULENET, *(f"ogbg-mol{s}" for s in MOLECULENET)],
        hint="or give the path of a CSV file or an OGB raw folder",
    )


def load_dataset(
    name: str,
    *,
    data_root_dir: str | Path | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
    **kwargs: Any,
) -> MoleculeDataset:
    """Load a dataset by name or path (see :func:`dataset_kind` for the resolution rules).

    Args:
        name: ``"embedded"``, ``"ogbg-mol<x>"``, a MoleculeNet name, or a CSV path.
        data_root_dir: Data root (else ``$MOLGRAPHPT_DATA``, else ``./data``).
        download: Fetch the official files when they are not found locally (verified against
            the checksums pinned in ``resources/checksums.json``; see
            :mod:`molgraphpt.data.download`).
        cache_dir: Feature cache root.
        **kwargs: Passed to the loader (featurization options, ``split``, ``smiles_col``...).

    Raises:
        UnknownNameError: ``name`` is no known dataset and no existing path.
        DataFileNotFoundError: ``name`` is a path that does not exist, or the dataset's files are
            not under the data root (and not downloaded).
    """
    kind = dataset_kind(name, data_root_dir)
    if kind == "embedded":
        return load_ogb_folder(
            embedded_dataset_dir(), name="ogbg-molbbbp", cache_dir=cache_dir, **kwargs
        )
    if kind == "ogb":
        folder = find_ogb_folder(name, data_root(data_root_dir), download=download)
        return load_ogb_folder(folder, name=name, cache_dir=cache_dir, **kwargs)
    if kind == "moleculenet":
        return load_moleculenet(
            name, data_root_dir=data_root_dir, download=download, cache_dir=cache_dir, **kwargs
        )
    path = resolve_dataset_path(name, data_root_dir)
    assert path is not None  # dataset_kind checked it
    if kind == "ogb_folder":
        return load_ogb_folder(path, cache_dir=cache_dir, **kwargs)
    return load_csv(path, cache_dir=cache_dir, **kwargs)


def load_dataset_from_config(cfg: DataConfig) -> MoleculeDataset:
    """Load (featurizing through the cache if needed) the dataset ``cfg`` names.

    Featurization options always apply; the split options (``split``, ``split_seed``,
    ``frac``) only to datasets without official split files (MoleculeNet names and user files),
    and the column options (``smiles_col``, ``targets``, ``task_type``) only to user files.

    Raises:
        UnknownNameError: ``cfg.dataset`` is no known dataset and no existing path.
        DataFileNotFoundError: ``cfg.dataset`` is a path that does not exist, or the dataset's
            files are not under the data root (and not downloaded: ``cfg.download``).
    """
    kind = dataset_kind(cfg.dataset, cfg.data_root)
    kwargs: dict[str, Any] = {
        "workers": cfg.workers,
        "on_invalid": cfg.on_invalid,
        "unsanitizable": cfg.unsanitizable,
    }
    if kind not in OGB_KINDS:  # OGB datasets come with their official split files
        kwargs.update(split=cfg.split, split_seed=cfg.split_seed, frac=cfg.frac)
    if kind == "table":
        kwargs.update(smiles_col=cfg.smiles_col, targets=cfg.targets, task_type=cfg.task_type)
    return load_dataset(
        cfg.dataset,
        data_root_dir=cfg.data_root,
        download=cfg.download,
        cache_dir=cfg.cache_dir,
        **kwargs,
    )
