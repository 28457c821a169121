"""Labelled clips on disk: the one place that writes, reads, checks and finds them.

A clip is a video ``<stem>.mp4`` and its labels ``<stem>.npz`` beside it (``abspose
synth`` writes ``<subject>_<activity>``; ``abspose evaluate`` and ``abspose demo`` read
them). The labels, format version ``FORMAT_VERSION`` (1):

============================  ===============  =============================================
key                           shape / type     meaning
============================  ===============  =============================================
``keypoint_names``            (J,) str         the skeleton's keypoints, in order
``keypoints_2d``              (T, J, 2) f32    pixels (x right, y down, pixel i centred at i)
``keypoints_2d_normalized``   (T, J, 2) f32    the same in [-1, 1] (project convention)
``visibility``                (T, J) bool      on its own body part, not occluded
``keypoints_3d``              (T, J, 3) f32    camera frame (OpenCV: x right, y down,
                                               z forward), metres
``rotations``                 (T, J, 3, 3) f32 local joint rotations, root in camera frame
``rotations_6d``              (T, J, 6) f32    the same, 6D (first two columns)
``bone_lengths``              (T, J) f32       metres, bone from each keypoint's parent
``intrinsics``                (3, 3) f32       K: ``K @ keypoints_3d / z`` = keypoints_2d
``activity``                  (T,) str         activity per frame
``subject``, ``environment``  () str           identity and room names
``part_mask``                 (T, H, W) i16    body part per pixel (-1: background, props)
``part_names``                (P,) str         names of the part indices
``fps``, ``frame_size``       (), (2,)         frame rate; (H, W)
``style``, ``skeleton``,      () str / int     how the clip was made; ``format_version`` 1
``seed``, ``format_version``
============================  ===============  =============================================

The mp4 holds the same T frames (RGB, lossy); ``frames`` are not duplicated in the npz.

Only ``keypoint_names`` and ``keypoints_2d`` are required, so other labelled data can be
read (and evaluated) by writing those two arrays, plus ``keypoints_3d``, ``visibility``
and ``activity`` when known, next to each video (any video extension OpenCV reads, when
:func:`find_clips` looks for them). :func:`validate_labels` checks the shapes of the
keypoint arrays present; the other keys are passed through as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from core.errors import InputError
from core.io import atomic_open
from core.overlay import contact_sheet
from core.video import VIDEO_EXTENSIONS, VideoReader, VideoWriter

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
REQUIRED = ("keypoint_names", "keypoints_2d")
_NEEDS = "an .npz needs keypoint_names (J,) and keypoints_2d (T, J, 2)"


def labels_path(video: str | Path) -> Path:
    """The labels of a clip's video (or of a stem): ``<stem>.npz`` beside it."""
    return Path(video).with_suffix(".npz")


def video_path(labels: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> Path | None:
    """The video beside a labels ``.npz`` (the first of ``extensions`` that is a file,
    ``.mp4`` first), or None."""
    labels = Path(labels)
    order = sorted(extensions, key=lambda s: (s != ".mp4", s))
    return next((labels.with_suffix(s) for s in order if labels.with_suffix(s).is_file()),
                None)


# -- writing ----------------------------------------------------------------------------
def write_clip(stem: str | Path, arrays: Mapping[str, np.ndarray]) -> tuple[Path, Path]:
    """Write ``<stem>.mp4`` (``arrays["frames"]``, (T, H, W, 3) uint8 RGB, at
    ``arrays["fps"]``, through :class:`core.video.VideoWriter`) and ``<stem>.npz``
    (every other array, checked by :func:`validate_labels` first). Both go to temporary
    files, renamed into place once both are complete (the video just before its
    labels); an error on the way removes both temporary files and leaves a previous
    clip of that name as it was."""
    stem = Path(stem)
    video, labels = stem.with_suffix(".mp4"), labels_path(stem)
    frames = np.asarray(arrays["frames"]) if "frames" in arrays else None
    if frames is None or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0 \
            or frames.dtype != np.uint8:
        got = "none" if frames is None else f"{frames.dtype} {frames.shape}"
        raise InputError(f"{video}: a clip needs frames, uint8 (T, H, W, 3) with T >= 1; "
                         f"got {got}")
    if "fps" not in arrays:
        raise InputError(f"{labels}: no 'fps' for the video")
    data = {k: np.asarray(v) for k, v in arrays.items() if k != "frames"}
    validate_labels(data, labels, frames=len(frames))
    with atomic_open(labels, "wb") as fh:  # renamed into place after the video
        np.savez_compressed(fh, **data)
        with VideoWriter(video, float(data["fps"]), frames.shape[1:3]) as writer:
            for frame in frames:
                writer.write(frame)
    return video, labels


# -- reading and checking ---------------------------------------------------------------
def read_labels(path: str | Path, keys: Sequence[str] | None = None
                ) -> dict[str, np.ndarray]:
    """The arrays of a labels file (``.npz``), after :func:`validate_labels`; a
    one-line :class:`InputError` naming the file otherwise. ``keys``: read only these
    (where present) besides ``keypoint_names`` and ``keypoints_2d``; None reads every
    array (``part_mask`` is a (T, H, W) array: leave it out when it is not used)."""
    path = Path(path)
    wanted = None if keys is None else {*REQUIRED, *keys}
    if not path.is_file():
        raise InputError(f"{path}: no such labels file; a clip's labels are <name>.npz "
                         "beside its video <name>.mp4")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files if wanted is None or k in wanted}
    except Exception as exc:
        raise InputError(f"{path}: cannot read labels ({exc}); expected an .npz written by "
                         "`abspose synth` or with keypoint_names and keypoints_2d") from None
    validate_labels(data, path)
    return data


def validate_labels(data: Mapping[str, np.ndarray], path: str | Path,
                    frames: int | None = None) -> None:
    """The checks every reader relies on, as one-line :class:`InputError` naming
    ``path`` and the key: the required keys are there, ``keypoint_names`` is (J,),
    ``keypoints_2d`` (T, J, 2), and where present ``keypoints_3d`` (T, J, 3),
    ``visibility`` (T, J), ``activity`` (T,); with ``frames``, T is that."""
    for key in REQUIRED:
        if key not in data:
            raise InputError(f"{path}: no {key!r} in the labels; {_NEEDS}")
    names = np.asarray(data["keypoint_names"])
    if names.ndim != 1:
        raise InputError(f"{path}: keypoint_names has shape {names.shape}, expected (J,)")
    j = len(names)
    kp2 = np.asarray(data["keypoints_2d"])
    if kp2.ndim != 3 or kp2.shape[1:] != (j, 2):
        raise InputError(f"{path}: keypoints_2d has shape {kp2.shape}, expected "
                         f"(T, {j}, 2) for its {j} keypoint_names")
    t = kp2.shape[0]
    if frames is not None and t != frames:
        raise InputError(f"{path}: keypoints_2d has {t} frames, the video {frames}")
    for key, shape in (("keypoints_3d", (t, j, 3)), ("visibility", (t, j)),
                       ("activity", (t,))):
        if key in data and np.shape(data[key]) != shape:
            raise InputError(f"{path}: {key} has shape {np.shape(data[key])}, expected "
                             f"{shape}")


def read_frames(video: str | Path) -> np.ndarray:
    """Every frame of a clip's video, (T, H, W, 3) uint8 RGB, through
    :class:`core.video.VideoReader` (a missing, unreadable or empty video is an
    :class:`InputError` naming the file)."""
    return np.stack(list(VideoReader(video)))


def load_clip(path: str | Path, frames: bool = True) -> dict[str, np.ndarray]:
    """A clip's labels (give its ``.npz`` or its video) and, if ``frames``, its video
    as (T, H, W, 3) uint8 RGB under ``"frames"``."""
    path = Path(path)
    labels = labels_path(path)
    out = read_labels(labels)
    if frames:
        video = path if path.suffix.lower() in VIDEO_EXTENSIONS else video_path(labels)
        if video is None or not video.is_file():
            raise InputError(f"{video or labels.with_suffix('.mp4')}: no such file; the video "
                             f"of the labels {labels.name}")
        out["frames"] = read_frames(video)
        if len(out["frames"]) != len(out["keypoints_2d"]):
            log.warning("%s: %d frames decoded, its labels have %d", video,
                        len(out["frames"]), len(out["keypoints_2d"]))
    return out


# -- finding ----------------------------------------------------------------------------
def find_clips(folder: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS
               ) -> list[tuple[Path, Path]]:
    """(video, labels) pairs in ``folder``, sorted by name: every ``<stem>.npz`` with a
    ``<stem>`` video of one of ``extensions`` beside it (:func:`video_path`). Empty
    when there is none or ``folder`` is not a folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pairs = []
    for npz in sorted(folder.glob("*.npz")):
        video = video_path(npz, extensions)
        if npz.is_file() and not npz.name.startswith(".") and video is not None:
            pairs.append((video, npz))
    return pairs


# -- looking at them --------------------------------------------------------------------
def clip_sheet(clips: Sequence[Mapping[str, np.ndarray]], columns: int = 8,
               keypoints: bool = False) -> np.ndarray:
    """(rows * H, columns * W, 3) uint8: ``columns`` frames spread evenly over each clip
    (first and last included), one clip per row, tiled by
    :func:`core.overlay.contact_sheet` at the clips' own size with no gaps; with
    ``keypoints``, each frame's visible keypoints drawn as dots."""
    if not clips:
        raise InputError("clip_sheet: no clips")
    tiles = []
    for clip in clips:
        f = clip["frames"]
        for i in np.linspace(0, len(f) - 1, columns).round().astype(int):
            tile = np.ascontiguousarray(f[i]).copy()
            if keypoints:
                for (x, y), v in zip(clip["keypoints_2d"][i], clip["visibility"][i],
                                     strict=True):
                    if v:
                        cv2.circle(tile, (round(float(x)), round(float(y))), 1, (255, 255, 0),
                                   -1)
            tiles.append(tile)
    return contact_sheet(tiles, columns=columns, tile_width=tiles[0].shape[1], gap=0)
