"""The ``molgraphpt`` command line: thin wrappers that parse arguments and call library functions.

Every subcommand is also callable in-process as ``main(["featurize", ...])``; it returns an exit
code instead of calling ``sys.exit``. User errors (:class:`MolGraphPTError`, missing files) are
printed as one clear line, without a traceback, and give exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from molgraphpt._version import __version__
from molgraphpt.cli import commands
from molgraphpt.errors import MolGraphPTError

logger = logging.getLogger("molgraphpt")


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
    return parser


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("molgraphpt")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` when None); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.handler(args) or 0)
    except (MolGraphPTError, FileNotFoundError) as err:
        if args.verbose:
            raise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
