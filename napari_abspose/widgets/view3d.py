"""The uplifted 3D pose of the frame shown, in a matplotlib 3D dock that follows the slider.

Camera-frame coordinates (OpenCV: x right, y down, z forward, metres) are drawn with
up as up: plot axes (x, z, -y). Bones take their channel's colour, as in the skeleton
image and the 2D overlay. The view is centred on the pose's root keypoint (the pelvis of the human)
with a fixed scale, so the body moves around its centre rather than out of view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.skeleton import load_skeleton
from napari_abspose.layers import META, edge_rgba
from napari_abspose.widgets.state import PoseState


def frame_pose_3d(points: Any, frame: int) -> np.ndarray:
    """(J, 3) camera-frame metres of ``frame`` from a keypoints layer (NaN: unknown)."""
    meta = points.metadata[META]
    names = list(meta["keypoint_names"])
    out = np.full((len(names), 3), np.nan)
    data = np.asarray(points.data)
    if len(data) == 0 or "x3d" not in points.features:
        return out
    rows = np.nonzero(np.rint(data[:, 0]).astype(np.int64) == int(frame))[0]
    index = {k: j for j, k in enumerate(names)}
    f = points.features.iloc[rows]
    j = np.array([index.get(str(k), -1) for k in f["keypoint"]], dtype=np.int64)
    ok = j >= 0
    out[j[ok]] = f[["x3d", "y3d", "z3d"]].to_numpy(dtype=np.float64)[ok]
    return out


class View3D(QWidget):
    """3D pose of the current frame; redraws on frame change and on new predictions."""

    def __init__(self, state: PoseState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.figure = Figure(figsize=(3.2, 3.2), dpi=90, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax = self.figure.add_subplot(projection="3d")
        self.caption = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.caption)
        self.half_range = 1.0
        self.frame = -1
        state.viewer.dims.events.current_step.connect(self._on_step)
        state.keypoints_changed.connect(self._on_keypoints)
        self._on_keypoints("replaced")

    def _on_keypoints(self, what: str) -> None:
        points = self.state.keypoints_layer()
        if what == "replaced" and points is not None and "x3d" in points.features:
            xyz = points.features[["x3d", "y3d", "z3d"]].to_numpy(dtype=np.float64)
            ok = np.isfinite(xyz).all(1)
            if ok.any():  # about the body's size: a robust spread of all the 3D points
                spread = np.percentile(xyz[ok], 95, 0) - np.percentile(xyz[ok], 5, 0)
                self.half_range = float(max(0.6 * spread[[0, 1]].max(), 0.3))
        self.draw(self.state.current_frame())

    def _on_step(self, event: Any = None) -> None:
        frame = self.state.current_frame()
        if frame != self.frame:
            self.draw(frame)

    def draw(self, frame: int) -> None:
        """Draw the pose of ``frame`` (nothing when there are no 3D keypoints)."""
        self.frame = frame
        ax = self.ax
        ax.clear()
        points = self.state.keypoints_layer()
        pose = frame_pose_3d(points, frame) if points is not None else None
        if pose is None or not np.isfinite(pose).any():
            self.caption.setText("No 3D pose for this frame.")
            self.canvas.draw_idle()
            return
        meta = points.metadata[META]
        plot = np.stack([pose[:, 0], pose[:, 2], -pose[:, 1]], axis=1)  # x, depth, up
        skeleton = load_skeleton(meta["skeleton"]) if meta.get("skeleton") else None
        root = skeleton.parents.index(-1) if skeleton is not None else 0
        centre = plot[root] if np.isfinite(plot[root]).all() else np.nanmean(plot, axis=0)
        if skeleton is not None:
            colors = edge_rgba(skeleton, meta.get("layout") or skeleton.channel_layouts[0])
            for (a, b), color in zip(skeleton.edges, colors, strict=True):
                seg = plot[[a, b]]
                if np.isfinite(seg).all():
                    ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=color, lw=2.5)
        ok = np.isfinite(plot).all(1)
        ax.scatter(plot[ok, 0], plot[ok, 1], plot[ok, 2], s=8, color="0.2", depthshade=False)
        r = self.half_range
        ax.set_xlim(centre[0] - r, centre[0] + r)
        ax.set_ylim(centre[1] - r, centre[1] + r)
        ax.set_zlim(centre[2] - r, centre[2] + r)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("x (m)", fontsize=7, labelpad=-8)
        ax.set_ylabel("depth (m)", fontsize=7, labelpad=-8)
        ax.set_zlabel("up (m)", fontsize=7, labelpad=-8)
        ax.tick_params(labelsize=6, pad=-3)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.set_major_locator(MaxNLocator(3))
        ax.view_init(elev=12, azim=-70)
        name = meta["keypoint_names"][root]
        self.caption.setText(f"frame {frame}: {name} at {pose[root, 2]:.2f} m depth"
                             if np.isfinite(pose[root]).all() else f"frame {frame}")
        self.canvas.draw_idle()
