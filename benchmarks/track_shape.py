"""How a predicted skeleton sits in unlabelled footage: the figures docs/RESULTS.md quotes
for real video, read from the keypoints CSV ``abspose predict`` writes.

    python benchmarks/track_shape.py KEYPOINTS.csv [KEYPOINTS.csv ...] [--above Y]

Per file: mean confidence; the median over frames of the horizontal distance between the
wrists and between the ankles (pixels: near 0 while the subject holds the arms or legs
apart means the limbs were collapsed onto the body's axis); the median vertical distance
from the nose down to the lower ankle (how far down the body the skeleton reaches); and,
with ``--above Y``, the fraction of frames with a head keypoint (nose, eyes, ears) above
the image row Y (e.g. the band of on-screen graphics at the top of a video).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.export import read_tidy_csv

HEAD = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def shape(path: Path, above: float | None) -> dict[str, float]:
    track = read_tidy_csv(path)
    idx = {n: i for i, n in enumerate(track.keypoint_names)}
    kp = track.keypoints

    def x(name):
        return kp[:, idx[name], 0]

    def y(name):
        return kp[:, idx[name], 1]

    out = {
        "mean confidence": float(np.mean(track.confidence)),
        "wrist gap (px)": float(np.median(np.abs(x("left_wrist") - x("right_wrist")))),
        "ankle gap (px)": float(np.median(np.abs(x("left_ankle") - x("right_ankle")))),
        "nose to lower ankle (px)": float(np.median(
            np.maximum(y("left_ankle"), y("right_ankle")) - y("nose"))),
    }
    if above is not None:
        top = np.min(kp[:, [idx[n] for n in HEAD if n in idx], 1], axis=1)
        out[f"frames with a head keypoint above y={above:g}"] = float(np.mean(top < above))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", type=Path, nargs="+", help="keypoints CSV of abspose predict")
    ap.add_argument("--above", type=float, default=None, metavar="Y",
                    help="also count frames with a head keypoint above this image row")
    args = ap.parse_args(argv)
    for path in args.csv:
        figures = shape(path, args.above)
        print(f"{path}: " + "; ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
