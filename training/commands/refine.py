"""``abspose refine``: instance-specific refinement of a trained model on the target
video(s). Writes ``<video>.refined.pt`` next to the first video (or into --out).

With ``--labels CSV`` (the keypoints saved from the review dock after fixing some
frames) the frames corrected by hand also teach the model: an L2 term on their
corrected points, two of them in every step, beside the unsupervised objective."""

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
    p.add_argument("--labels", type=Path, default=None, metavar="CSV",
                   help="frames corrected by hand: the tidy keypoints CSV the review dock "
                        "saves (its edited points are learned as labels)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.stages import run_to_end
    from training.stages.refine import refine_iter

    it = refine_iter(args.videos, args.init, out=args.out, config=args.config,
                     steps=args.steps, lr=args.lr, device=args.device or "auto",
                     overrides=args.overrides, resume=args.resume, labels=args.labels)
    return finish(run_to_end(it, "refine", not args.no_progress), "refine")
