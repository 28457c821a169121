"""``abspose pretrain``: supervised pretraining of each component on synthetic data."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help
from training.commands._stage import add_common, finish, out_dir, resolve


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain the model on synthetic data",
                       description=plain_help(__doc__))
    p.add_argument("--out", type=Path, help="run folder (created)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    p.add_argument("--from", dest="init", type=Path, metavar="CKPT",
                   help="start from this checkpoint instead of random weights")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.stages import run_to_end
    from training.stages.pretrain import pretrain_iter

    cfg = resolve(args, "pretrain")
    it = pretrain_iter(cfg, out_dir(args, "pretrain"), init=args.init,
                       resume=args.resume is not None)
    return finish(run_to_end(it, "pretrain", not args.no_progress), "pretrain")
