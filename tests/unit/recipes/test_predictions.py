"""The per-seed prediction files' layout."""

from __future__ import annotations

import csv

import numpy as np

from molgraphpt.data.datasets import load_csv
from molgraphpt.recipes.predictions import predictions_csv, probabilities, write_predictions


def test_layout_missing_targets_and_shortest_numbers():
    text = predictions_csv(
        np.array([7, 2]),
        ["CCO", "c1ccccc1"],
        ["tox", "sol"],
        np.array([[1.0, -5.45], [np.nan, 0.5]], dtype=np.float32),
        np.array([[0.25, -4.2], [0.75, 0.125]], dtype=np.float32),
    )
    assert text.splitlines() == [
        "row,smiles,tox,tox_pred,sol,sol_pred",
        "7,CCO,1.0,0.25,-5.45,-4.2",
        "2,c1ccccc1,,0.75,0.5,0.125",
    ]


def test_probabilities_do_not_overflow():
    p = probabilities(np.array([[-1000.0, 0.0, 1000.0]], dtype=np.float32))
    assert p.tolist() == [[0.0, 0.5, 1.0]]


def test_written_atomically_with_smiles_from_the_store(tmp_path):
    source = tmp_path / "three.csv"
    source.write_text("smiles,y\nC,1.5\nCC,\nCCC,2.0\n")
    dataset = load_csv(source, task_type="regression", split="random", cache_dir=tmp_path)
    indices = np.array([2, 0])
    out = tmp_path / "out"
    out.mkdir()
    path = write_predictions(
        out / "test_predictions.csv",
        dataset.store,
        indices,
        dataset.task_names,
        dataset.labels[indices],
        np.array([[1.25], [2.5]], dtype=np.float32),
    )
    rows = list(csv.DictReader(path.open()))
    assert [(r["row"], r["smiles"], r["y"], r["y_pred"]) for r in rows] == [
        ("2", "CCC", "2.0", "1.25"),
        ("0", "C", "1.5", "2.5"),
    ]
    assert [p.name for p in out.iterdir()] == ["test_predictions.csv"]
