"""``abspose synth``: write synthetic clips with labels (mp4 + npz per subject and
activity, and a contact sheet), e.g. the labelled ``target`` benchmark::

    abspose synth --style target --out target_clips
    abspose synth --style target --out clips --subjects S1 S5 --activities walk sitting

The label format is documented in ``training/clips.py``; the same arguments
and seed give the same data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help

DEFAULT_ACTIVITIES = {"human": ["walk", "sitting", "phone", "pick_up"],
                      "quadruped": ["walk", "trot", "sit", "lie"]}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="write synthetic videos with 2D/3D labels (randomized or target style)",
        description=plain_help(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--style", choices=("target", "randomized"), default="target",
                   help="look of the clips (default: target)")
    p.add_argument("--out", type=Path, required=False,
                   help="folder to write <subject>_<activity>.mp4/.npz and contact_sheet.png")
    p.add_argument("--skeleton", default="human",
                   help="built-in name (human, quadruped) or a skeleton YAML")
    p.add_argument("--subjects", nargs="+", default=None,
                   help="subject names (default: the target test subjects S9 S11, or R1 R2 "
                        "for randomized)")
    p.add_argument("--activities", nargs="+", default=None,
                   help="activities (default: a few; 'all' for every everyday one; 'free' draws "
                        "any pose the joints allow)")
    p.add_argument("--frames", type=int, default=100, help="frames per clip (default 100)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate (default 25)")
    p.add_argument("--size", type=int, default=128, help="square frame size (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the motion (default 0)")
    p.add_argument("--device", default="cpu", help="torch device to render on")
    p.add_argument("--print-bvh-map", action="store_true",
                   help="print the default BVH -> HUMAN joint mapping (YAML) and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.print_bvh_map:
        from training.poses.bvh import DEFAULT_MAPPING

        print(DEFAULT_MAPPING, end="")
        return 0
    from tqdm import tqdm

    from core.errors import InputError
    from core.io import write_png
    from core.skeleton import load_skeleton
    from training.clips import clip_sheet, write_clip
    from training.poses import activity_names
    from training.synthetic.target import TARGET_TEST
    from training.synthetic.video import render_clip

    if args.out is None:
        raise InputError("--out is required (the folder to write the clips to)")
    if args.frames <= 0 or args.size <= 0 or args.fps <= 0:
        raise InputError("--frames, --size and --fps must be positive")
    skeleton = load_skeleton(args.skeleton)
    known = activity_names(skeleton, everyday=False)
    if args.activities == ["all"]:
        activities = activity_names(skeleton)
    else:
        activities = args.activities or [a for a in DEFAULT_ACTIVITIES.get(skeleton.name, [])
                                         if a in known] or known[:4]
    bad = [a for a in activities if a not in known]
    if bad:
        raise InputError(f"unknown activit{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)} "
                         f"for {skeleton.name}; known: {', '.join(known)}")
    subjects = args.subjects or (list(TARGET_TEST) if args.style == "target" else ["R1", "R2"])
    jobs = [(s, a) for s in subjects for a in activities]
    clips = []
    for subject, activity in tqdm(jobs, desc="synth", unit="clip"):
        arrays = render_clip(skeleton, args.style, subject, activity, args.frames, args.fps,
                             (args.size, args.size), args.seed, device=args.device)
        video, _ = write_clip(args.out / f"{subject}_{activity}", arrays)
        tqdm.write(f"wrote {video} and its .npz ({args.frames} frames)")
        clips.append(arrays)
    sheet = write_png(args.out / "contact_sheet.png", clip_sheet(clips))
    print(f"{len(jobs)} clip(s) in {args.out}; contact sheet {sheet}")
    return 0
