from __future__ import annotations

import csv
import functools
import gzip
import random
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from molgraphpt.chem.splits import (
    SPLIT_KINDS,
    SplitIndices,
    balanced_scaffold_split,
    group_by_scaffold,
    make_split,
    murcko_scaffold,
    random_scaffold_split,
    random_split,
    scaffold_split,
)
from molgraphpt.errors import ConfigError, DataFormatError, InvalidSmilesError, UnknownNameError

OGB_DIR = Path(__file__).resolve().parents[2] / "data" / "ogb"
OGB_NAMES = ["bbbp", "bace", "esol", "freesolv"]
SEEDED_KINDS = ["random", "random_scaffold", "balanced_scaffold"]
SCAFFOLD_KINDS = ["scaffold", "random_scaffold", "balanced_scaffold"]


@functools.cache
def ogb_smiles(name: str) -> tuple[str, ...]:
    with gzip.open(OGB_DIR / f"ogbg_mol{name}" / "mapping" / "mol.csv.gz", "rt", newline="") as f:
        return tuple(row["smiles"] for row in csv.DictReader(f))


def ogb_scaffold_split(name: str) -> dict[str, np.ndarray]:
    out = {}
    for part in ("train", "valid", "test"):
        path = OGB_DIR / f"ogbg_mol{name}" / "split" / "scaffold" / f"{part}.csv.gz"
        with gzip.open(path, "rt") as f:
            out[part] = np.array([int(line) for line in f if line.strip()], dtype=np.int64)
    return out


@functools.cache
def scaffolds_of(name: str) -> tuple[str, ...]:
    smiles = ogb_smiles(name)
    out = [""] * len(smiles)
    for scaffold, rows in group_by_scaffold(smiles).items():
        for row in rows:
            out[row] = scaffold
    return tuple(out)


# ------------------------------------------------------------------ OGB reproduction


@pytest.mark.parametrize("name", OGB_NAMES)
def test_scaffold_split_reproduces_ogb_files(name: str) -> None:
    split = scaffold_split(ogb_smiles(name))
    expected = ogb_scaffold_split(name)
    for part, indices in split.to_dict().items():
        np.testing.assert_array_equal(indices, expected[part], err_msg=f"{name} {part}")
    assert split.num_total == len(ogb_smiles(name))


def test_esol_mapping_has_trailing_whitespace() -> None:
    # The esol reproduction above depends on murcko_scaffold stripping it.
    assert any(s != s.strip() for s in ogb_smiles("esol"))


# ------------------------------------------------------------------ murcko_scaffold


def test_murcko_scaffold_basic() -> None:
    assert murcko_scaffold("Cc1cc(Oc2nccc(CCC)c2)ccc1") == "c1ccc(Oc2ccccn2)cc1"
    assert murcko_scaffold("CCO") == ""
    assert murcko_scaffold("  c1ccccc1CC \n") == "c1ccccc1"


def test_murcko_scaffold_chirality() -> None:
    smiles = "C1CC[C@H]2CCCC[C@@H]2C1"
    assert murcko_scaffold(smiles) == smiles
    assert murcko_scaffold(smiles, include_chirality=False) == "C1CCC2CCCCC2C1"


@pytest.mark.parametrize(
    ("smiles", "expected"),
    [
        ("CC(=O)O[AlH3](O)O", ""),
        ("Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1", "c1ccc([B-2]2(c3ccccc3)=NCCO2)cc1"),
    ],
)
def test_murcko_scaffold_hypervalent_fallback(smiles: str, expected: str) -> None:
    # The B row (HIV) keeps its hypervalent atom in the scaffold, which needs the non-strict
    # MurckoDecompose path; the Al row is acyclic.
    assert murcko_scaffold(smiles) == expected
    assert murcko_scaffold(smiles, include_chirality=False) == expected


def test_hypervalent_rows_do_not_break_scaffold_split() -> None:
    smiles = [
        "CC(=O)O[AlH3](O)O",
        "c1ccccc1C",
        "c1ccccc1CC",
        "Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1",
    ]
    groups = group_by_scaffold(smiles)
    assert groups["c1ccccc1"] == [1, 2]
    assert scaffold_split(smiles, (0.5, 0.25, 0.25)).num_total == 4


@pytest.mark.parametrize("bad", ["C1CC", "", "   ", "not a smiles"])
def test_murcko_scaffold_invalid(bad: str) -> None:
    with pytest.raises(InvalidSmilesError):
        murcko_scaffold(bad)


def test_invalid_smiles_error_names_row() -> None:
    with pytest.raises(InvalidSmilesError) as info:
        scaffold_split(["CCO", "c1ccccc1", "C1CC"])
    assert info.value.row == 2
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------ seeded splits


@pytest.mark.parametrize("kind", SEEDED_KINDS)
def test_seeded_split_is_deterministic_disjoint_and_covering(kind: str) -> None:
    smiles = ogb_smiles("esol")
    first = make_split(kind, smiles, (0.8, 0.1, 0.1), 3)
    again = make_split(kind, smiles, (0.8, 0.1, 0.1), 3)
    assert first == again
    everything = np.concatenate([first.train, first.valid, first.test])
    np.testing.assert_array_equal(np.sort(everything), np.arange(len(smiles)))
    for part in first.to_dict().values():
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0)


@pytest.mark.parametrize("kind", SEEDED_KINDS)
def test_different_seeds_give_different_splits(kind: str) -> None:
    smiles = ogb_smiles("esol")
    assert make_split(kind, smiles, seed=0) != make_split(kind, smiles, seed=1)


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_global_rngs_are_untouched(kind: str) -> None:
    np.random.seed(123)
    random.seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()
    make_split(kind, ogb_smiles("freesolv"), seed=5)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(np_state, after))
    assert random.getstate() == py_state


@pytest.mark.parametrize("kind", SCAFFOLD_KINDS)
@pytest.mark.parametrize("name", ["esol", "freesolv"])
def test_scaffold_purity(kind: str, name: str) -> None:
    split = make_split(kind, ogb_smiles(name), seed=7)
    scaffolds = scaffolds_of(name)
    sets = {part: {scaffolds[i] for i in idx} for part, idx in split.to_dict().items()}
    assert not sets["train"] & sets["test"]
    assert not sets["train"] & sets["valid"]
    assert not sets["valid"] & sets["test"]


def test_random_split_sizes() -> None:
    assert random_split(10, seed=0).sizes == (8, 1, 1)
    assert random_split(7, (0.5, 0.25, 0.25), seed=0).sizes == (3, 1, 3)
    assert random_split(0, seed=0).sizes == (0, 0, 0)
    assert random_split(5, (1.0, 0.0, 0.0), seed=0).sizes == (5, 0, 0)


def test_random_scaffold_split_caps_valid_and_test() -> None:
    smiles = ogb_smiles("freesolv")
    for seed in range(3):
        split = random_scaffold_split(smiles, seed=seed)
        assert split.sizes[1] <= len(smiles) // 10
        assert split.sizes[2] <= len(smiles) // 10


def _pretrain_gnns_random_scaffold(smiles, seed):
    # pretrain-gnns splitters.random_scaffold_split, reduced to indices.
    rng = np.random.RandomState(seed)
    scaffolds: dict[str, list[int]] = {}
    for i, smi in enumerate(smiles):
        scaffolds.setdefault(murcko_scaffold(smi), []).append(i)
    sets = rng.permutation(np.array(list(scaffolds.values()), dtype=object))
    n_valid, n_test = int(np.floor(0.1 * len(smiles))), int(np.floor(0.1 * len(smiles)))
    train, valid, test = [], [], []
    for scaffold_set in sets:
        if len(valid) + len(scaffold_set) <= n_valid:
            valid.extend(scaffold_set)
        elif len(test) + len(scaffold_set) <= n_test:
            test.extend(scaffold_set)
        else:
            train.extend(scaffold_set)
    return sorted(train), sorted(valid), sorted(test)


def test_random_scaffold_split_matches_pretrain_gnns_for_a_seed() -> None:
    smiles = ogb_smiles("freesolv")
    split = random_scaffold_split(smiles, seed=42)
    train, valid, test = _pretrain_gnns_random_scaffold(smiles, 42)
    assert (split.train.tolist(), split.valid.tolist(), split.test.tolist()) == (train, valid, test)


def test_balanced_scaffold_split_puts_big_groups_in_train() -> None:
    smiles = ogb_smiles("esol")
    split = balanced_scaffold_split(smiles, seed=0)
    groups = group_by_scaffold(smiles)
    half_valid = 0.1 * len(smiles) / 2
    big_rows = [i for rows in groups.values() if len(rows) > half_valid for i in rows]
    assert big_rows  # benzene and the acyclic group
    assert set(big_rows) <= set(split.train.tolist())


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "frac",
    [
        (0.8, 0.1),
        (0.8, 0.1, 0.05, 0.05),
        (0.8, 0.1, 0.2),
        (1.1, -0.05, -0.05),
        (float("nan"), 0.5, 0.5),
        (True, False, False),
        "abc",
        0.8,
    ],
)
def test_bad_fractions_raise_config_error(frac) -> None:
    for kind in SPLIT_KINDS:
        with pytest.raises(ConfigError, match="split.frac"):
            make_split(kind, ["CCO", "c1ccccc1"], frac, seed=0)


def test_fraction_tolerance() -> None:
    assert random_split(10, (0.7, 0.2, 0.1 + 5e-7), seed=0).num_total == 10


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_bad_seed_raises_config_error(seed) -> None:
    with pytest.raises(ConfigError, match="split.seed"):
        random_split(10, seed=seed)


def test_unknown_kind() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'scaffold'") as info:
        make_split("scafold", ["CCO"])  # type: ignore[arg-type]
    assert isinstance(info.value, KeyError)


# ------------------------------------------------------------------ SplitIndices


def test_split_indices_normalizes_and_freezes() -> None:
    split = SplitIndices.from_indices([3, 1], np.array([0], dtype=np.int32), [], num_total=5)
    assert split.train.tolist() == [1, 3]
    assert split.test.dtype == split.valid.dtype == np.int64
    assert split.sizes == (2, 1, 0)
    assert set(split.to_dict()) == {"train", "valid", "test"}
    with pytest.raises(ValueError):
        split.train[0] = 7
    assert split == SplitIndices(np.array([1, 3]), np.array([0]), np.array([], dtype=np.int64))


@pytest.mark.parametrize(
    ("train", "valid", "test", "message"),
    [
        ([0, 1], [1], [2], "share"),
        ([0, 0], [1], [2], "more than once"),
        ([-1], [1], [2], ">= 0"),
        ([0.5], [1], [2], "integers"),
        ([[0]], [1], [2], "1-D"),
    ],
)
def test_split_indices_rejects_bad_indices(train, valid, test, message) -> None:
    with pytest.raises(DataFormatError, match=message):
        SplitIndices.from_indices(train, valid, test)


def test_split_indices_checks_num_total() -> None:
    with pytest.raises(DataFormatError, match="only 3 rows"):
        SplitIndices.from_indices([0, 1], [2], [3], num_total=3)


def test_hypervalent_smiles_is_rejected_by_sanitization() -> None:
    # Documents why the fallback exists; if RDKit accepts it again the fallback is simply unused.
    mol = Chem.MolFromSmiles("Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1")
    if mol is not None:
        pytest.skip("this RDKit sanitizes hypervalent B")
    assert murcko_scaffold("Cc1ccc([B-2]2(c3ccc(C)cc3)=NCCO2)cc1")
