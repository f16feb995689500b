"""The bad-input table (issue 11): one case a row, through the real public entry points.

Each row builds a small input under ``tmp_path`` and returns a callable that feeds it to
molgraphpt. A row with an ``error`` must raise exactly that exception class (not a subclass) with
a message containing every ``needle``: the offending value, its source (file name and ``line N``
as an editor counts lines, header = line 1) and a word of the fix. A row whose ``error`` is None
must be accepted, and its ``check`` (if any) holds on the returned value.

:func:`run_case` is the single judge; ``benchmarks/robustness/`` imports it to count the rows
that pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from molgraphpt.data.tables import DataFileNotFoundError

# Imported here, not in the row: its first import (torch_geometric, ~3 s) is not a row's work.
from molgraphpt.data.text import load_pair_dataset
from molgraphpt.errors import (
    CheckpointError,
    ConfigError,
    DataFormatError,
    IntegrityError,
    InvalidSmilesError,
    UnknownNameError,
)

Trigger = Callable[[], Any]


@dataclass(frozen=True)
class BadInput:
    """One row of the table.

    Attributes:
        id: Test id.
        make: ``make(tmp_path)`` writes the input and returns a callable that triggers the
            behaviour.
        error: The exact exception class expected, or None when the input must be accepted.
        needles: Substrings the error message must contain (value, file, ``line N``, fix word).
        check: For accepted rows, a predicate on the value the callable returned.
    """

    id: str
    make: Callable[[Path], Trigger]
    error: type[BaseException] | None
    needles: tuple[str, ...] = ()
    check: Callable[[Any], bool] | None = None


def _case_of(item: Any) -> BadInput:
    return item.values[0] if hasattr(item, "values") else item


def run_case(case: Any, tmp_path: Path) -> tuple[bool, str]:
    """Run one row (a :class:`BadInput` or a ``pytest.param`` of one); ``(passed, detail)``.

    The detail quotes the message when a check fails. An xfail row counts as not passed.
    """
    case = _case_of(case)
    tmp_path.mkdir(parents=True, exist_ok=True)
    trigger = case.make(tmp_path)
    try:
        value = trigger()
    except Exception as err:  # noqa: BLE001 - the table judges every exception
        message = str(err)
        if case.error is None:
            return False, f"expected acceptance, got {type(err).__name__}: {message}"
        if type(err) is not case.error:
            return False, (
                f"expected exactly {case.error.__name__}, got {type(err).__name__}: {message}"
            )
        missing = [n for n in case.needles if n not in message]
        if missing:
            return False, f"message lacks {missing}: {message}"
        return True, f"{type(err).__name__}: {message}"
    if case.error is not None:
        return False, f"expected {case.error.__name__}, but the input was accepted: {value!r}"
    if case.check is not None and not case.check(value):
        return False, f"accepted, but the check failed on {value!r}"
    return True, "accepted"


# ----------------------------------------------------------------------------------- helpers


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_bytes(data.encode("utf-8"))
    return path


def _featurize(smiles: str, *, name: str = "mols.csv") -> Callable[[Path], Trigger]:
    """A CSV ``smiles,id`` whose 2nd data row (file line 3) holds ``smiles``, run by featurize.

    The CSV cell is quoted so that commas or quotes in ``smiles`` stay in the cell.
    """
    cell = '"' + smiles.replace('"', '""') + '"'

    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.data.featurize import featurize_file

        path = _write(tmp_path / name, f"smiles,id\nCCO,a\n{cell},b\nCC,c\n")
        return lambda: featurize_file(path, tmp_path / "store", smiles_col="smiles")

    return make


def _featurize_bytes(data: bytes, *, name: str = "mols.csv") -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.data.featurize import featurize_file

        path = _write(tmp_path / name, data)
        return lambda: featurize_file(path, tmp_path / "store")

    return make


def _stored(result: Any) -> list[str]:
    store, _report = result
    return list(store.all_smiles())


def _num_molecules(n: int) -> Callable[[Any], bool]:
    return lambda result: len(result[0]) == n


def _load_csv(
    text: str | bytes,
    *,
    name: str = "table.csv",
    smiles_col: str | None = "smiles",
    targets: Sequence[str] | None = ("y",),
    task_type: str = "classification",
) -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.data.datasets import load_csv

        path = _write(tmp_path / name, text)
        return lambda: load_csv(
            path,
            smiles_col=smiles_col,
            targets=targets,
            task_type=task_type,
            cache_dir=tmp_path / "cache",
            split="random",
        )

    return make


def _missing_table(tmp_path: Path) -> Trigger:
    from molgraphpt.data.datasets import load_csv

    path = tmp_path / "no_such_table.csv"
    return lambda: load_csv(path, targets=("y",), cache_dir=tmp_path / "cache", split="random")


def _pairs(text: str, *, name: str = "pairs.csv") -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        path = _write(tmp_path / name, text)
        return lambda: load_pair_dataset(
            [str(path)], cache_dir=tmp_path / "cache", on_invalid="raise"
        )

    return make


_LONG_TEXT = "The molecule is a very long description. " * 2_000  # ~82,000 characters


def _long_text_kept(pairs: Any) -> bool:
    return len(pairs) == 2 and max(len(t) for t in pairs.texts) == len(_LONG_TEXT.strip())


def _finetune_config(
    yaml_text: str | None, overrides: Sequence[str] = (), *, name: str = "finetune.yaml"
) -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.config.loading import load_config
        from molgraphpt.config.schema import FinetuneConfig

        path = None if yaml_text is None else _write(tmp_path / name, yaml_text)
        return lambda: load_config(FinetuneConfig, path, list(overrides))

    return make


def _pretrain(yaml_text: str, *, name: str = "pretrain.yaml") -> Callable[[Path], Trigger]:
    """``molgraphpt pretrain CONFIG``: load the config, then start the run.

    ``run_pretraining`` checks the objectives' options first, before any corpus is read.
    """

    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.config.schema import load_pretrain_config
        from molgraphpt.recipes.pretrain import run_pretraining

        path = _write(tmp_path / name, yaml_text)
        run_dir = f"run_dir={tmp_path / 'run'}"
        return lambda: run_pretraining(load_pretrain_config(path, [run_dir]))

    return make


def _tiny_checkpoint(directory: Path) -> Path:
    import torch

    from molgraphpt.models import GraphEncoderConfig
    from molgraphpt.models.graph_checkpoint import PretrainedEncoderConfig, PretrainedGraphEncoder

    torch.manual_seed(0)
    graph = GraphEncoderConfig(hidden_dim=8, num_layers=1, dropout=0.0)
    model = PretrainedGraphEncoder(PretrainedEncoderConfig(graph, ("attr_mask",)))
    return Path(model.save_pretrained(directory))


def _checkpoint(damage: Callable[[Path], None]) -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        import molgraphpt

        directory = _tiny_checkpoint(tmp_path / "ckpt")
        damage(directory)
        return lambda: molgraphpt.load(directory)

    return make


def _truncate(directory: Path) -> None:
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])


def _flip_byte(directory: Path) -> None:
    weights = directory / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # inside the tensor bytes: the header stays valid JSON
    weights.write_bytes(bytes(data))


def _newer_format(directory: Path) -> None:
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))


def _not_a_checkpoint(tmp_path: Path) -> Trigger:
    import molgraphpt

    directory = tmp_path / "my_results"
    _write(directory / "notes.txt", "not a model\n")
    return lambda: molgraphpt.load(directory)


def _graph_of(smiles: str) -> Callable[[Path], Trigger]:
    def make(tmp_path: Path) -> Trigger:
        from molgraphpt.chem import smiles_to_graph

        return lambda: smiles_to_graph(smiles)

    return make


# ------------------------------------------------------------------------------------- table

_FIX = "on_invalid"  # every invalid-SMILES message says how to skip such rows

CASES: list[Any] = [
    # --- SMILES in a CSV file, through `molgraphpt featurize` (featurize_file) -------------
    BadInput(
        "smiles-unparsable",
        _featurize("C1CC"),
        InvalidSmilesError,
        ("'C1CC'", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-empty-cell",
        _featurize(""),
        InvalidSmilesError,
        ("''", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-whitespace-only",
        _featurize("   "),
        InvalidSmilesError,
        ("'   '", "mols.csv", "line 3", _FIX),
    ),
    # Only dummy atoms (atomic number 0): no chemistry to learn from, refused. A dummy atom beside
    # real atoms (an attachment point, ``*C(=O)O``) is kept in OGB's "misc" atom type.
    BadInput(
        "smiles-only-dummy-atom",
        _featurize("*"),
        InvalidSmilesError,
        ("'*'", "only dummy atoms", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-only-dummy-atoms-bracket",
        _featurize("[*][*]"),
        InvalidSmilesError,
        ("'[*][*]'", "only dummy atoms", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-dummy-attachment-point", _featurize("*C(=O)O"), None, check=_num_molecules(3)
    ),
    BadInput(
        "smiles-over-length-limit",
        _featurize("C" * 3001),
        InvalidSmilesError,
        ("'CCCC", "3001", "3000", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-non-ascii-fullwidth",
        _featurize("ＣＣ"),
        InvalidSmilesError,
        ("ＣＣ", "U+FF23", "mols.csv", "line 3", _FIX),
    ),
    BadInput(
        "smiles-impossible-valence",
        _featurize("C(C)(C)(C)(C)C"),
        InvalidSmilesError,
        ("'C(C)(C)(C)(C)C'", "mols.csv", "line 3", _FIX),
    ),
    BadInput("smiles-one-atom", _featurize("C"), None, check=_num_molecules(3)),
    BadInput("smiles-salt-ions", _featurize("[Na+].[Cl-]"), None, check=_num_molecules(3)),
    BadInput(
        "smiles-aluminium-complex", _featurize("CC(=O)O[AlH3](O)O"), None, check=_num_molecules(3)
    ),
    BadInput("smiles-radical", _featurize("[CH3]"), None, check=_num_molecules(3)),
    BadInput("smiles-fragments", _featurize("CCO.O"), None, check=_num_molecules(3)),
    BadInput(
        "smiles-file-bom",
        _featurize_bytes(b"\xef\xbb\xbfsmiles,id\nCCO,a\nCC,b\n"),
        None,
        check=lambda r: _stored(r) == ["CCO", "CC"] and r[0].meta["smiles_col"] == "smiles",
    ),
    BadInput(
        "smiles-file-crlf",
        _featurize_bytes(b"smiles,id\r\nCCO,a\r\nCC,b\r\n"),
        None,
        check=lambda r: _stored(r) == ["CCO", "CC"],
    ),
    BadInput(
        "smiles-no-file-unparsable",
        _graph_of("C1CC"),
        InvalidSmilesError,
        ("'C1CC'", "ring", _FIX),
    ),
    # --- tables (load_csv) ----------------------------------------------------------------
    BadInput(
        "table-missing-column",
        _load_csv("smiles,y\nCCO,1\nCC,0\n", targets=("label",)),
        UnknownNameError,
        ("'label'", "table.csv", "smiles, y", "--targets"),
    ),
    BadInput(
        "table-missing-smiles-column",
        _load_csv("SMILE,y\nCCO,1\nCC,0\n", smiles_col="smiles"),
        UnknownNameError,
        ("'smiles'", "did you mean 'SMILE'", "table.csv", "--smiles-col"),
    ),
    BadInput(
        "table-non-numeric-label",
        _load_csv("smiles,y\nCCO,1\nCC,active\nCCC,0\n"),
        DataFormatError,
        ("'active'", "'y'", "table.csv", "line 3", "empty cell"),
    ),
    BadInput(
        "table-label-outside-0-1",
        _load_csv("smiles,y\nCCO,1\nCC,0.5\nCCC,0\n"),
        DataFormatError,
        ("0.5", "'y'", "table.csv", "line 3", "regression"),
    ),
    BadInput(
        "table-all-missing-task",
        _load_csv("smiles,y,z\nCCO,1,\nCC,0,\nCCC,0,\n", targets=("y", "z")),
        DataFormatError,
        ("'z'", "table.csv", "no label", "data.targets"),
    ),
    BadInput(
        "table-duplicate-molecules",
        _load_csv("smiles,y\nCCO,1\nOCC,0\nCCO,1\nCC,0\n"),
        None,
        check=lambda ds: ds.info["num_duplicates"] == 2 and len(ds.store) == 4,
    ),
    BadInput(
        "table-header-only",
        _load_csv("smiles,y\n"),
        DataFormatError,
        ("no data rows", "table.csv", "line 1", "add rows"),
    ),
    BadInput(
        "table-not-utf8",
        _load_csv(b"smiles,y\nCCO,1\nC\xe9,0\n"),
        DataFormatError,
        ("\\xe9", "table.csv", "line 3", "iconv"),
    ),
    BadInput(
        "table-file-missing",
        _missing_table,
        DataFileNotFoundError,
        ("no_such_table.csv", "does not exist", "absolute path"),
    ),
    # --- molecule-text pair files -------------------------------------------------------------
    BadInput(
        "pairs-empty-text",
        _pairs("smiles,text\nCCO,Ethanol is an alcohol.\nCC,\nCCC,Propane is a gas.\n"),
        DataFormatError,
        ("empty text", "pairs.csv", "line 3", "on_invalid"),
    ),
    BadInput(
        "pairs-over-long-text",
        _pairs(f"smiles,text\nCCO,Ethanol is an alcohol.\nCC,{_LONG_TEXT}\n"),
        None,
        check=_long_text_kept,
    ),
    # --- configs ------------------------------------------------------------------------------
    BadInput(
        "config-unknown-key-in-file",
        _finetune_config("train:\n  lrr: 0.01\n"),
        UnknownNameError,
        ("'lrr'", "did you mean 'lr'", "finetune.yaml", "line 2"),
    ),
    BadInput(
        "config-unknown-key-override",
        _finetune_config(None, ["train.lrr=0.01"]),
        UnknownNameError,
        ("'lrr'", "under 'train'", "did you mean 'lr'"),
    ),
    BadInput(
        "config-wrong-type",
        _finetune_config(None, ["train.lr=abc"]),
        ConfigError,
        ("'abc'", "'train.lr'", "a number"),
    ),
    BadInput(
        "config-mask-rate-one",
        _pretrain("objectives:\n  - name: attr_mask\n    mask_rate: 1.0\n"),
        ConfigError,
        ("1.0", "mask_rate", "(0, 1)"),
    ),
    BadInput(
        "config-negative-epochs",
        _finetune_config(None, ["train.epochs=-1"]),
        ConfigError,
        ("-1", "'train.epochs'", ">= 1"),
    ),
    BadInput(
        "config-repeated-seeds",
        _finetune_config(None, ["seeds=[0,0]"]),
        ConfigError,
        ("[0, 0]", "'seeds'", "distinct"),
    ),
    # --- checkpoints --------------------------------------------------------------------------
    BadInput(
        "checkpoint-truncated-weights",
        _checkpoint(_truncate),
        IntegrityError,
        ("model.safetensors", "damaged", "re-download", "verify=False"),
    ),
    BadInput(
        "checkpoint-byte-flipped-weights",
        _checkpoint(_flip_byte),
        IntegrityError,
        ("model.safetensors", "damaged", "re-download", "verify=False"),
    ),
    BadInput(
        "checkpoint-newer-format",
        _checkpoint(_newer_format),
        CheckpointError,
        ("format 99", "reads formats [1, 2]", "ckpt", "upgrade molgraphpt"),
    ),
    BadInput(
        "checkpoint-not-a-checkpoint",
        _not_a_checkpoint,
        CheckpointError,
        ("my_results", "is missing", "save_pretrained"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda item: _case_of(item).id)
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    passed, detail = run_case(case, tmp_path)
    assert passed, f"{case.id}: {detail}"


def test_table_ids_are_unique() -> None:
    ids = [_case_of(item).id for item in CASES]
    assert len(ids) == len(set(ids))
