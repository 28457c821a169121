"""The ``abspose`` command line: ``abspose --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core._version import __version__
from core.errors import AbsPoseError
from training.commands import COMMANDS, added_commands

log = logging.getLogger("abspose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abspose",
        description="Pose estimation learned from unlabelled video by analysis-by-synthesis.",
    )
    parser.add_argument("--version", action="version", version=f"abspose {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug messages)")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    added = added_commands()
    for name in COMMANDS:
        module = (added[name].load() if name in added
                  else importlib.import_module(f"training.commands.{name.replace('-', '_')}"))
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except AbsPoseError as err:
        if args.debug:
            raise
        print(f"abspose {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"abspose {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
