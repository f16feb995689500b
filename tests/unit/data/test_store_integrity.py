"""Stores carry checksums and pass a structural check: damaged bytes are never used silently."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

from molgraphpt.data.cache import Chunk, build_store, cached_store
from molgraphpt.data.featurize import featurize_file
from molgraphpt.data.loader import GraphLoader
from molgraphpt.data.store import GraphStore, GraphStoreWriter
from molgraphpt.errors import CacheError, ConfigError, DataFormatError, IntegrityError

SMILES = ["CCO", "c1ccccc1", "CC(=O)N"]  # 3, 6 and 4 atoms


def _chunks(smiles):
    yield Chunk(rows=np.arange(len(smiles)), smiles=list(smiles))


@pytest.fixture
def store(tmp_path) -> GraphStore:
    built, _ = build_store(_chunks(SMILES), tmp_path / "s")
    return built


def _poke(path, offset: int, value: int) -> None:
    """Overwrite one byte of ``path`` in place (a bit flip on disk)."""
    data = bytearray(path.read_bytes())
    data[offset] = value
    path.write_bytes(bytes(data))


def _meta(directory) -> dict:
    return json.loads((directory / "meta.json").read_text())


def test_meta_records_the_sha256_of_every_array_file(store):
    checksums = _meta(store.directory)["checksums"]
    assert set(checksums) == {f"{name}.bin" for name in _meta(store.directory)["arrays"]}
    for name, recorded in checksums.items():
        digest = hashlib.sha256((store.directory / name).read_bytes()).hexdigest()
        assert recorded == f"sha256:{digest}"
    assert not (store.directory / ".molgraphpt-temp").exists()  # the writer's marker is gone


def test_a_flipped_bond_atom_is_refused_never_an_edge_between_molecules(store):
    path = store.directory / "bond_atoms.bin"  # uint8 [num_bonds, 2], local atom indices
    assert store.meta["arrays"]["bond_atoms"]["dtype"] == "|u1"
    _poke(path, 1, 5)  # bond 0 of CCO (3 atoms) now ends at "atom 5": a benzene atom
    with pytest.raises(IntegrityError, match="bond_atoms.bin is damaged") as caught:
        GraphStore.open(store.directory)
    assert caught.value.path == path and caught.value.expected.startswith("sha256:")
    assert caught.value.expected != caught.value.actual
    with pytest.raises(CacheError, match=r"bond 0 joins atoms \[0, 5\] of molecule 0 "):
        GraphStore.open(store.directory, verify=False)  # the structural check always runs


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("atom_code", 200, "entry 0 is 200, but the table has"),
        ("bond_code", 200, "entry 0 is 200, but the table has"),
        ("atom_table", 250, "row 0 column 0 is 250, not below 119"),
        ("bond_table", 9, "row 0 column 0 is 9, not below 5"),
        ("atom_ptr", 9, "runs from 9 to 13, not from 0 to 13"),
    ],
)
def test_damaged_codes_tables_and_offsets_give_typed_errors(store, name, value, problem):
    _poke(store.directory / f"{name}.bin", 0, value)
    with pytest.raises(IntegrityError, match=f"{name}.bin"):
        GraphStore.open(store.directory)
    with pytest.raises(CacheError, match=problem):
        GraphStore.open(store.directory, verify=False)


def test_offsets_that_decrease_are_refused(store):
    path = store.directory / "bond_ptr.bin"
    ptr = np.fromfile(path, dtype=store.meta["arrays"]["bond_ptr"]["dtype"])
    ptr[1], ptr[2] = ptr[2], ptr[1]
    ptr.tofile(path)
    with pytest.raises(CacheError, match="decreases after molecule"):
        GraphStore.open(store.directory, verify=False)


def test_a_damaged_featurize_store_says_to_rerun_featurize(tmp_path):
    csv = tmp_path / "mols.csv"
    csv.write_text("smiles\n" + "\n".join(SMILES) + "\n")
    out = tmp_path / "store"
    featurize_file(csv, out)
    _poke(out / "bond_code.bin", 0, 7)
    with pytest.raises(IntegrityError) as caught:
        GraphStore.open(out)
    message = str(caught.value)
    assert f"rebuild it: molgraphpt featurize {csv} --out {out} --smiles-col smiles" in message
    assert "verify=False" in message


def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(tmp_path, caplog):
    first = cached_store("t", {"source_sha256": "x"}, _chunks(SMILES), cache_dir=tmp_path)
    expected = first.decode([0, 1, 2])
    _poke(first.directory / "atom_code.bin", 0, 1)  # in range: only the checksum notices
    del first
    with caplog.at_level(logging.WARNING, logger="molgraphpt.data.cache"):
        again = cached_store("t", {"source_sha256": "x"}, _chunks(SMILES), cache_dir=tmp_path)
    assert "is damaged" in caplog.text and "atom_code.bin" in caplog.text
    assert "rebuilding it from its source" in caplog.text
    got = again.decode([0, 1, 2])
    np.testing.assert_array_equal(got.x, expected.x)
    np.testing.assert_array_equal(got.edge_index, expected.edge_index)


def test_a_store_without_checksums_still_opens_with_an_info_line(store, caplog):
    meta = _meta(store.directory)
    del meta["checksums"]
    (store.directory / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.INFO, logger="molgraphpt.data.store"):
        reopened = GraphStore.open(store.directory)
    assert len(reopened) == 3
    assert "records no checksums" in caplog.text


def test_out_of_range_indices_are_a_typed_error(store):
    with pytest.raises(ConfigError, match=r"invalid value 3 for 'indices'.*positions in \[0, 3\)"):
        GraphLoader(store, np.array([0, 3]))
    with pytest.raises(DataFormatError, match="molecule index -1"):
        store.decode([-1])


def test_store_files_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        built, _ = build_store(_chunks(SMILES), tmp_path / "shared" / "s")
    finally:
        os.umask(old)
    assert stat.S_IMODE(built.directory.stat().st_mode) == 0o755
    for path in built.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _marked(path, pid: int, host: str | None = None) -> None:
    path.mkdir()
    marker = {"pid": pid, "host": host or socket.gethostname()}
    (path / ".molgraphpt-temp").write_text(json.dumps(marker))


def test_a_writer_removes_only_the_debris_of_dead_writers(tmp_path):
    # A real writer that dies without cleaning up (as a killed featurize run does).
    code = (
        "import os, sys; from molgraphpt.data.store import GraphStoreWriter; "
        "GraphStoreWriter(sys.argv[1]); os._exit(0)"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], check=True)
    assert killed.returncode == 0
    (debris,) = tmp_path.glob("a.tmp-*")
    dead = _dead_pid()
    (tmp_path / f"b.tmp-{dead}").mkdir()  # same name pattern, but no marker: not ours
    _marked(tmp_path / f"c.tmp-{os.getppid()}", os.getppid())  # its writer still runs
    _marked(tmp_path / f"d.tmp-{dead}", dead, host="another-node")  # shared disk, other host
    _marked(tmp_path / f"e.tmp-{dead}", dead + 1)  # the marker names another process
    _marked(tmp_path / f"f.tmp-{dead}x", dead)  # not the exact name pattern
    (tmp_path / f"g.tmp-{dead}").write_text("a file")
    writer = GraphStoreWriter(tmp_path / "new")
    writer.abort()
    assert not debris.exists()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [f"b.tmp-{dead}", f"c.tmp-{os.getppid()}", f"d.tmp-{dead}", f"e.tmp-{dead}"]
        + [f"f.tmp-{dead}x", f"g.tmp-{dead}"]
    )
