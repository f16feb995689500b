"""Input tables that are broken or awkward: each gives a message naming the file, line and fix."""

from __future__ import annotations

import gzip
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from molgraphpt.cli.main import main
from molgraphpt.config.loading import load_config
from molgraphpt.config.schema import FinetuneConfig
from molgraphpt.data.datasets import dataset_kind, load_dataset
from molgraphpt.data.tables import (
    DataFileNotFoundError,
    data_lines,
    iter_chunks,
    read_header,
    read_split_file,
)
from molgraphpt.data.text import load_pair_dataset, read_lpm24_props, read_pairs
from molgraphpt.errors import DataFormatError, InvalidSmilesError, UnknownNameError

BAD = Path(__file__).parents[2] / "data" / "bad_inputs"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.csv.gz"])
def test_non_utf8_table_names_file_line_bytes_and_fix(name):
    with pytest.raises(DataFormatError) as err:
        list(iter_chunks(BAD / name, target_cols=["active"]))
    msg = str(err.value)
    assert name in msg and "line 3" in msg and "\\xe9" in msg and "iconv -f latin1" in msg
    assert (
        "byte offset 37 " in msg
    )  # "smiles,name,active\\n" (19) + "CCO,ethanol,1\\n" (14) + "CCN,"
    with pytest.raises(DataFormatError, match="line 3"):
        load_dataset(str(BAD / name), targets=("active",))


def test_non_utf8_pair_files_name_the_line():
    with pytest.raises(DataFormatError, match=r"latin1_pairs\.jsonl is not UTF-8 text: line 2"):
        read_pairs(BAD / "latin1_pairs.jsonl")
    with pytest.raises(DataFormatError, match=r"latin1_chebi\.tsv is not UTF-8 text: line 3"):
        read_pairs(BAD / "latin1_chebi.tsv")
    with pytest.raises(DataFormatError, match=r"latin1_train_props\.txt is not UTF-8.*line 2"):
        read_lpm24_props(BAD / "latin1_train_props.txt")


def test_gzip_without_gz_suffix_says_rename(tmp_path):
    path = tmp_path / "mols.csv"
    path.write_bytes(gzip.compress(b"smiles\nCCO\n"))
    with pytest.raises(DataFormatError, match="gzip-compressed.*rename it to mols.csv.gz"):
        read_header(path)


def test_bom_and_crlf_read_like_clean_files(tmp_path):
    assert read_header(BAD / "bom_crlf.csv") == ["smiles", "active"]  # not '\ufeffsmiles'
    (chunk,) = iter_chunks(BAD / "bom_crlf.csv", target_cols=["active"])
    assert chunk.smiles == ["CCO", "c1ccccc1", "CCN"]  # no '\r', the blank line is no row
    assert chunk.labels.ravel().tolist() == [1.0, 0.0, 1.0]
    assert chunk.rows.tolist() == [0, 1, 2] and chunk.lines.tolist() == [2, 4, 5]
    pairs = read_pairs(BAD / "bom_crlf_chebi.tsv")
    assert pairs.smiles == ["CCO", "c1ccccc1"]
    assert pairs.texts == ["The molecule is ethanol.", "The molecule is benzene."]
    smi = tmp_path / "mols.smi"
    smi.write_bytes(b"\xef\xbb\xbfCCO ethanol\r\nCCN\r\n")
    assert [c.smiles for c in iter_chunks(smi)] == [["CCO", "CCN"]]


# ----------------------------------------------------------------------------- lines, not rows


def test_errors_name_the_file_line(tmp_path):
    fields = _write(tmp_path / "f.csv", "smiles,y\nCCO,1\n\nCCN,1,2\n")
    with pytest.raises(DataFormatError, match=r"line 4 of .*f\.csv has 3 fields"):
        list(iter_chunks(fields, target_cols=["y"]))
    label = _write(tmp_path / "l.csv", 'smiles,y\nCCO,"1\n"\nCCN,abc\n')
    with pytest.raises(DataFormatError) as err:
        list(iter_chunks(label, target_cols=["y"]))
    assert "'abc'" in str(err.value) and "'y'" in str(err.value) and "line 4" in str(err.value)
    assert data_lines(label).tolist() == [2, 4]  # a quoted cell over two lines


def test_invalid_smiles_names_line_not_row(tmp_path):
    path = _write(tmp_path / "m.csv", "smiles,y\nCCO,1\n\nC1CC,0\nCCN,1\n")
    with pytest.raises(InvalidSmilesError) as err:
        load_dataset(str(path), cache_dir=tmp_path / "c", split="random")
    assert err.value.line == 4 and "line 4 of" in str(err.value) and "C1CC" in str(err.value)
    pairs = _write(
        tmp_path / "p.jsonl", '{"smiles": "CCO", "text": "a"}\n\n{"smiles": "C1CC", "text": "b"}\n'
    )
    with pytest.raises(InvalidSmilesError, match=r"line 3 of .*p\.jsonl"):
        load_pair_dataset([pairs], on_invalid="raise", cache_dir=tmp_path / "c")
    tsv = _write(tmp_path / "p.tsv", "smiles\ttext\nCCO\ta\nC1CC\tb\n")
    with pytest.raises(InvalidSmilesError, match=r"line 3 of .*p\.tsv"):
        load_pair_dataset([tsv], on_invalid="raise", cache_dir=tmp_path / "c")


def test_split_file_errors_name_the_line(tmp_path):
    path = tmp_path / "train.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("0\n1\nx\n")
    with pytest.raises(DataFormatError, match=r"line 3 of the split file .* is 'x'"):
        read_split_file(path, 10)
    with pytest.raises(
        DataFormatError, match=r"line 2 .* is '12'; expected a row index in \[0, 10\)"
    ):
        read_split_file(_write(tmp_path / "s.csv", "3\n12\n"), 10)


# ----------------------------------------------------------------------------- messages


def test_missing_csv_is_file_not_found_not_unknown_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataFileNotFoundError) as err:
        dataset_kind("/no/such.csv")
    assert isinstance(err.value, FileNotFoundError) and "does not exist" in str(err.value)
    with pytest.raises(FileNotFoundError) as err:
        dataset_kind("sub/mine.csv", data_root_dir=tmp_path / "root")
    msg = str(err.value)
    assert str(tmp_path) in msg and str(tmp_path / "root") in msg and "unknown" not in msg
    with pytest.raises(UnknownNameError, match="did you mean 'tox21'"):
        dataset_kind("tox2l")  # a name, not a path: still the list of datasets
    config = Path(__file__).parents[3] / "configs" / "finetune" / "csv.yaml"
    code = main(["finetune", "--config", str(config), "--csv", "/no/such.csv"])
    assert code == 2


def test_cli_missing_files_are_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = Path(__file__).parents[3] / "configs" / "finetune" / "csv.yaml"
    assert main(["finetune", "--config", str(config), "--csv", "/no/such.csv"]) == 2
    err = capsys.readouterr().err
    assert "'/no/such.csv' does not exist" in err and "unknown dataset" not in err
    # the README's featurize example, run where data/moleculenet/ does not exist
    args = ["featurize", "data/moleculenet/HIV.csv.gz", "--smiles-col", "smiles"]
    assert main([*args, "--targets", "HIV_active", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and str(tmp_path) in err and "Errno" not in err


def test_relative_path_is_also_looked_for_under_the_data_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    root.mkdir()
    _write(root / "m.csv", "smiles,y\nCCO,1\nCCN,0\nc1ccccc1,1\n")
    ds = load_dataset("m.csv", data_root_dir=root, cache_dir=tmp_path / "c", split="random")
    assert ds.source == str(root / "m.csv") and len(ds) == 3


def test_header_only_table_is_an_error_when_read(tmp_path):
    path = _write(tmp_path / "h.csv", "smiles,y\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy 'Mean of empty slice' on the way
        with pytest.raises(DataFormatError, match=r"no data rows in .*h\.csv"):
            load_dataset(str(path), cache_dir=tmp_path / "c")
    with pytest.raises(DataFormatError, match="no data rows"):
        iter_chunks(path)  # at the call, before any chunk is asked for
    with pytest.raises(DataFormatError, match="no data rows"):
        read_pairs(_write(tmp_path / "p.csv", "smiles,text\n"))


def test_no_valid_smiles_is_an_error(tmp_path):
    path = _write(tmp_path / "bad.csv", "smiles,y\nxyz,1\nC1CC,0\n")
    with pytest.raises(DataFormatError, match=r"no valid SMILES in .*bad\.csv.*line 2: 'xyz'"):
        load_dataset(str(path), cache_dir=tmp_path / "c", on_invalid="skip")


def test_missing_column_lists_columns_and_closest(tmp_path):
    path = _write(tmp_path / "m.csv", "smiles,active\nCCO,1\n")
    with pytest.raises(UnknownNameError) as err:
        load_dataset(str(path), targets=("actve",), cache_dir=tmp_path / "c")
    msg = str(err.value)
    assert (
        "'actve'" in msg and "did you mean 'active'" in msg and "(choices: active, smiles)" in msg
    )
    assert "--targets" in msg


def test_label_problems_name_value_column_and_line(tmp_path):
    text = _write(tmp_path / "t.csv", "smiles,a\nCCO,1\nCCN,inf\n")
    with pytest.raises(DataFormatError, match=r"target 'a' on line 3 of .*'inf', not a finite"):
        load_dataset(str(text), cache_dir=tmp_path / "c")
    bad = _write(tmp_path / "b.csv", "smiles,a,b\nCCO,1,0\nCCN,2,1\nc1ccccc1,0,0.5\n")
    with pytest.raises(DataFormatError) as err:
        load_dataset(str(bad), cache_dir=tmp_path / "c", split="random")
    msg = str(err.value)
    assert "2 cell(s)" in msg and "2 in 'a' on line 3" in msg and "0.5 in 'b' on line 4" in msg
    empty = _write(tmp_path / "e.csv", "smiles,a,gone\nCCO,1,\nCCN,0,\nc1ccccc1,1,\n")
    with pytest.raises(DataFormatError, match="'gone' of .* have no label"):
        load_dataset(str(empty), cache_dir=tmp_path / "c", split="random")


def test_duplicates_are_counted_and_logged(tmp_path, caplog):
    path = _write(tmp_path / "d.csv", "smiles,a\nCCO,1\nc1ccccc1,0\nOCC,1\nCCN,0\n")
    with caplog.at_level(logging.INFO, logger="molgraphpt"):
        ds = load_dataset(str(path), cache_dir=tmp_path / "c", split="random")
    assert ds.info["num_duplicates"] == 1 and len(ds) == 4  # counted, kept
    assert "lines 2 and 4" in caplog.text
    again = load_dataset(str(path), cache_dir=tmp_path / "c", split="random")
    assert again.info["num_duplicates"] == 1  # remembered beside the store


def test_empty_cells_of_pair_files(tmp_path):
    path = _write(tmp_path / "p.csv", "smiles,text\nCCO,ethanol\nCCN,\n,\nc1ccccc1,benzene\n")
    table = read_pairs(path)
    assert table.smiles == ["CCO", "c1ccccc1"] and table.num_rows == 4
    assert table.lines.tolist() == [2, 5]
    with pytest.raises(DataFormatError, match=r"line 3 of .*p\.csv has an empty text"):
        read_pairs(path, on_empty="raise")
    with pytest.raises(DataFormatError, match="line 3"):
        load_pair_dataset([path], on_invalid="raise", cache_dir=tmp_path / "c")
    ds = load_pair_dataset([path], cache_dir=tmp_path / "c")
    assert len(ds) == 2 and ds.info["num_blank"] == 2


def test_column_hint_names_the_cli_flag(tmp_path):
    path = _write(tmp_path / "p.csv", "smiles,words\nCCO,ethanol\n")
    with pytest.raises(UnknownNameError, match="--text-col NAME"):
        read_pairs(path)
    with pytest.raises(UnknownNameError, match="check --text-col"):
        read_pairs(path, text_col="txt")


def test_not_found_advice_names_a_real_config_key(tmp_path):
    with pytest.raises(DataFileNotFoundError) as err:
        load_dataset("tox21", data_root_dir=tmp_path)
    assert "data.download=true" in str(err.value) and "--download" not in str(err.value)
    cfg = load_config(FinetuneConfig, None, ["data.download=true"])
    assert cfg.data.download is True


def test_local_table_needs_no_network(tmp_path):
    root = tmp_path / "root"
    (root / "moleculenet").mkdir(parents=True)
    shutil.copy(BAD / "bom_crlf.csv", root / "moleculenet" / "BBBP.csv")
    text = (root / "moleculenet" / "BBBP.csv").read_text(encoding="utf-8-sig")
    (root / "moleculenet" / "BBBP.csv").write_text(text.replace("active", "p_np"))
    ds = load_dataset(
        "bbbp", data_root_dir=root, download=True, cache_dir=tmp_path / "c", split="random"
    )
    assert len(ds) == 3 and np.array_equal(ds.labels.ravel(), [1, 0, 1])


def test_retrieval_counts_empty_and_over_long_texts(tiny_text_dir, tmp_path, caplog):
    from molgraphpt.models.graph import GraphEncoderConfig
    from molgraphpt.models.moltext import MolTextConfig, MolTextModel
    from molgraphpt.models.text import TextEncoderConfig
    from molgraphpt.recipes.retrieval import evaluate_retrieval_file

    cfg = MolTextConfig(
        graph=GraphEncoderConfig(hidden_dim=8, num_layers=1),
        text=TextEncoderConfig(name_or_path=str(tiny_text_dir), max_length=16),
        proj_dim=4,
    )
    MolTextModel.build(cfg).save_pretrained(tmp_path / "model")
    long = " ".join(["the molecule is an aromatic ring"] * 10)
    pairs = _write(
        tmp_path / "p.tsv",
        f"smiles\ttext\nCCO\tthe alcohol\nCCN\t\nc1ccccc1\t{long}\nCC(=O)O\tthe acid\n",
    )
    with caplog.at_level(logging.WARNING, logger="molgraphpt"):
        res = evaluate_retrieval_file(tmp_path / "model", pairs)
    assert res["skipped_empty"] == 1 and res["texts_truncated"] == 1 and res["num_pairs"] == 3
    assert "longer than the text encoder's max_length (16 tokens)" in caplog.text
    with pytest.raises(UnknownNameError, match="--text-col"):
        evaluate_retrieval_file(tmp_path / "model", pairs, text_col="caption")
    with pytest.raises(FileNotFoundError, match="Check --pairs"):
        evaluate_retrieval_file(tmp_path / "model", tmp_path / "nope.tsv")
