"""``molgraphpt evaluate retrieval`` end to end with a tiny saved MolTextModel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from molgraphpt.cli.main import main

SAMPLE = Path(__file__).parents[1] / "data" / "moltext" / "chebi20_sample.tsv"
METRICS = {"mrr", "hits1", "hits10", "mean_rank", "median_rank", "recall20"}


@pytest.fixture(scope="module")
def model_dir(tiny_text_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from molgraphpt.models.graph import GraphEncoderConfig
    from molgraphpt.models.moltext import MolTextConfig, MolTextModel
    from molgraphpt.models.text import TextEncoderConfig

    cfg = MolTextConfig(
        graph=GraphEncoderConfig(hidden_dim=16, num_layers=2),
        text=TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=32),
        proj_dim=8,
    )
    out = tmp_path_factory.mktemp("moltext") / "model"
    MolTextModel.build(cfg).save_pretrained(out)
    return out


@pytest.fixture
def pairs_file(tmp_path: Path) -> Path:
    if SAMPLE.exists():
        return SAMPLE
    path = tmp_path / "pairs.tsv"
    rows = [
        ("CCO", "The molecule is an alcohol."),
        ("c1ccccc1", "The molecule is an aromatic ring."),
        ("CC(=O)O", "The molecule is an acid."),
        ("CCN", "The molecule is an amino compound."),
        ("CC(=O)OC", "The molecule is an ester."),
        ("CC(C)=O", "The molecule is a ketone."),
    ]
    path.write_text(
        "CID\tSMILES\tdescription\n" + "".join(f"{i}\t{s}\t{t}\n" for i, (s, t) in enumerate(rows))
    )
    return path


def test_evaluate_retrieval_writes_json_and_table(model_dir, pairs_file, tmp_path, capsys):
    out = tmp_path / "res" / "results.json"
    code = main(
        [
            "evaluate",
            "retrieval",
            "--model",
            str(model_dir),
            "--pairs",
            str(pairs_file),
            "--out",
            str(out),
            "--batch-size",
            "16",
            "--limit",
            "40",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "text_to_mol" in printed and "mol_to_text" in printed and str(out) in printed
    res = json.loads(out.read_text())
    n = res["num_pairs"]
    assert 1 < n <= 40 and res["skipped_invalid"] >= 0
    assert not [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    for direction in ("text_to_mol", "mol_to_text"):
        m = res[direction]
        assert set(m) == METRICS
        for key in ("mrr", "hits1", "hits10", "recall20"):
            assert 0.0 <= m[key] <= 1.0
        assert 1.0 <= m["median_rank"] <= n and 1.0 <= m["mean_rank"] <= n
        assert m["mrr"] >= 1.0 / n
        assert 0.0 <= res["kvplm_acc64"][direction] <= 1.0
    assert {"torch", "molgraphpt", "rdkit"} <= set(res["versions"])
    assert res["model"] == str(model_dir) and res["dedupe"] is False


def test_evaluate_retrieval_dedupe_flag(model_dir, pairs_file, capsys):
    code = main(
        ["evaluate", "retrieval", "--model", str(model_dir), "--pairs", str(pairs_file)]
        + ["--limit", "12", "--dedupe"]
    )
    assert code == 0
    assert "mrr" in capsys.readouterr().out


def test_missing_model_dir_is_a_clear_error(pairs_file, tmp_path, capsys):
    missing = tmp_path / "no_such_model"
    code = main(["evaluate", "retrieval", "--model", str(missing), "--pairs", str(pairs_file)])
    err = capsys.readouterr().err
    assert code != 0
    assert "no_such_model" in err and "save_pretrained" in err and "Traceback" not in err


def test_missing_pairs_file_is_a_clear_error(model_dir, tmp_path, capsys):
    code = main(
        ["evaluate", "retrieval", "--model", str(model_dir), "--pairs", str(tmp_path / "x.tsv")]
    )
    err = capsys.readouterr().err
    assert code != 0 and "x.tsv" in err


def test_evaluate_requires_a_kind(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate"])
    assert exit_.value.code != 0


def test_unreadable_pairs_file_is_a_clear_error(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    code = main(["evaluate", "retrieval", "--model", str(model_dir), "--pairs", str(bad)])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error:") and "Traceback" not in err


def test_evaluate_retrieval_lpm24_format(model_dir, tmp_path, capsys):
    lpm24 = SAMPLE.parent / "lpm24_sample.txt.gz"
    if not lpm24.exists():
        pytest.skip("no L+M-24 sample")
    out = tmp_path / "r.json"
    args = ["evaluate", "retrieval", "--model", str(model_dir), "--pairs", str(lpm24)]
    code = main(args + ["--format", "lpm24_props", "--limit", "20", "--out", str(out)])
    assert code == 0
    res = json.loads(out.read_text())
    assert res["num_pairs"] == 20 and 0.0 <= res["text_to_mol"]["mrr"] <= 1.0
