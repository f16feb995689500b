"""Config fingerprints, the diff shown when a run directory belongs to another config."""

from __future__ import annotations

import hashlib

from molgraphpt.recipes.run_record import (
    config_changes,
    file_hashes,
    fingerprint,
    flatten,
    provenance,
    without_keys,
)


def test_fingerprint_ignores_key_order_and_tuple_vs_list():
    a = {"train": {"lr": 0.001, "epochs": 3}, "seeds": (0, 1)}
    b = {"seeds": [0, 1], "train": {"epochs": 3, "lr": 0.001}}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**b, "train": {"epochs": 1, "lr": 0.001}})


def test_without_keys_drops_dotted_keys_and_copies():
    cfg = {"run_dir": "x", "train": {"progress": True, "lr": 0.1}, "data": {"path": "a"}}
    out = without_keys(cfg, ["run_dir", "train.progress", "data.missing", "nowhere.at.all"])
    assert out == {"train": {"lr": 0.1}, "data": {"path": "a"}}
    assert cfg["train"]["progress"] is True  # the input is untouched


def test_config_changes_name_each_changed_leaf_with_old_and_new_values():
    old = {"train": {"epochs": 1}, "data": {"task_type": "regression"}, "objectives": [{"a": 1}]}
    new = {"train": {"epochs": 3}, "data": {"task_type": "classification"}, "objectives": []}
    assert config_changes(old, new) == [
        'data.task_type: "regression" → "classification"',
        "objectives: (absent) → []",
        "objectives.0.a: 1 → (absent)",
        "train.epochs: 1 → 3",
    ]
    assert config_changes(new, new) == []
    assert flatten({"a": [{"b": 1}, 2]}) == {"a.0.b": 1, "a.1": 2}


def test_file_hashes_stream_the_content_and_provenance_names_the_command(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"smiles,y\nCCO,1\n")
    assert file_hashes([path, tmp_path / "missing.csv"]) == [
        {"path": str(path), "sha256": hashlib.sha256(b"smiles,y\nCCO,1\n").hexdigest()}
    ]
    record = provenance()
    assert record["command"] and record["cwd"] and "torch" in record["versions"]
    assert "git_revision" in record
