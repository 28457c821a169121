"""``abspose refine``: instance-specific refinement of a trained model on the target
video(s). Writes ``<video>.refined.pt`` next to the first video (or into --out)."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help
from training.commands._stage import add_common, finish


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("refine", help="refine a model on the video(s) of one subject",
                       description=plain_help(__doc__))
    p.add_argument("videos", type=Path, nargs="+", metavar="VIDEO")
    p.add_argument("--from", dest="init", type=Path, metavar="CKPT",
                   help="the trained checkpoint (default: the shipped model)")
    p.add_argument("--out", type=Path, help="run folder (default: next to the video)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.refine import refine_iter
    from training.stages import run_to_end

    it = refine_iter(args.videos, args.init, out=args.out, config=args.config,
                     steps=args.steps, lr=args.lr, device=args.device or "auto",
                     overrides=args.overrides, resume=args.resume)
    return finish(run_to_end(it, "refine", not args.no_progress), "refine")
