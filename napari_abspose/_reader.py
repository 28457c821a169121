"""napari reader: videos as lazy image layers, our keypoint files as Points + skeleton.

``get_reader(path)`` returns a reader function for what this plugin handles and None
for everything else (so other readers get their turn):

* videos (mp4, m4v, avi, mov, mkv): a :class:`~core.video.LazyVideo` image layer
  (frames decoded on demand, so long videos open at once);
* keypoint files written by :mod:`core.export`: tidy CSV, DeepLabCut CSV, COCO JSON
  and the 3D npz: a Points layer (the dock draws the skeleton of the frame shown).

A file that looks like ours but cannot be read (corrupt video, broken CSV) gives a
napari error notification saying why, and no layer.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import AbsPoseError
from napari_abspose.layers import AXIS_LABELS, META, track_to_points

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".avi", ".mov", ".mkv")
KEYPOINT_SUFFIXES = (".csv", ".json", ".npz")
LayerData = tuple[Any, dict[str, Any], str]


def get_reader(path: str | list[str]) -> Callable[[Any], list] | None:
    """The reader for ``path`` (one file or a list), or None when we do not handle it."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or any(_kind(Path(p)) is None for p in paths):
        return None
    return read_paths


def _kind(path: Path) -> str | None:
    """"video", "tidy", "dlc", "coco", "npz", or None (not ours), from a quick look."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix not in KEYPOINT_SUFFIXES or not path.is_file():
        return None
    if suffix == ".npz":
        return "npz" if path.name.endswith("_3d.npz") or _npz_has(path, "keypoints_2d") else None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if suffix == ".json":  # COCO: images / annotations / categories, with keypoints
        text = head + _tail(path)
        coco = any(f'"{k}"' in head for k in ("images", "annotations", "categories"))
        return "coco" if coco and '"keypoints"' in text else None
    first = next(csv.reader([head.splitlines()[0] if head else ""]), [])
    if first[:1] == ["scorer"]:
        return "dlc"
    if {"frame", "keypoint", "x", "y"} <= set(first) and "z" not in first:
        return "tidy"
    return None


def _tail(path: Path, size: int = 65536) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - size))
        return fh.read().decode("utf-8", errors="replace")


def _npz_has(path: Path, key: str) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return key in z.files
    except Exception:
        return False


def read_paths(path: str | list[str]) -> list:
    """Layer data for every path; errors become a notification and no layer."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list = []
    for p in paths:
        try:
            layers += read_file(p)
        except AbsPoseError as err:
            _notify_error(f"napari-abspose could not open {Path(p).name}: {err}")
    return layers or [(None,)]  # the null layer: handled, nothing to add


def _notify_error(message: str) -> None:
    log.error(message)
    from napari.utils.notifications import show_error

    show_error(message)


def read_file(path: str | Path) -> list[LayerData]:
    """Layer data tuples of one file (raises AbsPoseError when it cannot be read)."""
    path = Path(path)
    kind = _kind(path)
    if kind == "video":
        return [video_layer(path)]
    if kind is None:
        from core.errors import InputError

        raise InputError(f"{path}: not a file napari-abspose reads")
    track, edited = read_track(path, kind)
    return [track_to_points(track, edited=edited)]


def video_layer(path: str | Path) -> LayerData:
    """An RGB image layer over a lazily decoded video."""
    from core.video import LazyVideo

    video = LazyVideo(path)
    meta = {"kind": "video", "path": str(Path(path).resolve()), "fps": video.fps}
    return video, {"name": Path(path).stem, "rgb": True, "contrast_limits": [0, 255],
                   "axis_labels": AXIS_LABELS, "metadata": {META: meta}}, "image"


def read_track(path: Path, kind: str):
    """(Track, edited (T, J) or None) from a keypoint file of the given kind."""
    from core import export

    if kind == "tidy":
        track = export.read_tidy_csv(path)
        return track, read_edited_column(path, track)
    if kind == "dlc":
        return export.read_dlc_csv(path), None
    if kind == "coco":
        return export.read_coco_json(path), None
    return export.read_3d_npz(path), None


def read_edited_column(path: Path, track) -> np.ndarray | None:
    """The ``edited`` column of a tidy CSV as (T, J) bool (:func:`core.export.read_edited`)."""
    from core.export import read_edited

    return read_edited(path, track)
