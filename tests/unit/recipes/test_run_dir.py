"""RunDirectory: one config per folder, --overwrite of our files only, no debris."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest

from molgraphpt.errors import RunDirError
from molgraphpt.recipes.run_dir import RUN_RECORD, RunDirectory, RunIdentity


@dataclass(frozen=True)
class _Cfg:
    """A stand-in config dataclass (what commit writes as config.yaml)."""

    epochs: int = 1


def _identity(epochs: int = 1) -> RunIdentity:
    return RunIdentity("finetune", {"train": {"epochs": epochs}}, ("run_dir",))


DATA = [{"path": "data.csv", "sha256": "a" * 64}]


def _finished_run(run_dir, epochs: int = 1) -> None:
    """A run of ``epochs`` that finished seed 0."""
    with RunDirectory(run_dir, _identity(epochs)) as claim:
        claim.check(resume=False, overwrite=False)
        claim.commit(_Cfg(epochs), data=DATA)
        claim.mark_started()
        (run_dir / "seed_0" / "model").mkdir(parents=True)
        (run_dir / "seed_0" / "result.json").write_text(
            json.dumps({"config_fingerprint": claim.fingerprint})
        )
        (run_dir / "results.json").write_text("{}")


def test_another_config_is_refused_naming_the_change_and_the_fix(tmp_path):
    run_dir = tmp_path / "run"
    _finished_run(run_dir, epochs=1)
    record = json.loads((run_dir / RUN_RECORD).read_text())
    assert record["config"] == {"train": {"epochs": 1}} and record["data"] == DATA
    assert record["ignored_keys"] == ["run_dir"] and record["command"]
    for resume in (False, True):
        with pytest.raises(RunDirError) as info:
            with RunDirectory(run_dir, _identity(3)) as claim:
                claim.check(resume=resume, overwrite=False)
        assert "train.epochs: 1 → 3" in str(info.value) and "--overwrite" in str(info.value)
    assert "epochs: 1" in (run_dir / "config.yaml").read_text()  # untouched
    assert not (run_dir / ".lock").exists()


def test_same_config_is_reused_but_other_data_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    _finished_run(run_dir)
    with RunDirectory(run_dir, _identity()) as claim:
        claim.check(resume=False, overwrite=False)
        claim.commit(_Cfg(), data=DATA)
        claim.check_result(json.loads((run_dir / "seed_0" / "result.json").read_text()), run_dir)
        with pytest.raises(RunDirError, match="another config"):
            claim.check_result({"config_fingerprint": "f" * 64}, run_dir / "seed_1")
    other = [{"path": "data.csv", "sha256": "b" * 64}]
    with pytest.raises(RunDirError, match=r"other input data:\n  data.csv: sha256 aaaaaaaaaaaa"):
        with RunDirectory(run_dir, _identity()) as claim:
            claim.check(resume=False, overwrite=False)
            claim.commit(_Cfg(), data=other)


def test_overwrite_removes_only_what_molgraphpt_wrote(tmp_path, caplog):
    run_dir = tmp_path / "run"
    _finished_run(run_dir, epochs=1)
    (run_dir / "notes.txt").write_text("mine")
    (run_dir / "seed_0" / "plot.png").write_bytes(b"mine too")
    with pytest.raises(RunDirError, match="resume and overwrite"):
        with RunDirectory(run_dir, _identity(3)) as claim:
            claim.check(resume=True, overwrite=True)
    with caplog.at_level(logging.INFO), RunDirectory(run_dir, _identity(3)) as claim:
        claim.check(resume=False, overwrite=True)
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "notes.txt", "seed_0"]
        assert [p.name for p in (run_dir / "seed_0").iterdir()] == ["plot.png"]
        claim.commit(_Cfg(3), data=DATA)
    assert "notes.txt" in caplog.text
    assert json.loads((run_dir / RUN_RECORD).read_text())["config"]["train"]["epochs"] == 3


def test_a_folder_without_results_is_reused_whatever_its_config(tmp_path):
    run_dir = tmp_path / "run"
    with RunDirectory(run_dir, _identity(1)) as claim:
        claim.check(resume=False, overwrite=False)
        claim.commit(_Cfg(1), data=DATA)
        claim.mark_started()  # and then nothing was trained
    with RunDirectory(run_dir, _identity(3)) as claim:
        claim.check(resume=False, overwrite=False)
        claim.commit(_Cfg(3), data=DATA)
    assert json.loads((run_dir / RUN_RECORD).read_text())["config"]["train"]["epochs"] == 3


def test_a_failure_before_training_removes_what_the_run_created(tmp_path):
    run_dir = tmp_path / "new" / "run"
    with pytest.raises(FileNotFoundError):
        with RunDirectory(run_dir, _identity()) as claim:
            claim.check(resume=False, overwrite=False)
            claim.commit(_Cfg(), data=DATA)
            (run_dir / "seed_0").mkdir()
            raise FileNotFoundError("the dataset moved")
    assert not (tmp_path / "new").exists()  # it created both levels, and removed both

    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "config.yaml").write_text("mine: 1\n")  # there before: never removed
    with pytest.raises(FileNotFoundError):
        with RunDirectory(kept, _identity()) as claim:
            claim.check(resume=False, overwrite=False)
            raise FileNotFoundError
    assert [p.name for p in kept.iterdir()] == ["config.yaml"]


def test_leftover_temporary_files_are_swept_when_the_lock_is_taken(tmp_path):
    run_dir = tmp_path / "run"
    ckpt = run_dir / "seed_0" / "checkpoints"
    ckpt.mkdir(parents=True)
    leftovers = [
        ckpt / ".last.pt.4242.x1y2.tmp",
        run_dir / ".results.json.tmp",
        run_dir / ".config.yaml.abcd.tmp",
        run_dir / "seed_0" / ".result.json.9.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"partial")
    (run_dir / "seed_0" / ".model.tmp-abc").mkdir()
    (run_dir / "user.tmp").write_text("not ours")
    with RunDirectory(run_dir, _identity()):
        pass
    assert not any(p.exists() for p in leftovers)
    assert not (run_dir / "seed_0" / ".model.tmp-abc").exists()
    assert (run_dir / "user.tmp").exists()


def test_a_folder_from_before_run_json_is_judged_by_its_config_yaml(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "seed_0").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("epochs: 1\n")
    (run_dir / "seed_0" / "result.json").write_text("{}")  # no fingerprint: written before

    def legacy(path):
        return _identity(int(path.read_text().split(":")[1]))

    with pytest.raises(RunDirError, match="train.epochs: 1 → 2"):
        with RunDirectory(run_dir, _identity(2), read_legacy=legacy) as claim:
            claim.check(resume=True, overwrite=False)
    with RunDirectory(run_dir, _identity(1), read_legacy=legacy) as claim:
        claim.check(resume=True, overwrite=False)
        claim.commit(_Cfg(1), data=DATA)
        claim.check_result({}, run_dir / "seed_0" / "result.json")  # adopted
    with RunDirectory(run_dir, _identity(1)) as claim:  # now through run.json
        claim.check(resume=False, overwrite=False)
        claim.check_result({}, run_dir / "seed_0" / "result.json")
    with pytest.raises(RunDirError, match="config is unknown"):
        with RunDirectory(run_dir, _identity(1)) as claim:
            (run_dir / RUN_RECORD).unlink()
            claim.check(resume=False, overwrite=False)
