"""The ``molgraphpt`` command line: thin wrappers that parse arguments and call library functions.

Every subcommand is also callable in-process as ``main(["featurize", ...])``; it returns an exit
code instead of calling ``sys.exit``. User errors (:class:`MolGraphPTError`, and missing,
unreadable or misplaced files and folders) are printed as one clear line, without a traceback,
and give exit code 2; any other exception is a bug and keeps its traceback.

Importing this module (and building the parser) imports no torch, PyG or transformers: the
handlers import what they need, so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence

from molgraphpt._version import __version__
from molgraphpt.cli import commands
from molgraphpt.errors import MolGraphPTError

logger = logging.getLogger("molgraphpt")

# ``a.b.0.c=value``: a dotted config override, accepted anywhere after the subcommand.
_OVERRIDE = re.compile(r"[A-Za-z_][\w-]*(\.[\w-]+)*=.*", re.DOTALL)
# Operating-system errors a user causes (a wrong path, a folder without write access).
USER_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="molgraphpt",
        description="Pretrain, fine-tune and evaluate molecular graph (and text) encoders.",
    )
    parser.add_argument("--version", action="version", version=f"molgraphpt {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in commands.REGISTERED:
        register(sub)
    for command_parser in sub.choices.values():  # argument errors show the subcommand's usage
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; ``KEY=VALUE`` overrides may come anywhere after the subcommand.

    ``finetune --config X --run-dir R train.lr=5e-4`` works like ``finetune train.lr=5e-4
    --config X --run-dir R``: overrides that argparse left over (after options) are appended, in
    order, to ``args.overrides`` of subcommands that take overrides. Any other leftover argument,
    or an override that is not ``KEY=VALUE``, is an argument error (exit code 2).
    """
    args, extras = parser.parse_known_args(argv)
    takes_overrides = isinstance(getattr(args, "overrides", None), list)
    overrides, unknown = [], []
    for token in extras:
        is_override = takes_overrides and _OVERRIDE.fullmatch(token) is not None
        (overrides if is_override else unknown).append(token)
    command_parser = getattr(args, "command_parser", parser)
    if unknown:
        command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if takes_overrides:
        args.overrides = [*args.overrides, *overrides]
        malformed = [o for o in args.overrides if _OVERRIDE.fullmatch(o) is None]
        if malformed:
            command_parser.error(
                f"argument overrides: {malformed[0]!r} is not KEY=VALUE (a dotted config key, "
                "e.g. train.lr=3e-4 or objectives.0.weight=0.5)"
            )
    return args


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("molgraphpt")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def quiet_libraries() -> None:
    """Turn off the progress bars and info logs of transformers and huggingface_hub.

    Their bars ("Loading weights", downloads) and notices would clutter our output; our own
    progress bars (tqdm, in :mod:`molgraphpt`) stay. Environment variables set by the user win.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already imported (main() called in-process)
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import utils as hub_utils

        hub_utils.disable_progress_bars()
        hub_utils.logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` when None); returns the exit code."""
    parser = build_parser()
    args = parse_args(parser, argv)
    _setup_logging(args.verbose)
    if not args.verbose:
        quiet_libraries()
    try:
        return int(args.handler(args) or 0)
    except (MolGraphPTError, *USER_OS_ERRORS) as err:
        if args.verbose:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
