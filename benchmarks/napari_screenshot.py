"""The napari window of ``abspose review``, as a picture: docs/images/napari_review.png.

Renders a synthetic clip (target style, no real footage), opens it the way
``abspose review`` does, predicts with the shipped default model (or, when none is
installed, a tiny untrained model, which the picture's caption must then say), moves
to a frame, and grabs the whole window: video, keypoints and skeleton overlays, the
per-channel skeleton-image layers, the dock and the 3D view.

With ``--fix`` (docs/images/napari_fix.png): the loop of README's "predict, fix,
refine" instead: Suggest lists the frames worth fixing, the first one is shown, and its
worst keypoint is put where the clip's own labels say it is, as a person would drag it.

Needs a display; on a headless machine::

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/napari_screenshot.py [--fix]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_clip(folder: Path, frames: int, size: int) -> tuple[Path, dict]:
    from core.skeleton import HUMAN
    from training.clips import write_clip
    from training.synthetic.video import render_clip

    arrays = render_clip(HUMAN, "target", "S9", "walk", frames, 25.0, (size, size), 0)
    video, _ = write_clip(folder / "S9_walk", arrays)
    return Path(video), arrays


def fix_worst_point(dock, truth) -> tuple[int, str, float]:
    """Suggest, go to the first frame listed, move its worst point onto the label (the
    drag napari reports). Returns (frame, keypoint, pixels moved)."""
    import numpy as np
    from napari.layers.base._base_constants import ActionType

    got = dock.review.suggest()
    frame = got[0].frame
    points = dock.state.keypoints_layer()
    rows = np.flatnonzero(np.rint(points.data[:, 0]) == frame)
    names = list(points.features["keypoint"].iloc[rows])
    from core.skeleton import HUMAN

    true_yx = np.stack([truth[frame, HUMAN.index(n)][::-1] for n in names])
    off = np.linalg.norm(points.data[rows, 1:] - true_yx, axis=1)
    k = int(np.argmax(off))
    row = int(rows[k])
    points.data[row, 1:] = true_yx[k]
    points.events.data(value=points.data, action=ActionType.CHANGED, data_indices=(row,),
                       vertex_indices=((),))
    dock.state.go_to_frame(frame)
    return frame, names[k], float(off[k])


def model_checkpoint(folder: Path) -> tuple[Path, str]:
    """The default checkpoint, or a tiny untrained one; and a word on which."""
    from core.checkpoint import default_checkpoint_path, save_checkpoint

    default = default_checkpoint_path()
    if default.is_file():
        return default, "the shipped default model"
    import torch

    from core.models import AbsPoseModel, ModelConfig

    torch.manual_seed(0)
    return save_checkpoint(folder / "tiny.pt", AbsPoseModel(ModelConfig.tiny())), \
        "a tiny UNTRAINED model (no default model installed)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "napari_review.png")
    parser.add_argument("--frame", type=int, default=17)
    parser.add_argument("--size", type=int, default=384, help="clip frame size (square)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="model to predict with (default: the shipped default model)")
    parser.add_argument("--fix", action="store_true",
                        help="suggest frames and correct one (docs/images/napari_fix.png)")
    args = parser.parse_args()
    if args.fix and args.out == parser.get_default("out"):
        args.out = ROOT / "docs" / "images" / "napari_fix.png"

    import warnings

    import cv2
    from qtpy.QtWidgets import QApplication

    # napari's notice about its Qt5 backend would sit on top of the picture
    warnings.filterwarnings("ignore", message="napari support for the PyQt5 backend")

    from core.io import atomic_write_bytes
    from napari_abspose.widgets.dock import open_review

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video, arrays = make_clip(tmp, 40, args.size)
        checkpoint, which = model_checkpoint(tmp)
        if args.checkpoint is not None:
            checkpoint, which = args.checkpoint, str(args.checkpoint)
        viewer = open_review(video, checkpoint)
        viewer.window.show()
        app = QApplication.instance()
        app.processEvents()
        viewer.window.resize(1600, 1000)
        dock = viewer.window.dock_widgets["Pose estimation"]
        start = time.perf_counter()
        while dock.predict.worker is not None and time.perf_counter() - start < 300:
            app.processEvents()
            time.sleep(0.02)
        viewer.dims.set_current_step(0, args.frame)
        points = dock.state.keypoints_layer()
        viewer.layers.selection.active = points
        dock.review.slider.setValue(30)
        fixed = None
        if args.fix:
            dock.tabs.setCurrentIndex(dock._review_tab)
            fixed = fix_worst_point(dock, arrays["keypoints_2d"])
        start = time.perf_counter()
        while time.perf_counter() - start < 8:  # notifications fade out
            app.processEvents()
            time.sleep(0.03)
        for widget in app.allWidgets():  # toasts (napari's own notices) off the picture
            if type(widget).__name__ == "NapariQtNotification":
                widget.close()
        viewer.reset_view()
        app.processEvents()
        rgba = viewer.screenshot(canvas_only=False, flash=False)
        _, buf = cv2.imencode(".png", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR))
        atomic_write_bytes(args.out, buf.tobytes())
        print(f"wrote {args.out} ({rgba.shape[1]}x{rgba.shape[0]}), predictions by {which}")
        if fixed is not None:
            print(f"frame {fixed[0]}: {fixed[1]} moved {fixed[2]:.1f} px onto its label")
        viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
