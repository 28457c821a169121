"""Subcommands of ``abspose``: one module each, listed here in the order ``--help`` shows.

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returning an exit code). Keep imports of
heavy modules inside ``func`` so ``abspose --help`` stays instant.

Other installed packages add commands through the ``abspose.commands`` entry point group
(name: the command, value: its module); the napari plugin adds ``review`` that way, so
no module of the command line names the plugin (it is loaded through its entry point).
"""

import functools
import re
from importlib.metadata import EntryPoint, entry_points

GROUP = "abspose.commands"


def plain_help(doc: str | None) -> str:
    """A command module's docstring as ``--help`` text: reStructuredText markup taken
    out (the leading command name the usage line already gives, double back-quotes,
    roles such as :func:`name`, the ``::`` before a literal block)."""
    text = (doc or "").strip()
    text = re.sub(r"^``abspose [\w-]+``:\s*", "", text)
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    text = text.replace("``", "")
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE)  # a literal block's marker
    return text[:1].upper() + text[1:]


BUILT_IN: tuple[str, ...] = (
    "skeletons",
    "synth",
    "pretrain",
    "train",
    "refine",
    "predict",
    "evaluate",
    "suggest",
    "export-model",
    "demo",
)


@functools.cache
def added_commands() -> dict[str, EntryPoint]:
    """The commands other installed packages add, by name (the first of a name wins)."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        if point.name not in BUILT_IN:
            found.setdefault(point.name, point)
    return found


COMMANDS: tuple[str, ...] = BUILT_IN + tuple(sorted(added_commands()))
