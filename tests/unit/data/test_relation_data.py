"""Relation data: entity formats (markers, placeholders, offsets), files, errors, labels, loader."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from molgraphpt.data.relation import (
    build_label_vocab,
    check_labels,
    load_relation_data,
    parse_entities,
    read_relation_file,
    relation_files,
)
from molgraphpt.data.relation_batch import RelationLoader
from molgraphpt.data.relation_config import RelationDataConfig
from molgraphpt.errors import ConfigError, DataFormatError

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "relation"
MARKERS = RelationDataConfig(folder="x")


def spans(text: str, cfg: RelationDataConfig = MARKERS) -> tuple[str, str, str]:
    clean, (hs, he), (ts, te) = parse_entities(text, cfg)
    return clean, clean[hs:he], clean[ts:te]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ markers


def test_chemprot_markers_give_clean_text_and_spans():
    clean, head, tail = spans("<< EGF receptor >> inhibitors such as [[ gefitinib ]] (Iressa).")
    assert head == "EGF receptor" and tail == "gefitinib"
    assert "<<" not in clean and "[[" not in clean and "gefitinib" in clean


def test_reversed_order_and_marker_like_chemical_names():
    text = (
        "the [[ 2-[[5-(2,6-dimethoxy)]]amine ]] antagonist of << NT receptors >> was "
        "sulprostone>>PG"
    )
    clean, head, tail = spans(text)
    assert head == "NT receptors"
    assert tail == "2-[[5-(2,6-dimethoxy)]]amine"
    assert clean.endswith("sulprostone>>PG")


def test_custom_markers_and_nested_entities():
    cfg = RelationDataConfig(
        folder="x", head_markers=("<e1>", "</e1>"), tail_markers=("<e2>", "</e2>")
    )
    _, head, tail = spans("<e1> <e2> EGF </e2> receptor </e1> binds", cfg)
    assert head == "EGF  receptor" and tail == "EGF"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<< a >> and b", "tail entity marker '\\[\\[' is missing"),
        ("<< a >> and << b >> with [[ c ]]", "occurs 2 times"),
        ("<< a and [[ b ]]", "never closed"),
        ("   ", "empty"),
        ("<< a [[ b >> c ]]", "cross"),
    ],
)
def test_bad_markers_are_typed_errors(text, match):
    with pytest.raises(DataFormatError, match=match):
        parse_entities(text, MARKERS)


def test_errors_name_file_and_line_and_skip_counts(tmp_path):
    rows = [
        {"text": "<< a >> binds [[ b ]]", "label": "X"},
        {"text": "no markers here", "label": "X"},
        {"text": "", "label": "X"},
        {"text": "<< a >> binds [[ b ]]", "label": "Y"},
    ]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    path.write_text(path.read_text().replace("\n", "\n\n", 1))  # a blank line: line 3 is row 2
    with pytest.raises(DataFormatError) as info:
        read_relation_file(path, MARKERS)
    assert f"{path} line 3" in str(info.value) and "on_invalid=skip" in str(info.value)
    split = read_relation_file(path, RelationDataConfig(folder="x", on_invalid="skip"))
    assert len(split) == 2 and [e.line for e in split.examples] == [1, 5]
    assert split.skipped == {"empty_text": 1, "missing_marker": 1}


# ------------------------------------------------------------------------- placeholders


def test_placeholders_chemprot_and_ddi_styles():
    cfg = RelationDataConfig(folder="x", entities="placeholders")
    _, head, tail = spans("@CHEMICAL$ inhibits @GENE$ in cells", cfg)
    assert (head, tail) == ("@CHEMICAL$", "@GENE$")
    _, head, tail = spans("@DRUG$ increases levels of @DRUG$", cfg)
    assert head == tail == "@DRUG$"
    with pytest.raises(DataFormatError, match="found 1 entity placeholder"):
        parse_entities("@GENE$ alone", cfg)
    with pytest.raises(DataFormatError, match="found 3"):
        parse_entities("@DRUG$ @DRUG$ @GENE$", cfg)


# ------------------------------------------------------------------------------ offsets


def test_offsets_from_csv_with_editor_lines(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(
        "sentence,label,head_start,head_end,tail_start,tail_end\n"
        '"aspirin, a drug, inhibits cox",INHIBITOR,0,7,26,29\n'
        "aspirin inhibits cox,INHIBITOR,0,7,17,40\n",
        encoding="utf-8",
    )
    cfg = RelationDataConfig(folder="x", entities="offsets")
    with pytest.raises(DataFormatError, match=r"line 3: tail offsets \[17, 40\) are out of range"):
        read_relation_file(path, cfg)
    split = read_relation_file(
        path, RelationDataConfig(folder="x", entities="offsets", on_invalid="skip")
    )
    ex = split.examples[0]
    assert (
        ex.line == 2
        and ex.clean[slice(*ex.head)] == "aspirin"
        and ex.clean[slice(*ex.tail)] == "cox"
    )
    assert split.skipped == {"bad_offsets": 1}


def test_tsv_gz_with_custom_columns(tmp_path):
    path = tmp_path / "dev.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("id\tsent\trel\n1\t@CHEMICAL$ blocks @GENE$\tCPR:4\n")
    cfg = RelationDataConfig(folder="x", entities="placeholders", text_col="sent", label_col="rel")
    split = read_relation_file(path, cfg)
    assert split.examples[0].label == "CPR:4" and split.examples[0].line == 2
    with pytest.raises(DataFormatError, match="no column 'text'"):
        read_relation_file(path, RelationDataConfig(folder="x", text_col="text"))


# ------------------------------------------------------------------------ labels, splits


def test_fixture_folder_and_label_vocab():
    data = load_relation_data(RelationDataConfig(folder=str(FIXTURE)))
    assert data.vocab.labels == ("AGONIST", "INHIBITOR", "SUBSTRATE")
    assert len(data.train) == 30 and len(data.dev) == 12 and len(data.test) == 12
    assert data.info()["label_counts"]["train"] == {"AGONIST": 10, "INHIBITOR": 10, "SUBSTRATE": 10}


def test_negative_label_is_in_vocab_first(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "<< a >> [[ b ]]", "label": "X"}])
    vocab = build_label_vocab(read_relation_file(path, MARKERS), negative_label="false")
    assert vocab.labels == ("false", "X") and vocab.negative_label == "false"


def test_unknown_dev_label_raises_or_is_counted(tmp_path):
    train = read_relation_file(
        write_jsonl(tmp_path / "train.jsonl", [{"text": "<< a >> [[ b ]]", "label": "X"}]), MARKERS
    )
    dev = read_relation_file(
        write_jsonl(
            tmp_path / "dev.jsonl",
            [{"text": "<< a >> [[ b ]]", "label": "X"}, {"text": "<< a >> [[ b ]]", "label": "Z"}],
        ),
        MARKERS,
    )
    vocab = build_label_vocab(train)
    with pytest.raises(DataFormatError, match=r"dev.jsonl line 2: the label 'Z' does not occur"):
        check_labels(dev, vocab, "raise")
    kept = check_labels(dev, vocab, "skip")
    assert len(kept) == 1 and kept.skipped == {"unknown_label": 1}


def test_missing_files_and_bad_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="train file"):
        relation_files(
            RelationDataConfig(train="no.txt", dev="d", test="t", data_root=str(tmp_path))
        )
    with pytest.raises(ConfigError, match="data.folder"):
        RelationDataConfig()
    with pytest.raises(ConfigError):
        RelationDataConfig(folder="x", head_markers=("<<", ">>"), tail_markers=("<<", "]]"))


# ------------------------------------------------------------------------------- loader


def test_loader_pads_and_orders_by_seed_and_epoch():
    ids = [[2, 5, 6, 3], [2, 7, 3], [2, 8, 9, 10, 3]]
    loader = RelationLoader(
        ids, [1, 1, 1], [2, 1, 3], [0, 1, 2], batch_size=2, shuffle=True, seed=3
    )
    assert loader.num_batches(0) == 2
    np.testing.assert_array_equal(
        loader.order(1),
        RelationLoader(ids, [1] * 3, [1] * 3, None, batch_size=2, shuffle=True, seed=3).order(1),
    )
    batches = list(loader.iter_epoch(0))
    first = batches[0]
    assert first.input_ids.shape[0] == 2 and first.attention_mask.sum() == sum(
        len(ids[i]) for i in first.index
    )
    assert len(list(loader.iter_epoch(0, start=1))) == 1
    assert sorted(np.concatenate([b.index.numpy() for b in batches])) == [0, 1, 2]
    assert first.to("cpu").num_graphs == 2
