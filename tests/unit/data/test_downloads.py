"""Downloads are verified against pinned checksums; a local HTTP server on 127.0.0.1 serves them."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from molgraphpt.data.datasets import MOLECULENET, embedded_dataset_dir, find_ogb_folder
from molgraphpt.data.download import (
    content_sha256,
    download_moleculenet,
    download_ogb,
    fetch,
    pinned_checksums,
)
from molgraphpt.data.tables import DataFileNotFoundError
from molgraphpt.errors import IntegrityError

OGB_FIXTURES = Path(__file__).parents[2] / "data" / "ogb"
SHARED = Path(__file__).parents[4] / "shared" / "data"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """``(folder, base URL)`` of an HTTP server on 127.0.0.1 serving ``folder``."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_pins_match_the_release_files_in_the_repository():
    pins = pinned_checksums()
    assert pins["ogb"]["url"].startswith("https://") and pins["moleculenet"]["url"].startswith(
        "https://raw.githubusercontent.com/chemprop/chemprop/b83635bcddaddcdb91d453128edec9f2be0d25cf/"
    )
    for name, files in pins["ogb"]["datasets"].items():
        for rel, digest in files.items():
            assert content_sha256(OGB_FIXTURES / f"ogbg_mol{name}" / rel) == digest, (name, rel)
    embedded = embedded_dataset_dir()
    assert (
        content_sha256(embedded / "mapping" / "mol.csv.gz")
        == (pins["ogb"]["datasets"]["bbbp"]["mapping/mol.csv.gz"])
    )
    stems = {f.split(".")[0] for f in pins["moleculenet"]["files"]}
    assert stems == {s.local_files[0] for s in MOLECULENET.values()}


@pytest.mark.skipif(not (SHARED / "moleculenet").is_dir(), reason="needs ../shared/data")
def test_moleculenet_pins_match_the_shared_copies():
    for file, digest in pinned_checksums()["moleculenet"]["files"].items():
        local = SHARED / "moleculenet" / (file if file.endswith(".gz") else file + ".gz")
        assert content_sha256(local) == digest, file


def test_verbatim_and_recompressed_files_verify_alike(tmp_path):
    data = b"smiles,y\nCCO,1\n" * 100
    (tmp_path / "a.csv").write_bytes(data)
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(data, compresslevel=1))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    digests = {content_sha256(tmp_path / n) for n in ("a.csv", "a.csv.gz", "b.csv.gz")}
    assert digests == {hashlib.sha256(data).hexdigest()}


def test_good_download_is_verified_and_renamed_into_place(server, tmp_path):
    www, url = server
    (www / "BBBP.csv").write_bytes(b"smiles,p_np\nCCO,1\n")
    digest = hashlib.sha256(b"smiles,p_np\nCCO,1\n").hexdigest()
    root = tmp_path / "root"
    path = download_moleculenet(
        "BBBP.csv", root, url_template=url + "/{file}", checksums={"BBBP.csv": digest}
    )
    assert path == root / "moleculenet" / "BBBP.csv" and path.read_bytes().startswith(b"smiles")
    assert _leftovers(path.parent) == [] and not path.with_name("BBBP.csv.sha256").exists()


def test_tampered_download_raises_and_leaves_nothing(server, tmp_path):
    www, url = server
    (www / "BBBP.csv").write_bytes(b"smiles,p_np\nCCO,0\n")  # not chemprop's file
    root = tmp_path / "root"
    with pytest.raises(IntegrityError) as err:
        download_moleculenet("BBBP.csv", root, url_template=url + "/{file}")
    pinned = pinned_checksums()["moleculenet"]["files"]["BBBP.csv"]
    msg = str(err.value)
    assert err.value.expected == pinned and pinned in msg and err.value.actual in msg
    assert f"{url}/BBBP.csv" in msg and "Retry" in msg
    assert list((root / "moleculenet").iterdir()) == []  # no file, no temporary file


def test_unpinned_download_is_recorded_not_pretended(server, tmp_path, caplog):
    www, url = server
    (www / "x.csv").write_bytes(b"smiles\nCCO\n")
    target = tmp_path / "x.csv"
    with caplog.at_level(logging.WARNING, logger="molgraphpt"):
        fetch(url + "/x.csv", target, expected=None)
    digest = hashlib.sha256(b"smiles\nCCO\n").hexdigest()
    assert (tmp_path / "x.csv.sha256").read_text() == f"{digest}  x.csv\n"
    assert "could NOT be verified" in caplog.text and digest in caplog.text


def test_failed_download_is_a_clear_error(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="could not download .*copy the file to"):
        fetch((tmp_path / "nothing.csv").as_uri(), tmp_path / "out" / "x.csv", expected=None)
    assert list((tmp_path / "out").iterdir()) == []


def _ogb_zip(path: Path, tamper: bool = False) -> None:
    """Zip ``tests/data/ogb/ogbg_molbbbp`` as OGB lays out ``bbbp.zip`` (folder ``bbbp/``)."""
    source = OGB_FIXTURES / "ogbg_molbbbp"
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            data = file.read_bytes()
            if tamper and file.name == "train.csv.gz":
                data = gzip.compress(gzip.decompress(data).replace(b"\n1\n", b"\n2\n", 1))
            zf.writestr(f"bbbp/{file.relative_to(source)}", data)


def test_ogb_archive_is_verified_after_extraction(server, tmp_path):
    www, url = server
    _ogb_zip(www / "bbbp.zip")
    root = tmp_path / "root"
    folder = download_ogb("bbbp", root, url_template=url + "/{name}.zip")
    assert folder == root / "ogb" / "ogbg_molbbbp"
    assert (folder / "split" / "scaffold" / "test.csv.gz").is_file()
    assert find_ogb_folder("ogbg-molbbbp", root, download=True) == folder  # local: no download
    assert _leftovers(root / "ogb") == []


def test_ogb_archive_with_other_content_fails(server, tmp_path):
    www, url = server
    _ogb_zip(www / "bbbp.zip", tamper=True)
    root = tmp_path / "root"
    with pytest.raises(IntegrityError, match=r"split/scaffold/train\.csv\.gz in .*bbbp\.zip"):
        download_ogb("bbbp", root, url_template=url + "/{name}.zip")
    assert list((root / "ogb").iterdir()) == []  # no folder, no archive, no temporary files
    # an archive the user put there is used, and kept when it does not verify
    shutil.copy(www / "bbbp.zip", root / "ogb" / "bbbp.zip")
    with pytest.raises(IntegrityError, match="yours, kept"):
        download_ogb("bbbp", root, url_template="http://127.0.0.1:9/{name}.zip")
    assert [p.name for p in (root / "ogb").iterdir()] == ["bbbp.zip"]


def test_unpinned_ogb_dataset_is_recorded(server, tmp_path, caplog):
    www, url = server
    _ogb_zip(www / "hiv.zip")
    root = tmp_path / "root"
    with caplog.at_level(logging.WARNING, logger="molgraphpt"):
        folder = download_ogb("hiv", root, url_template=url + "/{name}.zip")
    assert (folder / "mapping" / "mol.csv.gz").is_file()
    assert (root / "ogb" / "hiv.zip.sha256").is_file() and "could NOT be verified" in caplog.text
