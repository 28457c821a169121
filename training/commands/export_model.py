"""``abspose export-model``: the model alone from a training checkpoint.

A run's ``last.pt`` also holds the discriminators, the optimizers and the data streams'
state (several times the model's size). This writes the model alone, what ``predict``,
``refine --from``, ``evaluate`` and napari load; ``--half`` stores the weights as float16
(half the size, read back as float32: predictions move by about 1e-3 px)::

    abspose export-model runs/train/last.pt my_model.pt --half

``--renderer-from OTHER`` takes the image renderer's weights from another model (of the
same skeleton, layout, input size and renderer architecture), e.g. a new pose path
pretrained alone with the renderer of an earlier model::

    abspose export-model runs/pose/last.pt model.pt --renderer-from old.pt --half
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-model", help="write the model alone from a training checkpoint",
                       description=plain_help(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="a training checkpoint")
    p.add_argument("out", type=Path, metavar="OUT", help="the model file to write")
    p.add_argument("--half", action="store_true", help="store the weights as float16")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--renderer-from", type=Path, default=None, metavar="CKPT",
                   help="take the image renderer's weights from this model")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
    from core.errors import InputError

    if args.out.exists() and not args.overwrite:
        raise InputError(f"{args.out} exists; pass --overwrite to replace it")
    if args.out.resolve() == args.checkpoint.resolve():
        raise InputError("OUT is the checkpoint itself; write the model to another file")
    ckpt = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(ckpt)
    extra = {"trained_steps": int(ckpt.get("step", 0)), "trained_stage": str(ckpt.get("stage", ""))}
    if args.renderer_from is not None:
        donor = model_from_checkpoint(load_checkpoint(args.renderer_from))
        mine, theirs = model.config, donor.config
        same = (mine.renderer == theirs.renderer and mine.layout == theirs.layout
                and tuple(mine.input_size) == tuple(theirs.input_size)
                and model.skeleton.keypoints == donor.skeleton.keypoints)
        if not same:
            raise InputError(f"{args.renderer_from}: its renderer does not fit this model "
                             "(skeleton, layout, input size and renderer config must match)")
        model.renderer.load_state_dict(donor.renderer.state_dict())
        extra["renderer_from"] = str(args.renderer_from)
    save_checkpoint(args.out, model, extra, half=args.half)
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB, {'float16' if args.half else 'float32'} weights; "
          f"{model.skeleton.name}, {model.layout}, {tuple(model.input_size)})")
    return 0
