"""``abspose suggest``: the frames of a video worth correcting first, from its predictions.

Reads the tidy CSV that ``abspose predict`` wrote (``<video>_keypoints.csv`` next to
the video, or ``--predictions``) and prints the ``-n`` frames to fix first, each with
why it was picked: a suspected left/right flip, low confidence, keypoints that jump
away from the neighbouring frames, or a pose unlike the rest of the video. The frames
come from different kinds of poses, and frames already corrected by hand (the CSV's
``edited`` column) are left out. Open the video with ``abspose review VIDEO`` to fix
them; the Review tab lists the same frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suggest", help="the frames of a video worth correcting first",
                       description=plain_help(__doc__))
    p.add_argument("video", type=Path, metavar="VIDEO")
    p.add_argument("--predictions", type=Path, default=None, metavar="CSV",
                   help="the tidy keypoints CSV (default: <video>_keypoints.csv next to "
                        "the video, as abspose predict writes it)")
    p.add_argument("-n", type=int, default=10, help="how many frames (default 10)")
    p.add_argument("--json", type=Path, default=None, help="also write them as JSON")
    p.set_defaults(func=run)


def predictions_path(video: Path, given: Path | None) -> Path:
    """The predictions of ``video``: ``given``, else ``<stem>_keypoints.csv`` beside it."""
    from core.errors import InputError
    from core.export import FORMATS

    path = given or video.parent / f"{video.stem}{FORMATS['csv']}"
    if not path.is_file():
        how = "" if given else f"; run abspose predict {video} first, or pass --predictions"
        raise InputError(f"no predictions at {path}{how}")
    return path


def run(args: argparse.Namespace) -> int:
    import json

    from core.errors import InputError
    from core.export import read_edited, read_tidy_csv
    from core.io import atomic_write_text
    from core.suggest import suggest_frames

    if not args.video.exists():
        raise InputError(f"{args.video} does not exist")
    if args.n <= 0:
        raise InputError(f"-n must be positive, got {args.n}")
    path = predictions_path(args.video, args.predictions)
    track = read_tidy_csv(path)
    edited = read_edited(path, track)
    got = suggest_frames(track, args.n, edited=edited)
    done = int(edited.any(1).sum()) if edited is not None else 0
    print(f"{len(got)} frames of {len(track)} to correct first"
          + (f" ({done} already corrected are left out)" if done else "") + f", from {path}:")
    for s in got:
        print(f"  frame {s.frame:6d}  {s.reason}")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(
            [{"frame": s.frame, "reasons": list(s.reasons), "score": round(s.score, 4)}
             for s in got], indent=1))
        print(f"wrote {args.json}")
    return 0
