"""A :class:`Track`: the keypoints of one subject over the frames of one video.

Everything is in original-frame units: 2D keypoints in pixels (x right, y down, pixel
centres at integers), 3D keypoints in metres in the camera frame (OpenCV: x right,
y down, z forward) of the camera described by ``intrinsics``. Unknown values are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.errors import InputError, ShapeError
from core.skeleton import Skeleton

TIDY_COLUMNS: tuple[str, ...] = (
    "frame", "keypoint", "x", "y", "confidence", "x3d", "y3d", "z3d", "flip_suspect",
)


@dataclass
class Track:
    """Keypoints of one subject in T frames (J keypoints).

    Attributes:
        keypoint_names: J names (the skeleton's keypoints).
        keypoints: (T, J, 2) float32 pixels of the original frames, x right, y down.
        confidence: (T, J) float32 in [0, 1].
        keypoints_3d: (T, J, 3) float32 metres, camera frame; NaN where unknown.
        flip_suspect: (T,) bool, frames where a left/right flip is suspected.
        fps: frames per second of the video.
        frame_size: (H, W) of the frames in pixels.
        source: the video the track comes from ("" when none).
        intrinsics: (3, 3) camera matrix (pixels) of the 3D camera frame, or None.
        boxes: (T, 4) x, y, w, h of the region the model saw in each frame, or None.
        skeleton: the skeleton (bones and channel colours), or None when unknown.
    """

    keypoint_names: list[str]
    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints_3d: np.ndarray | None = None
    flip_suspect: np.ndarray | None = None
    fps: float = 30.0
    frame_size: tuple[int, int] = (0, 0)
    source: str = ""
    intrinsics: np.ndarray | None = None
    boxes: np.ndarray | None = None
    skeleton: Skeleton | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.keypoint_names = [str(k) for k in self.keypoint_names]
        j = len(self.keypoint_names)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        t = self.keypoints.shape[0] if self.keypoints.ndim == 3 else -1
        _check("keypoints", self.keypoints.shape, (t, j, 2))
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        _check("confidence", self.confidence.shape, (t, j))
        if self.keypoints_3d is None:
            self.keypoints_3d = np.full((t, j, 3), np.nan, dtype=np.float32)
        self.keypoints_3d = np.asarray(self.keypoints_3d, dtype=np.float32)
        _check("keypoints_3d", self.keypoints_3d.shape, (t, j, 3))
        if self.flip_suspect is None:
            self.flip_suspect = np.zeros(t, dtype=bool)
        self.flip_suspect = np.asarray(self.flip_suspect, dtype=bool)
        _check("flip_suspect", self.flip_suspect.shape, (t,))
        if self.intrinsics is not None:
            self.intrinsics = np.asarray(self.intrinsics, dtype=np.float64)
            _check("intrinsics", self.intrinsics.shape, (3, 3))
        if self.boxes is not None:
            self.boxes = np.asarray(self.boxes, dtype=np.float32)
            _check("boxes", self.boxes.shape, (t, 4))
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))
        self.fps = float(self.fps)
        if self.skeleton is not None and list(self.skeleton.keypoints) != self.keypoint_names:
            raise InputError(f"Track: skeleton {self.skeleton.name!r} has keypoints "
                             f"{list(self.skeleton.keypoints)}, the track {self.keypoint_names}")

    # -- queries ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_frames(self) -> int:
        return len(self)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """Bones as keypoint index pairs (empty when the skeleton is unknown)."""
        return [] if self.skeleton is None else list(self.skeleton.edges)

    def mean_confidence(self) -> float:
        return float(np.nanmean(self.confidence)) if self.confidence.size else float("nan")

    def __getitem__(self, frames: Any) -> Track:
        """The track restricted to some frames (a slice, indices or a boolean mask)."""
        idx = np.arange(len(self))[frames]
        idx = np.atleast_1d(idx)
        return replace(self, keypoints=self.keypoints[idx], confidence=self.confidence[idx],
                       keypoints_3d=self.keypoints_3d[idx], flip_suspect=self.flip_suspect[idx],
                       boxes=None if self.boxes is None else self.boxes[idx])

    def with_skeleton(self, skeleton: Skeleton) -> Track:
        """The same track carrying ``skeleton`` (its keypoint names must match)."""
        return replace(self, skeleton=skeleton)

    # -- pandas ----------------------------------------------------------------------
    def to_dataframe(self):
        """A tidy pandas DataFrame, one row per (frame, keypoint), columns
        frame, keypoint, x, y, confidence, x3d, y3d, z3d, flip_suspect.

        fps, frame_size, source and intrinsics are kept in ``DataFrame.attrs``.
        """
        import pandas as pd

        return pd.DataFrame(self.tidy_columns()).assign(
            keypoint=lambda d: pd.Categorical(d["keypoint"], categories=self.keypoint_names)
        ).pipe(_with_attrs, self)

    def tidy_columns(self) -> dict[str, np.ndarray]:
        """The tidy table as a dict of (T * J,) columns, frame-major (numpy only)."""
        t, j = self.keypoints.shape[:2]
        return {
            "frame": np.repeat(np.arange(t), j),
            "keypoint": np.tile(np.asarray(self.keypoint_names, dtype=object), t),
            "x": self.keypoints[..., 0].reshape(-1),
            "y": self.keypoints[..., 1].reshape(-1),
            "confidence": self.confidence.reshape(-1),
            "x3d": self.keypoints_3d[..., 0].reshape(-1),
            "y3d": self.keypoints_3d[..., 1].reshape(-1),
            "z3d": self.keypoints_3d[..., 2].reshape(-1),
            "flip_suspect": np.repeat(self.flip_suspect, j),
        }

    @classmethod
    def from_dataframe(cls, df, keypoint_names: list[str] | None = None,
                       fps: float | None = None, frame_size: tuple[int, int] | None = None,
                       **kwargs: Any) -> Track:
        """A Track from a tidy DataFrame (the format of :meth:`to_dataframe`).

        Columns frame, keypoint, x, y are required; confidence (default 1), x3d/y3d/z3d
        (default NaN) and flip_suspect (default False) are optional. Missing
        (frame, keypoint) rows become NaN. Frames are numbered from 0 to the largest
        frame. ``keypoint_names`` fixes the order (default: the order of first
        appearance, or the categories of a categorical column).
        """
        missing = [c for c in ("frame", "keypoint", "x", "y") if c not in df.columns]
        if missing:
            raise InputError(f"tidy table: missing column(s) {missing}")
        attrs = dict(getattr(df, "attrs", {}) or {})
        if keypoint_names is None:
            if str(df["keypoint"].dtype) == "category":
                keypoint_names = [str(k) for k in df["keypoint"].cat.categories]
            else:
                keypoint_names = list(dict.fromkeys(df["keypoint"].astype(str)))
        index = {k: i for i, k in enumerate(keypoint_names)}
        names = df["keypoint"].astype(str).to_numpy()
        unknown = sorted(set(names) - set(index))
        if unknown:
            raise InputError(f"tidy table: unknown keypoint(s) {unknown[:5]}")
        frames = df["frame"].to_numpy().astype(np.int64)
        if len(frames) and frames.min() < 0:
            raise InputError("tidy table: negative frame number")
        t, j = (int(frames.max()) + 1 if len(frames) else 0), len(keypoint_names)
        kj = np.array([index[n] for n in names], dtype=np.int64)

        def grid(col: str, fill: float, dim: int | None = None) -> np.ndarray:
            out = np.full((t, j) if dim is None else (t, j, dim), fill, dtype=np.float32)
            if dim is None:
                if col in df.columns:
                    out[frames, kj] = df[col].to_numpy(dtype=np.float32)
                return out
            for d, c in enumerate(col):
                if c in df.columns:
                    out[frames, kj, d] = df[c].to_numpy(dtype=np.float32)
            return out

        flips = np.zeros(t, dtype=bool)
        if "flip_suspect" in df.columns:
            flips[frames] = df["flip_suspect"].to_numpy().astype(bool)
        keypoints = grid(("x", "y"), np.nan, 2)
        confidence = grid("confidence", 0.0)
        if "confidence" not in df.columns:  # a table of labels: present means certain
            confidence = np.isfinite(keypoints).all(axis=-1).astype(np.float32)
        return cls(
            keypoint_names=keypoint_names,
            keypoints=keypoints,
            confidence=confidence,
            keypoints_3d=grid(("x3d", "y3d", "z3d"), np.nan, 3),
            flip_suspect=flips,
            fps=fps if fps is not None else attrs.get("fps", 30.0),
            frame_size=frame_size if frame_size is not None else attrs.get("frame_size", (0, 0)),
            source=kwargs.pop("source", attrs.get("source", "")),
            intrinsics=kwargs.pop("intrinsics", attrs.get("intrinsics")),
            **kwargs,
        )


def _with_attrs(df, track: Track):
    df.attrs.update(fps=track.fps, frame_size=track.frame_size, source=track.source,
                    intrinsics=None if track.intrinsics is None else track.intrinsics.tolist())
    return df


def _check(name: str, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if len(shape) != len(expected) or any(e >= 0 and s != e for s, e in zip(shape, expected,
                                                                               strict=False)):
        exp = "(" + ", ".join("T" if e < 0 else str(e) for e in expected) + ")"
        raise ShapeError(f"Track.{name}: expected shape {exp}, got {tuple(shape)}")


def concatenate_tracks(tracks: list[Track]) -> Track:
    """Tracks of consecutive pieces of one video joined in time (same keypoints)."""
    if not tracks:
        raise InputError("concatenate_tracks: no tracks given")
    first = tracks[0]
    for tr in tracks[1:]:
        if tr.keypoint_names != first.keypoint_names:
            raise InputError("concatenate_tracks: the tracks have different keypoints")
    boxes = None if any(t.boxes is None for t in tracks) else \
        np.concatenate([t.boxes for t in tracks])
    return replace(first,
                   keypoints=np.concatenate([t.keypoints for t in tracks]),
                   confidence=np.concatenate([t.confidence for t in tracks]),
                   keypoints_3d=np.concatenate([t.keypoints_3d for t in tracks]),
                   flip_suspect=np.concatenate([t.flip_suspect for t in tracks]),
                   boxes=boxes)
