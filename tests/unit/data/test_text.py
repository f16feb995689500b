"""Molecule–text pairs: file readers, L+M-24 templates, the cached pair dataset and its loader."""

from __future__ import annotations

import ast
import gzip
import pickle
import shutil

import numpy as np
import pytest
import torch

from molgraphpt.chem.smiles import canonical_smiles
from molgraphpt.chem.smiles_tokenizer import SmilesTokenizer
from molgraphpt.data.batch import TextInputs
from molgraphpt.data.config import PairSourceConfig
from molgraphpt.data.text import (
    DEFAULT_TEMPLATES,
    PairLoader,
    TextFeatures,
    detect_format,
    indefinite_article,
    load_pair_dataset,
    load_pairs,
    phrases_to_text,
    read_lpm24_props,
    read_pairs,
    read_smiles,
)
from molgraphpt.errors import (
    ConfigError,
    DataFormatError,
    ShapeError,
    UnknownNameError,
)
from molgraphpt.seed import derive_seed
from tests.conftest import DATA_DIR

MOLTEXT = DATA_DIR / "moltext"
CHEBI = MOLTEXT / "chebi20_sample.tsv"
LPM = MOLTEXT / "lpm24_sample.txt.gz"
JSONL = MOLTEXT / "pairs_small.jsonl"
CSV = MOLTEXT / "pairs_small.csv"
#: lpm24_sample rows whose molecule is also in chebi20_sample (by canonical SMILES); the SMILES
#: strings of two of them differ from ChEBI's.
LPM_IN_CHEBI = [52, 97, 136]
#: lpm24_sample row of the calcium polyphosphate that fails RDKit's valence check.
LPM_VALENCE_ROW = 8


def _raw_lines(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return handle.read().split("\n")[:-1]


# ----------------------------------------------------------------------------- readers


def test_chebi20_tsv_reads_exactly_with_literal_quotes():
    table = read_pairs(CHEBI)
    lines = _raw_lines(CHEBI)
    assert lines[0] == "CID\tSMILES\tdescription"
    assert len(table) == table.num_rows == 150 == len(lines) - 1
    assert table.rows.tolist() == list(range(150))
    for (_, smiles, text), s, t in zip(
        (x.split("\t") for x in lines[1:]), table.smiles, table.texts
    ):
        assert (s, t) == (smiles, text)
    quoted = [t for t in table.texts if '"' in t]
    assert len(quoted) == 2
    assert '(also known as Teonanacatl or "magic mushrooms")' in table.texts[148]
    assert table.smiles[148] == "CN(C)CCC1=CNC2=C1C(=CC=C2)O"
    assert 'set of 4"-O-alkylated alpha-GalCer analogues' in table.texts[149]
    # columns matched case-insensitively; an unknown one lists the real ones
    assert read_pairs(CHEBI, smiles_col="smiles", text_col="DESCRIPTION").texts == table.texts
    with pytest.raises(UnknownNameError, match="description"):
        read_pairs(CHEBI, text_col="caption")


def test_jsonl_and_csv_pairs_skip_blank_rows():
    js = read_pairs(JSONL)  # keys "SMILES"/"caption" guessed; blank line and blank SMILES skipped
    assert js.num_rows == 7 and js.rows.tolist() == [0, 1, 2, 4, 6]
    assert js.smiles == ["CCO", "c1ccccc1", "C1CC1N(", "CC(=O)O", "c1ccc2[nH]ccc2c1"]
    assert js.texts[3] == 'Acetic acid, the "vinegar" acid.'
    cs = read_pairs(CSV)  # standard CSV quoting: commas and doubled quotes inside fields
    assert cs.num_rows == 5 and cs.rows.tolist() == [0, 1, 2, 4]
    assert cs.texts[1] == 'Chlorobenzene, an aryl chloride with a "Cl" atom.'
    assert cs.smiles == ["OCC", "Clc1ccccc1", "BrC(Br)Br", "CC(C)=O"]
    assert read_smiles(CSV) == ["OCC", "Clc1ccccc1", "BrC(Br)Br", "CC(C)=O", "CC(C)=O"]
    assert read_smiles(CHEBI)[148] == "CN(C)CCC1=CNC2=C1C(=CC=C2)O"


def test_format_detection_and_dispatch(tmp_path):
    assert [detect_format(p) for p in (CHEBI, LPM, JSONL, CSV)] == [
        "tsv",
        "lpm24_props",
        "jsonl",
        "csv",
    ]
    named = tmp_path / "train_props.txt.gz"
    shutil.copy(LPM, named)
    assert detect_format(named) == "lpm24_props"
    assert load_pairs(named).texts == load_pairs({"path": str(LPM)}).texts
    by_spec = load_pairs({"path": CHEBI, "format": "tsv", "text_col": "description"})
    assert by_spec.texts == read_pairs(CHEBI).texts
    smi = tmp_path / "mols.smi"
    smi.write_text("CCO ethanol\nc1ccccc1\n")
    assert detect_format(smi) == "smi" and read_smiles(smi) == ["CCO", "c1ccccc1"]
    with pytest.raises(DataFormatError, match="read_lpm24_props"):
        read_pairs(LPM)
    with pytest.raises(UnknownNameError, match="smiles_column"):
        load_pairs({"path": CSV, "smiles_column": "x"})
    with pytest.raises(UnknownNameError, match="lpm24_props"):
        load_pairs({"path": CSV, "format": "parquet"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pairs(tmp_path / "missing.tsv")
    # TSV fields are never unquoted: a text that starts with a quote stays as it is
    quoted = tmp_path / "quoted.tsv"
    quoted.write_text('SMILES\tdescription\nCCO\t"Spirits" contain it; a lone " too\n')
    assert read_pairs(quoted).texts == ['"Spirits" contain it; a lone " too']
    bad = tmp_path / "bad.tsv"
    bad.write_text("smiles\ttext\nCCO\tethanol\textra field\n")
    with pytest.raises(DataFormatError, match="line 2"):
        read_pairs(bad)
    broken = tmp_path / "broken_train_props.txt"
    broken.write_text("CCO\t{'a', \n")
    with pytest.raises(DataFormatError, match="line 1 of"):
        read_lpm24_props(broken)


# ----------------------------------------------------------------------- L+M-24 templates


def test_lpm24_templates_are_deterministic_varied_and_complete():
    table = read_lpm24_props(LPM, seed=0)
    assert len(table) == table.num_rows == 150
    assert read_lpm24_props(LPM, seed=0).texts == table.texts
    other = read_lpm24_props(LPM, seed=1).texts
    assert sum(a != b for a, b in zip(table.texts, other)) > 100  # the seed matters
    prefixes = [t.split("{")[0] for t in DEFAULT_TEMPLATES]  # longest matching prefix wins
    used = {
        max((len(p), i) for i, p in enumerate(prefixes) if text.startswith(p))[1]
        for text in table.texts
    }
    assert used == set(range(len(DEFAULT_TEMPLATES)))
    # every phrase of a row is in its text, underscores turned into spaces
    for line, text in zip(_raw_lines(LPM), table.texts):
        phrases = ast.literal_eval(line.split("\t")[1])
        for phrase in phrases:
            assert phrase.replace("_", " ") in text
        assert text.endswith(".") and text[0].isupper()
    # pinned: the text of a row must not change across versions (NumPy, Python hash seed)
    assert table.texts[0] == (
        "It has the following properties: Apoptosis, Barth syndrome, Tangier disease, "
        "Non-alcoholic fatty liver disease, Aging, Cholesterol translocation, Stabilizing "
        "cytochrome oxidase, Proton trap for oxidative phosphorylation, Stabilizing mitochondrial "
        "structure and Diabetic heart disease."
    )
    # the documented recipe: sorted phrases, shuffled and a template drawn from (seed, row)
    for row in (5, 52, 149):
        raw = ast.literal_eval(_raw_lines(LPM)[row].split("\t")[1])
        phrases = sorted(p.replace("_", " ") for p in raw)
        rng = np.random.default_rng(derive_seed(0, "lpm24", row))
        order = [phrases[i] for i in rng.permutation(len(phrases))]
        template = DEFAULT_TEMPLATES[int(rng.integers(len(DEFAULT_TEMPLATES)))]
        assert table.texts[row] == phrases_to_text(order, template)


def test_lpm24_text_does_not_depend_on_set_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("CCO\t{'antioxidant', 'fragrance', 'solvent', 'Odor_evaluation'}\n")
    b.write_text("CCO\t{'Odor_evaluation', 'solvent', 'fragrance', 'antioxidant'}\n")
    for seed in range(5):
        assert read_lpm24_props(a, seed=seed).texts == read_lpm24_props(b, seed=seed).texts
    texts = {read_lpm24_props(a, seed=s).texts[0] for s in range(30)}
    assert len(texts) > 10  # phrase order and template vary with the seed
    only = read_lpm24_props(a, templates=["The molecule is {a_list}."], max_phrases=2, seed=3)
    assert only.texts[0].startswith("The molecule is ") and only.texts[0].count(" and ") == 1
    with pytest.raises(ConfigError, match="templates"):
        read_lpm24_props(a, templates=["no slot here"])
    with pytest.raises(ConfigError, match="templates"):
        read_lpm24_props(a, templates=["{list} {other}"])


def test_indefinite_articles():
    assert phrases_to_text(["antioxidant", "fragrance"], "The molecule is {a_list}.") == (
        "The molecule is an antioxidant and a fragrance."
    )
    assert phrases_to_text(["a", "b", "c"], "{list}") == "a, b and c"
    cases = {
        "antioxidant": "an",
        "fragrance": "a",
        "urease inhibitor": "a",
        "uncoupler": "an",
        "European drug": "a",
        "hour": "an",
        "herbicide": "a",
        "NMDA antagonist": "an",
        "CDK inhibitor": "a",
        "SN2 reaction": "an",
        "HIV inhibitor": "an",
        "8-membered ring": "an",
        "18-crown-6": "an",
        "2-oxo acid": "a",
        "one-carbon donor": "a",
    }
    assert {p: indefinite_article(p) for p in cases} == cases


# ---------------------------------------------------------------------------- the dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("pair_cache")


@pytest.fixture(scope="module")
def dataset(cache):
    return load_pair_dataset([CHEBI, PairSourceConfig(str(LPM), format="auto")], cache_dir=cache)


def test_dataset_counts_alignment_and_sources(dataset):
    info = dataset.info
    assert info["num_rows"] == 300 and info["num_pairs"] == len(dataset) == 300
    assert info["num_invalid"] == info["num_excluded"] == info["num_blank"] == 0
    assert info["num_partial"] == 1  # the calcium polyphosphate, accepted with partial sanitization
    chebi, lpm = info["sources"]
    assert (chebi["row_start"], chebi["row_stop"], lpm["row_start"], lpm["row_stop"]) == (
        0,
        150,
        150,
        300,
    )
    assert chebi["format"] == "tsv" and lpm["format"] == "lpm24_props"
    assert len(chebi["sha256"]) == 64 and chebi["sha256"] != lpm["sha256"]
    assert dataset.store.rows.tolist() == list(range(300))
    assert dataset.source_ids.tolist() == [0] * 150 + [1] * 150
    expected = read_pairs(CHEBI).texts + read_lpm24_props(LPM).texts
    assert dataset.texts == expected
    assert dataset.smiles == dataset.store.all_smiles()


def test_exclusion_by_canonical_smiles(cache):
    ds = load_pair_dataset([LPM], exclude=[CHEBI], cache_dir=cache)
    info = ds.info
    assert info["num_excluded"] == 3 and info["num_pairs"] == 147 and info["num_rows"] == 150
    assert info["exclusion"]["num_molecules"] == 150
    assert info["exclusion"]["files"][0]["num_rows"] == 150
    lpm = read_lpm24_props(LPM)
    kept = set(ds.store.rows.tolist())
    assert kept == set(range(150)) - set(LPM_IN_CHEBI)
    chebi = {canonical_smiles(s) for s in read_pairs(CHEBI).smiles}
    assert {canonical_smiles(lpm.smiles[r]) for r in LPM_IN_CHEBI} <= chebi
    assert sum(lpm.smiles[r] in read_pairs(CHEBI).smiles for r in LPM_IN_CHEBI) == 1
    for k, row in enumerate(ds.store.rows):  # texts follow the kept rows
        assert ds.texts[k] == lpm.texts[row] and ds.smiles[k] == lpm.smiles[row]
    # an exclusion spec (format and column named) excludes the same molecules
    spec = PairSourceConfig(str(CHEBI), format="tsv", smiles_col="SMILES")
    again = load_pair_dataset([LPM], exclude=[spec], cache_dir=cache)
    assert again.store.rows.tolist() == ds.store.rows.tolist()
    with pytest.raises(ConfigError, match="not also sources"):
        load_pair_dataset([LPM, CHEBI], exclude=[CHEBI], cache_dir=cache)


def test_invalid_smiles_skipped_and_counted(tmp_path):
    ds = load_pair_dataset([JSONL, CSV], exclude=[], cache_dir=tmp_path)
    info = ds.info
    assert info["num_rows"] == 12 and info["num_blank"] == 3 and info["num_invalid"] == 1
    assert info["num_pairs"] == 8 == len(ds)
    js, cs = info["sources"]
    assert (js["num_invalid"], js["num_pairs"], cs["num_invalid"], cs["num_pairs"]) == (1, 4, 0, 4)
    assert ds.store.rows.tolist() == [0, 1, 4, 6, 7, 8, 9, 11]  # csv rows follow the 7 jsonl rows
    assert ds.smiles[2] == "CC(=O)O" and ds.texts[2] == 'Acetic acid, the "vinegar" acid.'
    assert ds.smiles[4] == "OCC" and ds.texts[7] == "Acetone is a ketone."
    # "OCC" (csv) is ethanol, "CCO" in the jsonl file: excluded by canonical SMILES
    only = load_pair_dataset([CSV], exclude=[JSONL], cache_dir=tmp_path)
    assert only.info["num_excluded"] == 1 and "OCC" not in only.smiles
    excl = only.info["exclusion"]["files"][0]
    assert (excl["num_rows"], excl["num_blank"], excl["num_unparsable"]) == (6, 1, 1)
    with pytest.raises(DataFormatError, match=r"line 5 of .*pairs_small\.csv has an empty text"):
        load_pair_dataset([CSV, JSONL], on_invalid="raise", cache_dir=tmp_path)
    strict = load_pair_dataset([LPM], unsanitizable="invalid", cache_dir=tmp_path)
    assert strict.info["num_invalid"] == 1 and LPM_VALENCE_ROW not in strict.store.rows.tolist()


def test_cache_reuse_and_key(tmp_path):
    first = load_pair_dataset([LPM], cache_dir=tmp_path)
    stamp = (first.store.directory / "meta.json").stat().st_mtime_ns
    again = load_pair_dataset([LPM], cache_dir=tmp_path)
    assert again.store.directory == first.store.directory and again.texts == first.texts
    assert (again.store.directory / "meta.json").stat().st_mtime_ns == stamp
    reseeded = load_pair_dataset([LPM], seed=1, cache_dir=tmp_path)
    assert reseeded.store.directory != first.store.directory
    assert reseeded.texts != first.texts and reseeded.smiles == first.smiles
    excluded = load_pair_dataset([LPM], exclude=[CHEBI], cache_dir=tmp_path)
    assert excluded.store.directory not in (first.store.directory, reseeded.store.directory)
    # counts recorded at build time come back on a cache hit
    hit = load_pair_dataset([LPM], exclude=[CHEBI], cache_dir=tmp_path)
    assert hit.info["num_excluded"] == 3 and hit.info["exclusion"]["num_molecules"] == 150


def test_option_errors(tmp_path):
    with pytest.raises(ConfigError, match="sources"):
        load_pair_dataset([], cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="sources"):
        load_pair_dataset(str(CSV), cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="on_invalid"):
        load_pair_dataset([CSV], on_invalid="drop", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="workers"):
        load_pair_dataset([CSV], workers=-1, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        load_pair_dataset([CSV], exclude=[tmp_path / "nope.csv"], cache_dir=tmp_path)


def test_dict_specs_are_refused_naming_the_typed_form(tmp_path):
    with pytest.raises(ConfigError, match="PairSourceConfig"):
        load_pair_dataset([{"path": str(CSV), "format": "csv"}], cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="PairSourceConfig"):
        load_pair_dataset([CSV], exclude=[{"path": str(JSONL)}], cache_dir=tmp_path)


def test_holdout(dataset):
    train, valid = dataset.holdout(0.1, seed=0)
    assert len(valid) == 30 and len(train) == 270
    assert np.intersect1d(train, valid).size == 0
    np.testing.assert_array_equal(np.union1d(train, valid), np.arange(300))
    assert (np.diff(train) > 0).all() and (np.diff(valid) > 0).all()
    np.testing.assert_array_equal(dataset.holdout(0.1, seed=0)[1], valid)
    assert not np.array_equal(dataset.holdout(0.1, seed=1)[1], valid)
    assert len(dataset.holdout(0.0)[1]) == 0
    with pytest.raises(ConfigError):
        dataset.holdout(1.0)


# ----------------------------------------------------------------------------- the loader


@pytest.fixture(scope="module")
def text_tokenizer(tiny_text_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_text_dir)


@pytest.fixture(scope="module")
def smiles_tok(dataset):
    return SmilesTokenizer.train(dataset.smiles, vocab_size=300)


def _loader(dataset, text_tokenizer, smiles_tok, **kw):
    args = dict(
        tokenizer=text_tokenizer,
        max_length=24,
        smiles_tokenizer=smiles_tok,
        smiles_max_length=512,
        batch_size=16,
        shuffle=True,
        seed=5,
    )
    return PairLoader(dataset, **{**args, **kw})


def test_loader_batches_are_aligned(dataset, text_tokenizer, smiles_tok):
    train, _ = dataset.holdout(0.2, seed=0)
    loader = _loader(dataset, text_tokenizer, smiles_tok, indices=train)
    seen = []
    for batch in loader.iter_epoch(0):
        index = batch.index.tolist()
        seen += index
        b = len(index)
        ids, mask = batch.text.tokens.input_ids, batch.text.tokens.attention_mask
        assert ids.dtype == mask.dtype == torch.long and ids.shape == mask.shape
        assert ids.shape[0] == b and ids.shape[1] <= 24
        texts = [dataset.texts[i] for i in index]
        assert batch.meta["texts"] == texts
        ref = text_tokenizer(texts, padding=True, truncation=True, max_length=24)
        assert ids.tolist() == ref["input_ids"]
        assert batch.graph.num_graphs == b
        sizes = torch.bincount(batch.graph.batch, minlength=b)
        assert sizes.tolist() == dataset.store.num_nodes[index].tolist()
        s_ids = batch.text.smiles.input_ids
        assert s_ids.shape == batch.text.smiles.attention_mask.shape and s_ids.shape[0] == b
        assert batch.text.pooled is None
        assert [smiles_tok.decode(row) for row in s_ids] == [dataset.smiles[i] for i in index]
    assert sorted(seen) == train.tolist()
    # the text of batch item i is the text of molecule index[i]: check one by its words
    first = next(iter(loader.iter_epoch(0)))
    i = int(first.index[0])
    words = text_tokenizer.decode(first.text.tokens.input_ids[0], skip_special_tokens=True)
    assert words.split()[:3] == dataset.texts[i].lower().split()[:3]


def test_loader_resume_and_workers(dataset, text_tokenizer, smiles_tok):
    loader = _loader(dataset, text_tokenizer, smiles_tok, batch_size=32)
    full = list(loader.iter_epoch(1))
    resumed = list(loader.iter_epoch(1, start=3))
    assert len(full) == loader.num_batches(1) == 10 and len(resumed) == 7
    for a, b in zip(full[3:], resumed):
        assert torch.equal(a.index, b.index)
        assert torch.equal(a.text.tokens.input_ids, b.text.tokens.input_ids)
        assert torch.equal(a.graph.x, b.graph.x)
    assert [b.index.tolist() for b in full] != [b.index.tolist() for b in loader.iter_epoch(2)]
    workers = _loader(dataset, text_tokenizer, smiles_tok, batch_size=32, num_workers=2)
    from_workers = list(workers.iter_epoch(1))
    assert len(from_workers) == len(full)
    for a, b in zip(full, from_workers):
        assert torch.equal(a.index, b.index)
        assert torch.equal(a.text.tokens.input_ids, b.text.tokens.input_ids)
        assert torch.equal(a.text.smiles.input_ids, b.text.smiles.input_ids)
        assert torch.equal(a.graph.edge_index, b.graph.edge_index)


def test_loader_pickles(dataset, text_tokenizer, smiles_tok):
    loader = _loader(dataset, text_tokenizer, smiles_tok, num_workers=2)
    clone = pickle.loads(pickle.dumps(loader))  # what a spawned worker receives
    index = np.array([7, 3, 299, 150])
    a, b = loader.collate(index), clone.collate(index)
    assert isinstance(a.text, TextInputs) and isinstance(b.text, TextInputs)
    assert a.text.carried == b.text.carried == ("tokens", "smiles")
    for part in ("tokens", "smiles"):
        for field in ("input_ids", "attention_mask"):
            assert torch.equal(
                getattr(getattr(a.text, part), field), getattr(getattr(b.text, part), field)
            )
    assert torch.equal(a.graph.x, b.graph.x) and b.meta["texts"][2] == dataset.texts[299]


def test_loader_serves_text_features_as_pooled_vectors(dataset, smiles_tok):
    positions = np.arange(0, 300, 2)
    values = np.random.default_rng(0).standard_normal((len(positions), 6)).astype(np.float16)
    features = TextFeatures(positions, values)
    loader = PairLoader(dataset, positions[:40], tokenizer=None, text_features=features)
    batch = next(iter(loader))
    assert batch.text.carried == ("pooled",)
    pooled = batch.pooled_text()
    assert pooled.dtype == torch.float32 and pooled.shape == (32, 6)
    assert torch.equal(pooled, torch.from_numpy(values[:32].astype(np.float32)))
    with pytest.raises(ShapeError, match="needs text tokens in batch.text, which carries only"):
        batch.text_tokens()
    both = PairLoader(
        dataset, positions[:8], tokenizer=None, smiles_tokenizer=smiles_tok, text_features=features
    ).collate(positions[[3, 1]])
    assert both.text.carried == ("smiles", "pooled") and both.text.tokens is None
    assert torch.equal(both.pooled_text(), torch.from_numpy(values[[3, 1]].astype(np.float32)))
    assert len(both.smiles_tokens()) == 2
    with pytest.raises(ConfigError, match="no vector for dataset positions"):
        PairLoader(dataset, np.array([0, 1]), tokenizer=None, text_features=features)


def test_loader_without_any_text(dataset):
    batch = PairLoader(dataset, tokenizer=None, batch_size=4).collate(np.array([0, 1]))
    assert batch.text is None and batch.meta["texts"] == [dataset.texts[0], dataset.texts[1]]


def test_loader_without_smiles_tokens(dataset, text_tokenizer):
    loader = PairLoader(dataset, tokenizer=text_tokenizer, batch_size=50)
    batch = next(iter(loader))
    assert batch.text.carried == ("tokens",)
    assert batch.text.smiles is None and batch.text.pooled is None
    assert batch.index.tolist() == list(range(50)) and batch.y is None
    assert batch.text.tokens.input_ids.shape[1] <= 128
    with pytest.raises(ConfigError, match="indices"):
        PairLoader(dataset, np.array([0, 300]), tokenizer=text_tokenizer)
