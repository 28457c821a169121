"""Predictions as napari layers for long videos: showing them, moving the frame slider,
a hand fix.

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/napari_keypoints.py
    python benchmarks/napari_keypoints.py --frames 1000 10000     # other lengths

For tracks of T frames of the 22-keypoint human (random keypoints; no video needed):

* show: :meth:`PoseState.show_track` (Points layer of T x 22 points, the skeleton
  layer, styles), first time and again in place (a re-prediction);
* step: one move of the frame slider (napari slices the layers, the skeleton of the
  new frame is drawn), median of 9;
* swap: Swap left/right on one frame (an edit: the points, their features, the
  borders, the skeleton).

The machine may be shared; compare rows of one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def random_track(t: int):
    from core.skeleton import HUMAN
    from core.track import Track

    rng = np.random.default_rng(0)
    j = HUMAN.num_keypoints
    k3d = rng.normal(0, 0.3, (t, j, 3)) + np.array([0.0, 0.0, 3.0])  # 3 m in front
    return Track(list(HUMAN.keypoints), rng.uniform(10, 600, (t, j, 2)),
                 rng.uniform(0, 1, (t, j)), k3d, fps=30.0, frame_size=(480, 640),
                 source="bench.mp4", skeleton=HUMAN)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()

    import napari

    from napari_abspose.widgets.state import PoseState

    print(f"{'frames':>8} {'points':>9} {'show s':>7} {'again s':>8} {'step ms':>8} "
          f"{'swap ms':>8}")
    for t in args.frames:
        track = random_track(t)
        viewer = napari.Viewer(show=False)
        try:
            state = PoseState(viewer)
            start = time.perf_counter()
            state.show_track(track)
            show = time.perf_counter() - start
            start = time.perf_counter()
            state.show_track(track)
            again = time.perf_counter() - start
            steps = []
            for k in range(9):
                start = time.perf_counter()
                viewer.dims.set_current_step(0, (t // 2 + 37 * k) % t)
                steps.append(time.perf_counter() - start)
            start = time.perf_counter()
            state.swap_left_right(t // 3)
            swap = time.perf_counter() - start
            print(f"{t:>8} {t * 22:>9} {show:>7.2f} {again:>8.2f} "
                  f"{1000 * statistics.median(steps):>8.1f} {1000 * swap:>8.1f}")
        finally:
            viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
