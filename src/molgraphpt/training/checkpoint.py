"""Atomic save and load of the full training state, for exact resume of an interrupted run.

A training checkpoint (``run_dir/checkpoints/last.pt``) is a single ``torch.save`` file holding
only tensors and plain Python values, so it loads with ``weights_only=True``. It is not the
model format: a trained model is published as a directory with ``save_pretrained``.

**Checksum.** ``last.pt.sha256`` beside it lists the SHA-256 of the state file; a load whose
bytes match none of the listed digests is an :class:`~molgraphpt.errors.IntegrityError` (torch's
zip reader does not notice most flipped bits). The sidecar is updated so that a kill at any
moment leaves a pair that verifies: first the sidecar lists the new *and* the old digest, then the
state file is renamed into place, then the sidecar is rewritten with the new digest only.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from molgraphpt._io import file_checksum, make_temp_sibling, write_json_atomic
from molgraphpt.errors import CheckpointError, IntegrityError

logger = logging.getLogger(__name__)

FORMAT = "molgraphpt.training_state/1"
CHECKSUM_SUFFIX = ".sha256"


def capture_rng_state() -> dict[str, Any]:
    """Snapshot of the Python, NumPy, torch CPU and all CUDA global RNG states."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["name"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) != torch.cuda.device_count():
            logger.warning(
                "checkpoint has CUDA RNG states of %d devices, this machine has %d: "
                "restoring the common ones",
                len(state["cuda"]),
                torch.cuda.device_count(),
            )
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same directory, fsync, then rename over ``path``.

    A crash at any point leaves either the previous file or the new one, never a partial file,
    and no temporary file behind (unless the process itself is killed mid-write: such leftovers
    are named ``.<name>.<pid>.<random>.tmp`` and :func:`remove_stale_temp_files` clears them).
    The file gets the mode of any file the process writes (``0o644`` under umask 022).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp_sibling(path, tag=f"{os.getpid()}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        digest = file_checksum(tmp)
        # every digest the file on disk may have stays valid until the rename is done: after a
        # kill between these two steps the sidecar lists more than one, and the file is one of them
        _write_digests(path, [digest, *_recorded_digests(path)])
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_digests(path, [digest])
    try:  # persist the rename itself (POSIX); not possible everywhere, e.g. on Windows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def checksum_path(path: str | Path) -> Path:
    """The sidecar ``<path>.sha256`` listing the digests ``path`` may have."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def _recorded_digests(path: Path) -> list[str]:
    try:
        digests = json.loads(checksum_path(path).read_text()).get("sha256", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [d for d in digests if isinstance(d, str)]


def _write_digests(path: Path, digests: list[str]) -> None:
    write_json_atomic(checksum_path(path), {"file": path.name, "sha256": digests})


def verify_training_state(path: str | Path) -> None:
    """Check ``path`` against its ``.sha256`` sidecar (states written without one pass, logged).

    Raises:
        IntegrityError: The file's bytes match none of the recorded digests.
    """
    path = Path(path)
    if not checksum_path(path).is_file():
        logger.info("%s has no checksum file (written by an older molgraphpt): not verified", path)
        return
    recorded = _recorded_digests(path)
    actual = file_checksum(path)
    if actual not in recorded:
        raise IntegrityError(
            path,
            expected=" or ".join(recorded) or "(none)",
            actual=actual,
            fix="Restore it from a backup, or delete it and its .sha256 file to start this run "
            "(or seed) afresh.",
        )


def remove_stale_temp_files(folder: str | Path, name: str = "last.pt") -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files a killed :func:`atomic_torch_save` left in ``folder``.

    Call it only while no other process can be saving there (the caller holds the run
    directory's lock): every such file is then a leftover.

    Returns:
        The files removed.
    """
    removed = []
    for tmp in sorted(Path(folder).glob(f".{name}.*.tmp")):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    if removed:
        logger.info("removed %d stale temporary checkpoint file(s) in %s", len(removed), folder)
    return removed


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def save_training_state(
    path: str | Path,
    *,
    task: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler | None,
    step: int,
    epoch: int,
    batch_in_epoch: int,
    best: dict[str, Any],
    history: list[dict[str, Any]],
    rng: dict[str, Any],
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write everything needed to continue training exactly, atomically.

    Args:
        path: Target file, usually ``run_dir/checkpoints/last.pt``.
        task: The (unwrapped) task whose ``state_dict`` to save.
        optimizer: Optimizer whose state to save.
        scheduler: LR scheduler whose state to save.
        scaler: fp16 gradient scaler, or None.
        step: Optimizer steps taken.
        epoch: Current epoch (0-based).
        batch_in_epoch: Micro-batches of ``epoch`` already consumed.
        best: Model-selection state: ``value``, ``step``, ``epoch``, ``metrics``, ``bad_evals``
            and ``state_dict`` (a CPU copy of the best weights, or None).
        history: Evaluation records so far.
        rng: RNG snapshot from :func:`capture_rng_state`.
        config: The run's ``TrainConfig`` as a dict, for the record.
        extra: Any other plain state the loop needs (e.g. the logging window).

    Returns:
        ``path``.
    """
    state = {
        "format": FORMAT,
        "model": _cpu(task.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "step": step,
        "epoch": epoch,
        "batch_in_epoch": batch_in_epoch,
        "best": best,
        "history": history,
        "rng": rng,
        "config": config,
        "extra": extra or {},
    }
    return atomic_torch_save(state, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Load a file written by :func:`save_training_state` onto the CPU, checksum verified.

    Raises:
        IntegrityError: Its bytes changed since it was written (:func:`verify_training_state`).
        CheckpointError: If the file is not a molgraphpt training state.
    """
    if not Path(path).is_file():
        raise CheckpointError(
            f"no training state at {str(path)!r} (it was deleted or never written); run without "
            "--resume to start afresh"
        )
    verify_training_state(path)
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"cannot read training state {str(path)!r} ({err}); delete it to start the run afresh"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a molgraphpt training state (expected format {FORMAT!r})"
        )
    return state
