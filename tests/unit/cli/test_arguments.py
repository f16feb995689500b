"""Argument parsing of the CLI: seeds checked at parse time, overrides anywhere, new flags."""

from __future__ import annotations

import pytest

from molgraphpt.cli import commands
from molgraphpt.cli.main import build_parser, parse_args


def _parse(*argv: str):
    return parse_args(build_parser(), list(argv))


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("0,0", "Seed 0 is listed more than once"),
        ("", "at least one seed"),
        ("-1", "from 0 to"),
        ("x", "'x' is not an integer"),
    ],
)
def test_bad_seeds_are_argument_errors(seeds, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse("finetune", "--seeds", seeds)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seeds" in err and message in err and "molgraphpt finetune" in err


def test_seeds_become_one_override():
    args = _parse("finetune", "--seeds", "2, 0")
    assert args.seeds == (2, 0)
    assert "seeds=[2, 0]" in commands.finetune_overrides(args)


@pytest.mark.parametrize("command", ["finetune", "pretrain"])
def test_overrides_after_options(command):
    args = _parse(command, "a.b=1", "--config", "X", "--run-dir", "runs/x", "train.lr=5e-4")
    assert args.overrides == ["a.b=1", "train.lr=5e-4"] and args.run_dir == "runs/x"
    args = _parse(command, "--config", "X", "--run-dir", "runs/x", "train.lr=5e-4", "x.0.y=[1]")
    assert args.overrides == ["train.lr=5e-4", "x.0.y=[1]"] and args.config == "X"


@pytest.mark.parametrize(
    "argv",
    [
        ["finetune", "--config", "X", "--bogus"],
        ["report", "runs/x", "train.lr=1"],  # report takes no overrides
    ],
)
def test_other_leftovers_are_still_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(*argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and f"molgraphpt {argv[0]}" in err


@pytest.mark.parametrize(
    "argv",
    [["finetune", "--run-dir", "r", "not-an-override"], ["pretrain", "train.lr=1", "=3"]],
)
def test_overrides_must_be_key_value(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(*argv)
    assert exit_.value.code == 2 and "is not KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["finetune", "pretrain"])
def test_overwrite_flag(command, capsys):
    assert _parse(command).overwrite is False
    assert _parse(command, "--overwrite").overwrite is True
    with pytest.raises(SystemExit):
        _parse(command, "--help")
    assert "only files molgraphpt wrote are removed" in " ".join(capsys.readouterr().out.split())


def test_report_subcommand():
    args = _parse("report", "runs/x", "--out", "r.md")
    assert args.handler is commands._report and args.run_dir == "runs/x" and args.out == "r.md"
    assert _parse("report", "runs/x").out is None
