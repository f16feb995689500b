"""A run directory belongs to one config: locked while in use, checked on every rerun.

:class:`RunDirectory` is what a recipe holds for the life of a run::

    with RunDirectory(run_dir, identity, read_legacy=...) as claim:   # lock, sweep leftovers
        claim.check(resume=resume, overwrite=overwrite)   # same config, or refuse / replace
        data = ...load the data...
        claim.commit(cfg, data=hashes)                    # config.yaml + run.json, data checked
        claim.mark_started()
        ...train, write results...

Rules:

* **One config per folder.** ``run.json`` records the run's *config fingerprint*: SHA-256 of the
  canonical resolved config without the keys that do not change results (which keys, the
  recipe decides and lists in ``run.json``'s ``ignored_keys``), and SHA-256 of the input files.
  A rerun (``resume`` or not) whose fingerprint or input data differ from a folder that already
  holds results is refused with a :class:`~molgraphpt.errors.RunDirError` naming each changed
  key (old → new); ``overwrite=True`` first deletes what molgraphpt wrote there (the names in
  :data:`OUTPUTS` and ``seed_<n>/`` :data:`SEED_OUTPUTS`; any other file is left, and logged).
  A folder without results (say a run that failed while loading its data) is simply reused.
  Folders written before ``run.json`` existed are judged by their ``config.yaml``.
* **One run per folder** (:class:`~molgraphpt.recipes.run_lock.RunDirLock`): a second run fails
  at once; under ``torch.distributed`` only rank 0 (``main=True``) locks, checks and writes.
* **No debris.** Temporary files of interrupted writes (``.last.pt.*.tmp``, ``.<output>.*.tmp``,
  ``.model.tmp-*``) are deleted when the lock is taken (the lock proves no one else writes
  them). A run that fails before :meth:`RunDirectory.mark_started` removes what it created
  (``config.yaml``, ``run.json``, empty folders, the run directory itself if it made it).
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from molgraphpt._io import write_json_atomic
from molgraphpt.config.loading import save_config
from molgraphpt.errors import MolGraphPTError, RunDirError
from molgraphpt.recipes.run_lock import RunDirLock
from molgraphpt.recipes.run_record import command_line, config_changes, fingerprint, provenance
from molgraphpt.training.checkpoint import remove_stale_temp_files

__all__ = ["OUTPUTS", "RUN_RECORD", "SEED_OUTPUTS", "RunDirectory", "RunIdentity"]

logger = logging.getLogger(__name__)

RUN_RECORD = "run.json"
FORMAT = "molgraphpt.run/1"
#: What molgraphpt writes at the top of a run directory (files, then folders).
OUTPUTS = (
    "config.yaml",
    RUN_RECORD,
    "results.json",
    "pretrain.json",
    "metrics.csv",
    "smiles_tokenizer.json",
    "model",
    "checkpoints",
    "tensorboard",
)
#: What fine-tuning writes into ``seed_<n>/`` (``probe/`` and ``full/``: the phases of lp_ft).
SEED_OUTPUTS = (
    "result.json",
    "metrics.csv",
    "test_predictions.csv",
    "valid_predictions.csv",
    "model",
    "checkpoints",
    "tensorboard",
    "probe",
    "full",
)
_RESULTS = ("results.json", "pretrain.json", "metrics.csv", "model", "checkpoints")
_SEED_DIR = re.compile(r"seed_\d+")
_CONFIG_FILES = ("config.yaml", RUN_RECORD, "smiles_tokenizer.json")  # written before training


@dataclass(frozen=True)
class RunIdentity:
    """What a run directory belongs to.

    Attributes:
        kind: ``"finetune"`` or ``"pretrain"``.
        config: The resolved config as plain data, without ``ignored`` keys.
        ignored: Dotted keys left out of the fingerprint (they do not change results).
    """

    kind: str
    config: dict[str, Any]
    ignored: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the kind and the canonical config."""
        return fingerprint({"kind": self.kind, "config": self.config})


@dataclass(frozen=True)
class _Recorded:
    """What a run directory says it belongs to."""

    identity: RunIdentity
    data: list[dict[str, Any]] | None
    legacy: bool  # from config.yaml: written before run.json existed
    unstamped_ok: bool  # results without a config_fingerprint are of this config (legacy ones)


class RunDirectory:
    """This process's claim on a run directory (see the module docstring).

    Args:
        path: The run directory (created if missing).
        identity: The config this run belongs to.
        main: Whether this process locks, checks and writes (rank 0 under torch.distributed).
        read_legacy: Reads ``config.yaml`` of a folder without ``run.json`` into the identity
            it stands for (any error: the config is unknown).
    """

    def __init__(
        self,
        path: str | Path,
        identity: RunIdentity,
        *,
        main: bool = True,
        read_legacy: Callable[[Path], RunIdentity] | None = None,
    ) -> None:
        self.path = Path(path)
        self.identity = identity
        self.main = main
        self.read_legacy = read_legacy
        self.recorded: _Recorded | None = None
        self._lock = RunDirLock(self.path, command=command_line())
        self._created: list[Path] = []
        self._before: set[str] = set()
        self._same = False
        self._started = False

    @property
    def fingerprint(self) -> str:
        """This run's config fingerprint."""
        return self.identity.fingerprint

    def __enter__(self) -> RunDirectory:
        if not self.main:
            return self
        self._created = _make_dirs(self.path)
        try:
            self._lock.acquire()
        except BaseException:
            _remove_empty(self._created)
            raise
        self._before = {p.name for p in self.path.iterdir()}
        _sweep_temp_files(self.path)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.main:
            return
        failed_early = exc_type is not None and not self._started
        if failed_early:
            self._undo()
        self._lock.release()
        if failed_early:
            _remove_empty(self._created)

    def check(self, *, resume: bool, overwrite: bool) -> None:
        """Refuse (or, with ``overwrite``, clear) a folder holding results of another config.

        Raises:
            RunDirError: ``resume`` and ``overwrite`` together, or the folder holds results of
                another (or an unknown) config and ``overwrite`` is False.
        """
        if resume and overwrite:
            raise RunDirError(
                f"resume and overwrite exclude each other (run dir {self.path}): pass --resume "
                "to continue the run in it, or --overwrite to replace it"
            )
        if not self.main:
            return
        self.recorded = self._read_record()
        if not self._has_results():
            return
        if self.recorded is not None and self.recorded.identity.fingerprint == self.fingerprint:
            self._same = True
            logger.info("%s holds a run of the same config (%s)", self.path, self.fingerprint[:12])
            return
        if not overwrite:
            raise RunDirError(self._conflict_message())
        logger.warning("overwrite: replacing the outputs of the run in %s", self.path)
        self.clear()

    def commit(self, cfg: Any, *, data: list[dict[str, Any]]) -> None:
        """Check the input data against the folder's, then write ``config.yaml`` and ``run.json``.

        Args:
            cfg: The resolved config (a dataclass), written as ``config.yaml``.
            data: ``[{"path", "sha256"}]`` of the input files.

        Raises:
            RunDirError: The folder holds results of this config computed on other data.
        """
        if not self.main:
            return
        recorded = self.recorded
        if self._same and recorded is not None and recorded.data is not None:
            changes = _data_changes(recorded.data, data)
            if changes:
                raise RunDirError(
                    f"{self.path} holds results of this config computed on other input data:\n  "
                    + "\n  ".join(changes)
                    + f"\n{_FIX}"
                )
        save_config(cfg, self.path / "config.yaml")
        if not (self._same and recorded is not None and not recorded.legacy):
            self._write_record(data)

    def mark_started(self) -> None:
        """Training starts: from now on a failure leaves the folder as it is (for ``--resume``)."""
        self._started = True

    def check_result(self, result: Mapping[str, Any], path: Path) -> None:
        """Check that a finished result (``seed_<n>/result.json``) belongs to this config.

        Raises:
            RunDirError: It records another fingerprint (or none, in a folder with ``run.json``).
        """
        found = result.get("config_fingerprint")
        legacy = self._same and self.recorded is not None and self.recorded.unstamped_ok
        if found == self.fingerprint or (found is None and legacy):
            return
        raise RunDirError(
            f"{path} was written by a run of another config (fingerprint "
            f"{str(found)[:12] if found else 'missing'}, this run's is {self.fingerprint[:12]}): "
            f"reusing it would mix two configs' results. {_FIX}"
        )

    def clear(self) -> None:
        """Delete what molgraphpt wrote into the folder; leave (and log) everything else."""
        for name in OUTPUTS:
            _remove(self.path / name)
        for seed_dir in sorted(self.path.iterdir()):
            if _SEED_DIR.fullmatch(seed_dir.name) and seed_dir.is_dir():
                for name in SEED_OUTPUTS:
                    _remove(seed_dir / name)
                _remove_empty([seed_dir])
        kept = sorted(p.name for p in self.path.iterdir() if p.name != self._lock.path.name)
        if kept:
            logger.info("left files molgraphpt did not write in %s untouched: %s", self.path, kept)

    def _read_record(self) -> _Recorded | None:
        path = self.path / RUN_RECORD
        if path.is_file():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                identity = RunIdentity(raw["kind"], raw["config"], tuple(raw["ignored_keys"]))
                unstamped = bool(raw.get("legacy_results", False))
                return _Recorded(identity, raw.get("data"), legacy=False, unstamped_ok=unstamped)
            except (OSError, ValueError, KeyError, TypeError) as err:
                logger.warning("cannot read %s (%s): its config is unknown", path, err)
                return None
        legacy = self.path / "config.yaml"
        if self.read_legacy is None or not legacy.is_file():
            return None
        try:
            return _Recorded(self.read_legacy(legacy), None, legacy=True, unstamped_ok=True)
        except (MolGraphPTError, OSError, ValueError) as err:
            logger.warning("cannot read %s (%s): its config is unknown", legacy, err)
            return None

    def _has_results(self) -> bool:
        if any((self.path / name).exists() for name in _RESULTS):
            return True
        return any(
            _SEED_DIR.fullmatch(p.name) and p.is_dir() and any(p.iterdir())
            for p in self.path.iterdir()
        )

    def _conflict_message(self) -> str:
        if self.recorded is None:
            return (
                f"{self.path} holds results of a run whose config is unknown (no readable "
                f"{RUN_RECORD} or config.yaml): they may come from another config. {_FIX}"
            )
        old, new = self.recorded.identity, self.identity
        if old.kind != new.kind:
            changes = [f"kind: {old.kind} → {new.kind}"]
        else:
            changes = config_changes(old.config, new.config)
        return (
            f"{self.path} holds results of another config ({old.kind} run, fingerprint "
            f"{old.fingerprint[:12]}; this run's is {new.fingerprint[:12]}). Changed:\n  "
            + "\n  ".join(changes or ["(keys left out of the fingerprint changed)"])
            + f"\n{_FIX}"
        )

    def _write_record(self, data: list[dict[str, Any]]) -> None:
        record = {
            "format": FORMAT,
            "kind": self.identity.kind,
            "config_fingerprint": self.fingerprint,
            "config": self.identity.config,
            "ignored_keys": list(self.identity.ignored),
            "data": data,
            # results written before run.json existed, adopted because config.yaml matched
            "legacy_results": bool(self._same and self.recorded and self.recorded.unstamped_ok),
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            **provenance(),
        }
        write_json_atomic(self.path / RUN_RECORD, record, default=str)

    def _undo(self) -> None:
        """Remove what this run created before training started (never anything older)."""
        for name in _CONFIG_FILES:
            path = self.path / name
            if name not in self._before and path.is_file():
                path.unlink()
        new_seeds = [
            p
            for p in self.path.iterdir()
            if p.name not in self._before and _SEED_DIR.fullmatch(p.name) and p.is_dir()
        ]
        _remove_empty(new_seeds)


_FIX = (
    "Pass --overwrite (overwrite=True) to replace that run's outputs, or choose another --run-dir."
)


def _data_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    """``path: sha256 old → new`` lines where the input files' content differs."""
    if [e.get("sha256") for e in old] == [e.get("sha256") for e in new]:
        return []
    lines = []
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else {}
        b = new[i] if i < len(new) else {}
        if a.get("sha256") != b.get("sha256"):
            path = b.get("path") or a.get("path")
            lines.append(
                f"{path}: sha256 {str(a.get('sha256'))[:12]} → {str(b.get('sha256'))[:12]}"
            )
    return lines


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, deepest first."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """``rmdir`` each folder that exists and is empty (in order: list the deepest first)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            pass


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _sweep_temp_files(run_dir: Path) -> None:
    """Delete temporary files interrupted writes left (only while holding the lock)."""
    folders = [run_dir]
    for seed_dir in run_dir.iterdir():
        if _SEED_DIR.fullmatch(seed_dir.name) and seed_dir.is_dir():
            folders += [seed_dir, seed_dir / "probe", seed_dir / "full"]
    for folder in folders:
        if not folder.is_dir():
            continue
        remove_stale_temp_files(folder / "checkpoints", "last.pt")
        for name in (*OUTPUTS, *SEED_OUTPUTS):
            for leftover in folder.glob(f".{name}.*tmp*"):
                if leftover.name.endswith(".tmp") or ".tmp-" in leftover.name:
                    _remove(leftover)
        for pattern in (".model.old-*", "smiles_tokenizer.json.tmp-*"):
            for leftover in folder.glob(pattern):
                _remove(leftover)


def reuse_or_run_seed(
    claim: RunDirectory, seed: int, train: Callable[[Path], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """One seed's result: read back from ``seed_<s>/result.json`` if it exists, else trained.

    A finished seed's result is checked to belong to this run's config
    (:meth:`RunDirectory.check_result`). ``train(seed_dir)`` runs in a ``seed_<s>/`` folder that
    is removed again if the training fails before writing anything there.

    Returns:
        ``(result, trained)``: ``trained`` is False when the result was reused.
    """
    seed_dir = claim.path / f"seed_{seed}"
    done = seed_dir / "result.json"
    if done.exists():
        res = json.loads(done.read_text())
        claim.check_result(res, done)
        logger.info("seed %d already finished with this config: reusing %s", seed, done)
        return res, False
    created = not seed_dir.exists()
    seed_dir.mkdir(parents=True, exist_ok=True)
    try:
        return train(seed_dir), True
    except BaseException:
        if created and not any(seed_dir.iterdir()):
            seed_dir.rmdir()
        raise
