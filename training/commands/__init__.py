"""Subcommands of ``abspose``: one module each, listed here in the order ``--help`` shows.

A command module defines ``add_parser(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returning an exit code). Keep imports of
heavy modules inside ``func`` so ``abspose --help`` stays instant.
"""

COMMANDS: tuple[str, ...] = (
    "skeletons",
    "synth",
    "pretrain",
    "train",
    "refine",
    "predict",
    "evaluate",
    "export-model",
    "demo",
    "review",
)
