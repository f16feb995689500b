"""CLI, called in-process: help, featurize, finetune, config errors, invalid input messages."""

from __future__ import annotations

import json

import pytest

from molgraphpt.cli.main import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("featurize", "finetune", "demo"):
        assert cmd in out


def test_featurize_writes_store_and_reports(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    src.write_text("smiles,y\nCCO,1\nC1CC,0\nc1ccccc1,0\n")
    code = main(
        [
            "featurize",
            str(src),
            "--smiles-col",
            "smiles",
            "--targets",
            "y",
            "--out",
            str(tmp_path / "store"),
            "--on-invalid",
            "skip",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["molecules"] == 2 and summary["skipped_invalid"] == 1
    assert (tmp_path / "store" / "meta.json").exists()


def test_featurize_invalid_smiles_error_names_row_and_file(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    src.write_text("smiles\nCCO\nC1CC\n")
    code = main(["featurize", str(src), "--out", str(tmp_path / "s"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "C1CC" in err and "line 3" in err and "mols.csv" in err and "on-invalid" in err


def test_unknown_config_key_lists_valid_keys(tmp_path, capsys):
    code = main(["finetune", "train.learning_rate=1e-3", "--run-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "learning_rate" in err and "did you mean 'lr'" in err


def test_missing_column_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    src.write_text("smiles,y\nCCO,1\n")
    code = main(["featurize", str(src), "--smiles-col", "smile", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "'smile'" in err and "did you mean 'smiles'" in err


@pytest.mark.integration
def test_finetune_cli_on_user_csv(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    rows = [
        "CCO",
        "CCN",
        "c1ccccc1",
        "CC(=O)O",
        "CCCl",
        "c1ccncc1",
        "CCOC",
        "C1CCCCC1",
        "CC(C)O",
        "O=C=O",
        "CCS",
        "c1ccc(O)cc1",
    ] * 3
    src.write_text("smiles,active\n" + "\n".join(f"{s},{i % 2}" for i, s in enumerate(rows)))
    code = main(
        [
            "finetune",
            "--csv",
            str(src),
            "--targets",
            "active",
            "--task",
            "classification",
            "--seeds",
            "0",
            "--run-dir",
            str(tmp_path / "run"),
            "train.epochs=1",
            "model.encoder.hidden_dim=16",
            "model.encoder.num_layers=2",
            "data.split=random",
            "train.progress=false",
        ]
    )
    assert code == 0
    assert "test roc_auc" in capsys.readouterr().out
    assert (tmp_path / "run" / "results.json").exists()
