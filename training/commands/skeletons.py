"""``abspose skeletons``: list a skeleton's keypoints and layouts, draw its skeleton images.

Useful to check a custom skeleton YAML before training with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "skeletons",
        help="show a skeleton's keypoints and channel layouts; draw its skeleton images",
        description=plain_help(__doc__),
    )
    p.add_argument("skeleton", nargs="*", default=["human", "quadruped"],
                   help="built-in name (human, quadruped) or a skeleton YAML file "
                        "(default: both built-ins)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder to write one PNG per skeleton and layout (rest pose)")
    p.add_argument("--size", type=int, default=256, help="picture size in pixels")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.skeleton import load_skeleton

    for source in args.skeleton:
        sk = load_skeleton(source)
        print(f"{sk.name}: {sk.num_keypoints} keypoints, {len(sk.edges)} edges, "
              f"{len(sk.left_right)} left/right pairs")
        print("  keypoints: " + ", ".join(sk.keypoints))
        for layout in sk.channel_layouts:
            chans = ", ".join(f"{c.name} ({len(c.edges)})" for c in sk.channels(layout))
            print(f"  {layout}: {chans}")
        if args.out is not None:
            for path in write_layout_pictures(sk, args.out, args.size):
                print(f"  wrote {path}")
    return 0


def write_layout_pictures(skeleton, out: Path, size: int) -> list[Path]:
    """One PNG per layout: the rest pose seen slightly from the side, channel colours."""
    import math

    import torch

    from core.camera import PerspectiveCamera, euler_to_matrix, forward_kinematics
    from core.io import write_png
    from core.skeleton_image import render_skeleton_image, skeleton_image_to_rgb

    j = skeleton.num_keypoints
    rest, _ = forward_kinematics(skeleton, torch.eye(3).repeat(1, j, 1, 1))
    span = rest[0].amax(0) - rest[0].amin(0)
    yaw = 25.0 if span[0] >= span[2] else 70.0  # long bodies (animals) from the side
    rot = torch.eye(3).repeat(1, j, 1, 1)
    rot[:, 0] = euler_to_matrix(torch.tensor([[0.0, math.radians(yaw), 0.0]]))
    pos, _ = forward_kinematics(skeleton, rot)
    centre = (pos.amax(1) + pos.amin(1)) / 2
    extent = (pos.amax(1) - pos.amin(1)).max().item()
    cam = PerspectiveCamera((size, size))
    depth = 1.6 * extent * cam.focal / size  # fills about 60% of the picture
    pts = pos - centre[:, None] + torch.tensor([0.0, 0.0, depth])
    kp = cam.project_normalized(pts)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for layout in skeleton.channel_layouts:
        img = render_skeleton_image(kp, skeleton, layout, (size, size))
        rgb = skeleton_image_to_rgb(img[0], skeleton.channel_colors(layout))
        written.append(write_png(out / f"{skeleton.name}_{layout}.png", rgb))
    return written
