"""Track <-> napari layer data: keypoints as Points, bones as Vectors, channel colours.

Pure numpy (no viewer needed), so readers, writers, widgets and tests share it.

* Points: one point per known (frame, keypoint), data (N, 3) = (frame, y, x) in pixels
  of the original frame; features ``keypoint`` (categorical, the skeleton's names),
  ``confidence``, ``flip_suspect``, ``edited`` and the 3D position ``x3d, y3d, z3d``
  (metres, camera frame). Everything else a Track holds (fps, frame size, source,
  skeleton, layout, crop boxes, intrinsics) rides in ``metadata["abspose"]``, so a
  layer converts back to the same Track (:func:`points_to_track`).
* Vectors: the bones of the frame shown, (E, 2, 2) of (y, x) and (dy, dx), coloured by
  channel like the skeleton image. A 2D layer that the dock redraws when the frame
  changes: one frame's bones cost the same for a 100-frame and a 100k-frame video,
  where napari's Vectors layer holding every frame's bones slows down each step of
  the slider with the length of the video.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from core.overlay import default_layout as overlay_layout
from core.skeleton import HUMAN, QUADRUPED, Skeleton, load_skeleton
from core.track import Track

META = "abspose"  # key of our dict in layer.metadata
AXIS_LABELS = ("frame", "y", "x")  # napari's axis order in every layer of this plugin
FEATURES = ("keypoint", "confidence", "flip_suspect", "edited", "x3d", "y3d", "z3d")
LOW_CONFIDENCE_BORDER = (1.0, 0.1, 0.1, 1.0)
EDITED_BORDER = (1.0, 1.0, 1.0, 1.0)
NORMAL_BORDER = (0.0, 0.0, 0.0, 0.8)
UNKNOWN_COLOR = (0.8, 0.8, 0.8, 1.0)


def default_layout(skeleton: Skeleton | None, layout: str | None = None) -> str | None:
    """``layout`` if given, else the skeleton's default (:func:`core.overlay.default_layout`)."""
    if skeleton is None or layout is not None:
        return layout
    return overlay_layout(skeleton)


def guess_skeleton(keypoint_names: list[str]) -> Skeleton | None:
    """The built-in skeleton with exactly these keypoint names, or None."""
    for sk in (HUMAN, QUADRUPED):
        if list(sk.keypoints) == list(keypoint_names):
            return sk
    return None


def _rgba(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
    return np.concatenate([rgb, np.ones((len(rgb), 1), np.float32)], axis=1)


def keypoint_rgba(skeleton: Skeleton | None, layout: str | None, num_keypoints: int) -> np.ndarray:
    """(J, 4) colour of each keypoint: its channel's colour, grey without a skeleton."""
    if skeleton is None or layout is None:
        return np.tile(np.asarray(UNKNOWN_COLOR, np.float32), (num_keypoints, 1))
    return _rgba(skeleton.keypoint_colors(layout))


def edge_rgba(skeleton: Skeleton, layout: str) -> np.ndarray:
    """(E, 4) colour of each bone: the colour of its skeleton-image channel."""
    return _rgba(skeleton.channel_colors(layout)[skeleton.edge_channel(layout)])


# -- Track -> layers --------------------------------------------------------------------
def track_metadata(track: Track, layout: str | None = None) -> dict[str, Any]:
    """What a Points layer needs, besides data and features, to give the Track back."""
    skeleton = track.skeleton or guess_skeleton(track.keypoint_names)
    return {
        "kind": "keypoints",
        "keypoint_names": list(track.keypoint_names),
        "num_frames": len(track),
        "fps": track.fps,
        "frame_size": tuple(track.frame_size),
        "source": track.source,
        "skeleton": None if skeleton is None else skeleton.to_dict(),
        "layout": default_layout(skeleton, layout),
        "intrinsics": None if track.intrinsics is None else np.asarray(track.intrinsics),
        "boxes": None if track.boxes is None else np.asarray(track.boxes),
    }


def track_to_points(track: Track, layout: str | None = None, edited: np.ndarray | None = None,
                    name: str | None = None) -> tuple[np.ndarray, dict[str, Any], str]:
    """A napari Points layer-data tuple ``(data (N, 3), kwargs, "points")`` of a track.

    Args:
        track: the keypoints; points with NaN x or y are left out.
        layout: channel layout for the colours (default: 5ch when the skeleton has it).
        edited: (T, J) bool, points corrected by hand (default none).
    """
    t, j = track.keypoints.shape[:2]
    edited = np.zeros((t, j), bool) if edited is None else np.asarray(edited, bool)
    if edited.shape != (t, j):
        raise InputError(f"edited: expected shape ({t}, {j}), got {edited.shape}")
    meta = track_metadata(track, layout)
    ok = np.isfinite(track.keypoints).all(-1)  # (T, J)
    frames, kps = np.nonzero(ok)
    xy = track.keypoints[frames, kps]
    data = np.stack([frames.astype(np.float64), xy[:, 1], xy[:, 0]], axis=1)
    features = pd.DataFrame({
        "keypoint": pd.Categorical.from_codes(kps, categories=track.keypoint_names),
        "confidence": track.confidence[frames, kps].astype(np.float32),
        "flip_suspect": track.flip_suspect[frames],
        "edited": edited[frames, kps],
        "x3d": track.keypoints_3d[frames, kps, 0],
        "y3d": track.keypoints_3d[frames, kps, 1],
        "z3d": track.keypoints_3d[frames, kps, 2],
    })
    skeleton = load_skeleton(meta["skeleton"]) if meta["skeleton"] else None
    colors = keypoint_rgba(skeleton, meta["layout"], j)[kps]
    h, w = track.frame_size
    size = max(4.0, 0.012 * min(h, w)) if h and w else 6.0
    kwargs = {
        "name": name or _stem(track.source, "keypoints"),
        "features": features,
        "feature_defaults": {"keypoint": track.keypoint_names[0], "confidence": 1.0,
                             "flip_suspect": False, "edited": True, "x3d": np.nan,
                             "y3d": np.nan, "z3d": np.nan},
        "face_color": colors,
        "border_color": border_colors(features["confidence"].to_numpy(),
                                      features["edited"].to_numpy(), 0.0),
        "border_width": 0.15,
        "size": size,
        "axis_labels": AXIS_LABELS,
        "metadata": {META: meta},
    }
    return data, kwargs, "points"


def _stem(source: str, what: str) -> str:
    from pathlib import Path

    return f"{Path(source).stem} {what}" if source else what


def border_colors(confidence: np.ndarray, edited: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 4) border colours: white for edited points, red under the confidence
    threshold (and not edited), dark otherwise."""
    out = np.tile(np.asarray(NORMAL_BORDER, np.float32), (len(confidence), 1))
    out[np.nan_to_num(confidence, nan=0.0) < threshold] = LOW_CONFIDENCE_BORDER
    out[np.asarray(edited, bool)] = EDITED_BORDER
    return out


# -- layers -> Track ----------------------------------------------------------------------
def points_grid(data: np.ndarray, features: pd.DataFrame, keypoint_names: list[str],
                num_frames: int) -> dict[str, np.ndarray]:
    """Scatter Points rows back onto (T, J) grids.

    Returns keypoints (T, J, 2) x, y pixels, confidence (T, J), edited (T, J),
    keypoints_3d (T, J, 3), flip_suspect (T,); unknown entries NaN (0 / False). When
    two points name the same (frame, keypoint), the later row wins.
    """
    data = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    if len(features) != len(data):
        raise InputError(f"points layer: {len(data)} points but {len(features)} feature rows")
    t_len, j = max(int(num_frames), 0), len(keypoint_names)
    frames = np.rint(data[:, 0]).astype(np.int64)
    kj = (pd.Categorical(features["keypoint"].astype(str), categories=keypoint_names).codes
          .astype(np.int64) if "keypoint" in features else np.full(len(data), -1))
    t_len = max(t_len, int(frames.max()) + 1 if len(frames) else 0)
    keep = (kj >= 0) & (frames >= 0)
    f, k, rows = frames[keep], kj[keep], np.nonzero(keep)[0]

    def col(name: str, default: float | bool) -> np.ndarray:
        if name in features:
            return features[name].to_numpy()[rows]
        return np.full(len(rows), default)

    out = {
        "keypoints": np.full((t_len, j, 2), np.nan, np.float32),
        "confidence": np.zeros((t_len, j), np.float32),
        "edited": np.zeros((t_len, j), bool),
        "keypoints_3d": np.full((t_len, j, 3), np.nan, np.float32),
        "flip_suspect": np.zeros(t_len, bool),
    }
    out["keypoints"][f, k] = data[rows][:, [2, 1]]
    out["confidence"][f, k] = col("confidence", 1.0).astype(np.float32)
    out["edited"][f, k] = col("edited", False).astype(bool)
    for d, c in enumerate(("x3d", "y3d", "z3d")):
        out["keypoints_3d"][f, k, d] = col(c, np.nan).astype(np.float32)
    out["flip_suspect"][f] = col("flip_suspect", False).astype(bool)
    return out


def points_to_track(data: np.ndarray, features: pd.DataFrame,
                    metadata: dict[str, Any]) -> tuple[Track, np.ndarray]:
    """(Track, edited (T, J) bool) from a Points layer's data, features and metadata."""
    meta = metadata.get(META) if META in metadata else metadata
    if not meta or "keypoint_names" not in meta:
        raise InputError("this Points layer holds no keypoints of napari-abspose "
                         "(predict or open a keypoint file first)")
    names = list(meta["keypoint_names"])
    grid = points_grid(data, features, names, int(meta.get("num_frames", 0)))
    skeleton = load_skeleton(meta["skeleton"]) if meta.get("skeleton") else None
    boxes = meta.get("boxes")
    if boxes is not None and len(boxes) != len(grid["keypoints"]):
        boxes = None
    track = Track(
        keypoint_names=names, keypoints=grid["keypoints"], confidence=grid["confidence"],
        keypoints_3d=grid["keypoints_3d"], flip_suspect=grid["flip_suspect"],
        fps=float(meta.get("fps", 30.0)), frame_size=tuple(meta.get("frame_size", (0, 0))),
        source=str(meta.get("source", "")), intrinsics=meta.get("intrinsics"), boxes=boxes,
        skeleton=skeleton,
    )
    return track, grid["edited"]


def layer_track(layer: Any) -> tuple[Track, np.ndarray]:
    """(Track, edited) of a napari Points layer made by :func:`track_to_points`."""
    return points_to_track(layer.data, layer.features, layer.metadata)


# -- skeleton as vectors ----------------------------------------------------------------
def bone_vectors(keypoints: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """One frame's bones as 2D napari vectors: (E, 2, 2) of (y, x) and (dy, dx).

    Args:
        keypoints: (J, 2) x, y pixels, NaN where unknown.
        edges: E keypoint index pairs. A bone with an unknown end has zero length.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    a, b = kp[e[:, 0]], kp[e[:, 1]]  # (E, 2) x, y
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    start = np.where(ok[:, None], a, np.nan_to_num(np.where(np.isfinite(a), a, b), nan=0.0))
    delta = np.where(ok[:, None], b - a, 0.0)
    return np.stack([start[:, ::-1], delta[:, ::-1]], axis=1)


def skeleton_layer_data(skeleton: Skeleton, layout: str | None, frame_size: tuple[int, int],
                        name: str) -> tuple[np.ndarray, dict[str, Any], str]:
    """A Vectors layer-data tuple for the bones of the frame shown: (E, 2, 2) zero-length
    vectors to start with (2D, so napari shows it on every frame; the dock redraws it
    when the frame changes), coloured by skeleton-image channel."""
    layout = default_layout(skeleton, layout)
    h, w = frame_size
    kwargs = {
        "name": name,
        "edge_color": edge_rgba(skeleton, layout),
        "edge_width": max(2.0, 0.006 * min(h, w)) if h and w else 2.0,
        "vector_style": "line",
        "opacity": 0.9,
        "axis_labels": AXIS_LABELS[1:],
        "metadata": {META: {"kind": "skeleton", "edges": [list(e) for e in skeleton.edges]}},
    }
    return np.zeros((len(skeleton.edges), 2, 2)), kwargs, "vectors"


# -- review operations ------------------------------------------------------------------
def swap_left_right(data: np.ndarray, features: pd.DataFrame, frame: int,
                    pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Swap the positions of left/right keypoints in one frame (names stay).

    Returns the new data (N, 3) and the rows changed; only pairs with both points in
    the frame are swapped.
    """
    data = np.array(data, dtype=np.float64, copy=True)
    rows = np.nonzero(np.rint(data[:, 0]).astype(np.int64) == int(frame))[0]
    where = {str(features["keypoint"].iloc[r]): r for r in rows}
    changed = []
    for left, right in pairs:
        if left in where and right in where:
            a, b = where[left], where[right]
            data[[a, b], 1:] = data[[b, a], 1:]
            changed += [a, b]
    return data, np.asarray(changed, dtype=np.int64)


def keep_edited(new: tuple[np.ndarray, dict[str, Any], str], old_data: np.ndarray,
                old_features: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any], str]:
    """Points layer data of a new prediction with the old layer's edited points kept.

    Every old point marked ``edited`` replaces the new point of the same frame and
    keypoint (or is added when the new prediction has none there).
    """
    data, kwargs, kind = new
    feats: pd.DataFrame = kwargs["features"]
    if "edited" not in old_features or not old_features["edited"].any():
        return new
    meta = kwargs["metadata"][META]
    names = list(meta["keypoint_names"])
    mask = old_features["edited"].to_numpy(bool)

    def keys(rows: np.ndarray, feat: pd.DataFrame) -> np.ndarray:  # frame * J + keypoint
        index = {k: i for i, k in enumerate(names)}
        kj = feat["keypoint"].astype(str).map(index).fillna(-1).to_numpy(np.int64)
        return np.rint(rows[:, 0]).astype(np.int64) * len(names) + kj

    keep_rows = ~np.isin(keys(data, feats), keys(old_data[mask], old_features[mask]))
    kept = old_features[mask].reset_index(drop=True)
    kept["keypoint"] = pd.Categorical(kept["keypoint"].astype(str),
                                      categories=feats["keypoint"].cat.categories)
    features = pd.concat([feats[keep_rows].reset_index(drop=True), kept[list(feats.columns)]],
                         ignore_index=True)
    out = dict(kwargs)
    out["features"] = features
    skeleton = load_skeleton(meta["skeleton"]) if meta.get("skeleton") else None
    out["face_color"] = keypoint_rgba(skeleton, meta["layout"], len(names))[
        features["keypoint"].cat.codes.to_numpy()]
    out["border_color"] = border_colors(features["confidence"].to_numpy(),
                                        features["edited"].to_numpy(), 0.0)
    return np.concatenate([data[keep_rows], old_data[mask]]), out, kind
