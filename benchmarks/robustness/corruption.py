"""Damage stored files byte by byte and check every damage is detected when they are opened.

Targets: a feature store written by ``molgraphpt featurize`` (every array file and ``meta.json``),
a fine-tuned model checkpoint (``model.safetensors``) and a training state (``last.pt``). Each
trial copies the pristine target, applies one corruption (flip one byte at a random offset,
truncate, zero a block, delete a file, or set a newer format version) and opens the copy with the
default (verifying) loader. "Detected" means a molgraphpt typed error
(:class:`molgraphpt.errors.MolGraphPTError`); anything else that opens, or a raw exception,
counts as undetected and is listed.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from molgraphpt.errors import MolGraphPTError

Damage = Callable[[Path, random.Random], str]


def _flip_byte(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    if not data:
        return "empty file (skipped)"
    pos = rng.randrange(len(data))
    data[pos] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return f"flipped a bit at byte {pos} of {len(data)}"


def _truncate(path: Path, rng: random.Random) -> str:
    size = path.stat().st_size
    keep = rng.randrange(size) if size else 0
    with open(path, "r+b") as handle:
        handle.truncate(keep)
    return f"truncated {size} -> {keep} bytes"


def _zero_block(path: Path, rng: random.Random) -> str:
    data = bytearray(path.read_bytes())
    if len(data) < 2:
        return _truncate(path, rng)
    start = rng.randrange(len(data) - 1)
    end = min(len(data), start + rng.randint(1, 4096))
    if not any(data[start:end]):  # zeroing zeros changes nothing: flip instead
        return _flip_byte(path, rng)
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))
    return f"zeroed bytes {start}..{end}"


def _delete(path: Path, rng: random.Random) -> str:
    path.unlink()
    return "deleted"


def _newer_format(path: Path, rng: random.Random) -> str:
    meta = json.loads(path.read_text())
    key = "format_version"
    meta[key] = int(meta.get(key, 1)) + 7
    path.write_text(json.dumps(meta))
    return f"format_version set to {meta[key]}"


DAMAGES: dict[str, Damage] = {
    "flip": _flip_byte, "truncate": _truncate, "zero": _zero_block, "delete": _delete,
}


def _trial(pristine: Path, work: Path, name: str, damage: str, opener: Callable[[Path], object],
           rng: random.Random) -> dict:
    copy = work / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    if pristine.is_dir():
        shutil.copytree(pristine, copy)
        target = copy / name
    else:
        copy.mkdir()
        target = copy / pristine.name
        shutil.copy2(pristine, target)
    how = (_newer_format if damage == "newer_format" else DAMAGES[damage])(target, rng)
    try:
        opener(copy if pristine.is_dir() else target)
        outcome, detected = "opened without error", False
    except MolGraphPTError as err:
        outcome, detected = f"{type(err).__name__}: {str(err)[:160]}", True
    except Exception as err:  # noqa: BLE001 - a raw exception is an undetected (unclear) failure
        outcome, detected = f"RAW {type(err).__name__}: {str(err)[:160]}", False
    return {"file": name, "damage": damage, "how": how, "detected": detected, "outcome": outcome}


def run_corruptions(targets: dict[str, tuple[Path, list[str], Callable[[Path], object]]],
                    work: Path, trials_per_file: int, seed: int = 0) -> dict:
    """Damage every listed file of every target ``trials_per_file`` times per damage kind.

    Args:
        targets: ``{label: (pristine dir or file, file names inside it, opener)}``.
        work: Scratch folder.
        trials_per_file: Random trials per (file, damage) pair ("delete" runs once).
        seed: Seed of the random offsets.
    """
    rng = random.Random(seed)
    records = []
    for label, (pristine, names, opener) in targets.items():
        for name in names:
            kinds = ["newer_format"] if name == "meta.json" else list(DAMAGES)
            for damage in kinds:
                repeats = 1 if damage in ("delete", "newer_format") else trials_per_file
                for _ in range(repeats):
                    record = _trial(pristine, work, name, damage, opener, rng)
                    records.append({"target": label, **record})
    missed = [r for r in records if not r["detected"]]
    for r in missed:
        print(f"  UNDETECTED {r['target']}/{r['file']} {r['how']}: {r['outcome']}", flush=True)
    return {
        "corruptions_tried": len(records),
        "corruptions_detected": len(records) - len(missed),
        "undetected": missed,
    }
