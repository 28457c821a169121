"""The ``abspose`` command line: ``abspose --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core._version import __version__
from core.errors import AbsPoseError, InputError
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
        if name not in added:
            importlib.import_module(f"training.commands.{name.replace('-', '_')}").add_parser(sub)
            continue
        try:
            module = added[name].load()
        except Exception as err:  # a broken package must not take the other commands down
            unavailable(sub, name, added[name].value, err)
            continue
        module.add_parser(sub)
    return parser


def unavailable(sub: argparse._SubParsersAction, name: str, where: str, err: Exception
                ) -> None:
    """A command another package adds whose module does not load: running it says why."""
    problem = (f"this command (from {where}) cannot be loaded: {type(err).__name__}: {err}; "
               "reinstall the package that adds it")
    p = sub.add_parser(name, help=f"unavailable: {problem}", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)

    def run(args: argparse.Namespace) -> int:
        raise InputError(problem)

    p.set_defaults(func=run)


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
