"""``abspose train``: end-to-end, unsupervised training on unlabelled video."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help
from training.commands._stage import add_common, finish, out_dir, resolve


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train on unlabelled videos (after pretrain)",
                       description=plain_help(__doc__))
    p.add_argument("--videos", type=Path, nargs="+", required=True, metavar="PATH",
                   help="folders of videos (mp4/avi/mov/mkv) or image sequences, or files")
    p.add_argument("--from", dest="init", type=Path, metavar="CKPT",
                   help="the pretrained checkpoint to start from")
    p.add_argument("--out", type=Path, help="run folder (created)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a stopped run")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.stages import run_to_end
    from training.stages.train import train_iter

    cfg = resolve(args, "train")
    it = train_iter(cfg, args.videos, out_dir(args, "train"), init=args.init,
                    resume=args.resume is not None)
    return finish(run_to_end(it, "train", not args.no_progress), "train")
