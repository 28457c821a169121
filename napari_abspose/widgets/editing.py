"""Hand corrections on a keypoints layer, and the skeleton of the frame shown.

:class:`KeypointEditor` follows one keypoints (Points) layer:

* a point moved (dragged) or added by hand gets ``edited`` = True in the layer's
  features, and a white border; edits are what the tidy CSV saves and what a new
  prediction keeps;
* the skeleton layer (bones as 2D vectors) is redrawn for the frame shown whenever the
  frame changes or a point of that frame moves;
* keypoints under the confidence threshold get a red border, or are hidden;
* :meth:`KeypointEditor.swap_left_right` swaps the left and right keypoints of a frame;
* :meth:`KeypointEditor.confirm_frame` marks every point of a frame edited: the person
  says the frame is right as it is, so all of it counts as labels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from core.skeleton import load_skeleton
from napari_abspose.layers import (
    META,
    bone_vectors,
    border_colors,
    skeleton_layer_data,
    swap_left_right,
)


def _kind(layer: Any) -> str | None:
    return (layer.metadata.get(META) or {}).get("kind") if hasattr(layer, "metadata") else None


class KeypointEditor:
    """Edits, styles and the per-frame skeleton of the keypoints layer being reviewed.

    Args:
        viewer: the napari viewer.
        on_edit: called after every hand edit (e.g. to refresh counts in the dock).
    """

    def __init__(self, viewer: Any, on_edit: Callable[[], None] | None = None):
        self.viewer = viewer
        self.on_edit = on_edit
        self.points: Any = None
        self.threshold, self.hide_low = 0.3, False
        self._updating = False
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # see _frame_rows
        viewer.dims.events.current_step.connect(self._on_step)
        viewer.layers.events.removed.connect(self._on_removed)

    # -- which layer -----------------------------------------------------------------
    def attach(self, points: Any) -> None:
        """Follow ``points``; create its skeleton layer when its skeleton is known."""
        if self.points is not None and self.points == points:  # napari proxies: ==
            self.apply_style()
            self.draw_skeleton()
            return
        if self.points is not None:
            self.points.events.data.disconnect(self._on_data)
        self.points = points
        self._index = None
        points.events.data.connect(self._on_data)
        if self.skeleton_layer() is None:
            self._add_skeleton_layer()
        self.apply_style()
        self.draw_skeleton()

    def skeleton_layer(self) -> Any:
        name = (self.points.metadata.get(META) or {}).get("skeleton_layer") \
            if self.points is not None else None
        for ly in self.viewer.layers:
            if _kind(ly) == "skeleton" and ly.name == name:
                return ly
        return None

    def _add_skeleton_layer(self) -> None:
        meta = self.points.metadata[META]
        if not meta.get("skeleton"):
            return
        skeleton = load_skeleton(meta["skeleton"])
        base = self.points.name.removesuffix(" keypoints")
        data, kwargs, _ = skeleton_layer_data(skeleton, meta.get("layout"),
                                              tuple(meta.get("frame_size", (0, 0))),
                                              f"{base} skeleton")
        skel = self.viewer.add_vectors(data, **kwargs)
        meta["skeleton_layer"] = skel.name
        layers = self.viewer.layers
        layers.move(layers.index(skel), layers.index(self.points))  # just below the points

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Programmatic changes of the keypoints layer: not hand edits."""
        self._updating = True
        try:
            yield
        finally:
            self._updating = False
            self._index = None

    def _on_removed(self, event: Any) -> None:
        if self.points is not None and event.value == self.points:
            self.points.events.data.disconnect(self._on_data)
            self.points, self._index = None, None

    def _frame_rows(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, keypoint indices) of the points of ``frame``, from a sorted index of
        the layer that is rebuilt only when points are replaced, added or removed."""
        data = np.asarray(self.points.data)
        if self._index is None or len(self._index[0]) != len(data):
            frames = np.rint(data[:, 0]).astype(np.int64)
            order = np.argsort(frames, kind="stable")
            names = list(self.points.metadata[META]["keypoint_names"])
            codes = pd.Categorical(self.points.features["keypoint"].astype(str),
                                   categories=names).codes.astype(np.int64)
            self._index = (order, frames[order], codes)
        order, sorted_frames, codes = self._index
        lo, hi = np.searchsorted(sorted_frames, [frame, frame + 1])
        rows = order[lo:hi]
        return rows, codes[rows]

    # -- events ------------------------------------------------------------------------
    def current_frame(self) -> int:
        return int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim else 0

    def _on_step(self, event: Any = None) -> None:
        if self.points is not None and self.points in self.viewer.layers:
            self.draw_skeleton()

    def _on_data(self, event: Any) -> None:
        if self._updating or str(getattr(event, "action", "")) not in ("changed", "added"):
            return
        points = self.points
        if str(event.action) == "added":
            self._index = None
        rows = np.asarray(event.data_indices, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < len(points.data))]
        if rows.size:
            points.features.loc[rows, "edited"] = True
        self.apply_style()
        frames = np.rint(np.asarray(points.data)[rows, 0]).astype(np.int64)
        if self.current_frame() in frames:
            self.draw_skeleton()
        if self.on_edit is not None:
            self.on_edit()

    # -- drawing ---------------------------------------------------------------------
    def draw_skeleton(self) -> None:
        """Redraw the bones of the frame shown."""
        skel = self.skeleton_layer()
        if skel is None:
            return
        edges = [tuple(e) for e in skel.metadata[META]["edges"]]
        rows, codes = self._frame_rows(self.current_frame())
        kp = np.full((len(self.points.metadata[META]["keypoint_names"]), 2), np.nan)
        ok = codes >= 0
        kp[codes[ok]] = np.asarray(self.points.data)[rows[ok]][:, [2, 1]]  # (y, x) -> (x, y)
        colors = np.asarray(skel.edge_color).copy()
        skel.data = bone_vectors(kp, edges)
        skel.edge_color = colors

    def apply_style(self) -> None:
        """Borders: white for edited points, red under the threshold; hide low points
        when ``hide_low``."""
        points = self.points
        if points is None or len(points.data) == 0:
            return
        conf = points.features["confidence"].to_numpy(dtype=np.float32)
        edited = points.features["edited"].to_numpy(dtype=bool)
        points.border_color = border_colors(conf, edited, self.threshold)
        low = (np.nan_to_num(conf) < self.threshold) & ~edited
        points.shown = ~low if self.hide_low else np.ones(len(conf), dtype=bool)

    # -- fixes -------------------------------------------------------------------------
    def swap_left_right(self, frame: int | None = None) -> int:
        """Swap left and right keypoints on ``frame`` (default: the one shown); the
        swapped points are marked edited. Returns how many points moved."""
        points = self.points
        if points is None:
            raise InputError("no keypoints to fix: predict or open a keypoint file first")
        meta = points.metadata[META]
        if not meta.get("skeleton"):
            raise InputError("these keypoints have no skeleton, so no left/right pairs")
        skeleton = load_skeleton(meta["skeleton"])
        kp = skeleton.keypoints
        pairs = [(kp[a], kp[b]) for a, b in skeleton.left_right]
        frame = self.current_frame() if frame is None else int(frame)
        data, rows = swap_left_right(np.asarray(points.data), points.features, frame, pairs)
        if rows.size:
            # in place, then the event a drag sends: only these rows change
            points.data[rows] = data[rows]
            points.refresh()
            points.events.data(value=points.data, action="changed",
                               data_indices=tuple(int(r) for r in rows),
                               vertex_indices=((),))
        return int(rows.size)

    def confirm_frame(self, frame: int | None = None) -> int:
        """Mark every point of ``frame`` (default: the one shown) edited: right as it
        is, so all of its points are labels. Returns how many points were not yet."""
        points = self.points
        if points is None:
            raise InputError("no keypoints to confirm: predict or open a keypoint file first")
        frame = self.current_frame() if frame is None else int(frame)
        rows, _ = self._frame_rows(frame)
        if rows.size == 0:
            return 0
        before = points.features["edited"].to_numpy(dtype=bool)[rows]
        points.features.loc[rows, "edited"] = True
        self.apply_style()
        if self.on_edit is not None:
            self.on_edit()
        return int((~before).sum())
