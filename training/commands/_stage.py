"""Arguments and running shared by ``abspose pretrain``, ``train`` and ``refine``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_common(p: argparse.ArgumentParser, default_config: str = "cpu") -> None:
    p.add_argument("--config", default=default_config,
                   help="preset (tiny, cpu, gpu) or YAML file (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=500 (repeatable)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N, mps "
                   "(default: the config's, normally auto)")
    p.add_argument("--steps", type=int, default=None, help="number of steps of this stage")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def resolve(args: argparse.Namespace, stage: str):
    """The config of a stage command, with --steps and --device applied."""
    from training.config import load_config

    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"{stage}.steps={args.steps}")
    source = args.config
    resume = getattr(args, "resume", None)
    if isinstance(resume, Path) and (resume / "config.yaml").exists():
        source = resume / "config.yaml"  # a resumed run keeps its own configuration
    cfg = load_config(source, overrides)
    if args.device is not None:
        cfg.device = args.device
    return cfg


def out_dir(args: argparse.Namespace, stage: str) -> Path:
    if args.resume is not None:
        return Path(args.resume)
    if args.out is None:
        from core.errors import InputError

        raise InputError("give --out RUN_DIR for a new run, or --resume RUN_DIR")
    return Path(args.out)


def finish(last, stage: str) -> int:
    if last is None or last.checkpoint is None:
        print(f"{stage}: no checkpoint written")
        return 1
    state = "finished" if last.step >= last.total else "stopped early"
    print(f"{stage} {state} at step {last.step}/{last.total}; checkpoint: {last.checkpoint}")
    return 0
