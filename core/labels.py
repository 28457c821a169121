"""Corrections as labels: the frames a person fixed by hand, for refinement and for
other tools.

A point moved, swapped or confirmed by hand carries ``edited`` = 1 in the tidy CSV
(:func:`core.export.write_tidy_csv`); a frame with any such point is a labelled frame,
and its edited points are its labels (a confirmed frame has all of them). The other
points of the frame are predictions, not labels.

:func:`export_labels` writes them as other tools read labelled frames:

* DeepLabCut: ``labeled-data/<video>/CollectedData_<scorer>.csv`` (header rows scorer /
  bodyparts / coords, index columns ``labeled-data``, the video, ``img<frame>.png``,
  x and y per bodypart, empty where not labelled) and the frames as PNG next to it, the
  layout of a DeepLabCut project's labelled data;
* COCO keypoints: ``<video>_labels_coco.json`` in the same folder, ``file_name`` the
  same PNGs, v = 2 for labelled points and 0 (x = y = 0) for the others.

Everything is read before anything is written, and every file is written atomically.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core._version import __version__
from core.errors import InputError
from core.export import read_edited, read_tidy_csv, write_tidy_csv
from core.io import atomic_write_text, write_png
from core.skeleton import Skeleton
from core.track import Track
from core.video import frames_at


@dataclass
class Labels:
    """Hand-labelled frames of one video.

    Attributes:
        keypoint_names: J names.
        frames: (K,) frame indices, increasing.
        keypoints: (K, J, 2) pixels of the original frames; NaN where not labelled.
        labelled: (K, J) bool, the points that are labels.
        frame_size: (H, W) when known, else (0, 0).
        source: the file the labels were read from ("" when none).
    """

    keypoint_names: list[str]
    frames: np.ndarray
    keypoints: np.ndarray
    labelled: np.ndarray
    frame_size: tuple[int, int] = (0, 0)
    source: str = ""

    def __len__(self) -> int:
        return len(self.frames)


def labels_from_track(track: Track, edited: np.ndarray) -> Labels:
    """The frames of ``track`` with any point ``edited`` (T, J), their edited points."""
    edited = np.asarray(edited, dtype=bool)
    if edited.shape != track.keypoints.shape[:2]:
        raise InputError(f"edited: expected shape {track.keypoints.shape[:2]}, "
                         f"got {edited.shape}")
    edited = edited & np.isfinite(track.keypoints).all(-1)
    frames = np.flatnonzero(edited.any(1))
    mask = edited[frames]
    kp = np.where(mask[..., None], track.keypoints[frames], np.nan).astype(np.float32)
    return Labels(list(track.keypoint_names), frames, kp, mask, track.frame_size,
                  track.source)


def read_labels(path: str | Path) -> Labels:
    """The labelled frames of a tidy CSV with an ``edited`` column (the file the review
    dock saves). A file without edits is an InputError that says how to make some."""
    path = Path(path)
    track = read_tidy_csv(path)
    edited = read_edited(path, track)
    if edited is None:
        raise InputError(f"{path}: no 'edited' column, so no frame was corrected by hand; "
                         "correct frames in the review dock (abspose review VIDEO) and save")
    labels = labels_from_track(track, edited)
    if not len(labels):
        raise InputError(f"{path}: no point is marked edited; correct or confirm some "
                         "frames in the review dock and save")
    return labels


def corrections_path(video: str | Path) -> Path:
    """Where the review dock keeps a video's keypoints with the hand corrections:
    ``<video stem>_corrections.csv`` beside it (a tidy CSV with the ``edited`` column)."""
    video = Path(video)
    stem = video.stem if video.suffix else video.name
    return video.parent / f"{stem}_corrections.csv"


class Saved(NamedTuple):
    """What :func:`save_with_edits` wrote: the file, the track and edited flags in it
    (this save's merged with the file's earlier ones), and how many points of those
    came from the earlier file."""

    path: Path
    track: Track
    edited: np.ndarray
    kept: int


def save_with_edits(track: Track, edited: np.ndarray, path: str | Path) -> Saved:
    """Write ``track`` and its ``edited`` flags as a tidy CSV, atomically, keeping every
    point an earlier version of the file marks edited that is not edited here (the
    earlier position, flag kept): a save never drops an edit made earlier, e.g. in a
    window opened on fresh predictions."""
    path = Path(path)
    edited = np.asarray(edited, dtype=bool).copy()
    kept = 0
    if path.is_file():
        try:
            old = read_tidy_csv(path)
            old_edited = read_edited(path, old)
        except InputError:  # not a tidy CSV: replaced as asked
            old_edited = None
        if old_edited is not None and old.keypoint_names == track.keypoint_names \
                and len(old) == len(track):
            take = old_edited & ~edited
            kept = int(take.sum())
            if kept:
                keypoints = track.keypoints.copy()
                keypoints[take] = old.keypoints[take]
                confidence = track.confidence.copy()
                confidence[take] = old.confidence[take]
                track = replace(track, keypoints=keypoints, confidence=confidence)
                edited |= take
    return Saved(write_tidy_csv(track, path, edited=edited), track, edited, kept)


def dlc_image_name(frame: int, num_frames: int) -> str:
    """DeepLabCut's name for an extracted frame: ``img`` and the index, zero-padded to
    the digits of the video's frame count."""
    width = max(1, len(str(max(int(num_frames) - 1, 0))))
    return f"img{int(frame):0{width}d}.png"


def export_labels(labels: Labels, video: str | Path, out_dir: str | Path,
                  scorer: str = "abspose", num_frames: int | None = None,
                  overwrite: bool = False, skeleton: Skeleton | None = None
                  ) -> dict[str, Path]:
    """Write ``labels`` for DeepLabCut and as COCO keypoints, with the frames as PNG,
    under ``out_dir/labeled-data/<video stem>/``. Returns {"dlc", "coco", "folder"}.

    Args:
        labels: the labelled frames.
        video: the video file or image-sequence folder the frames come from.
        out_dir: a DeepLabCut project folder, or any folder.
        scorer: DeepLabCut's scorer name (the file is ``CollectedData_<scorer>.csv``).
        num_frames: the video's frame count, for the width of the image names (default:
            one more than the last labelled frame).
        overwrite: replace existing label files (images of the same frames always are).
        skeleton: names the COCO category and gives its bones, when known.
    """
    if not len(labels):
        raise InputError("no labelled frames to export")
    if not scorer or any(c in scorer for c in "/\\ "):
        raise InputError(f"scorer {scorer!r}: give a name without spaces or slashes")
    video = Path(video)
    stem = video.stem if video.is_file() else video.name
    folder = Path(out_dir) / "labeled-data" / stem
    paths = {"dlc": folder / f"CollectedData_{scorer}.csv",
             "coco": folder / f"{stem}_labels_coco.json"}
    taken = [str(p) for p in paths.values() if p.exists()]
    if taken and not overwrite:
        raise InputError(f"output file {taken[0]} exists; pass overwrite to replace it")
    images = frames_at(video, labels.frames)  # read everything before writing
    count = num_frames if num_frames is not None else int(labels.frames.max()) + 1
    names = [dlc_image_name(f, count) for f in labels.frames]
    made = next((p for p in (Path(out_dir), folder.parent, folder) if not p.exists()), None)
    try:
        for name, f in zip(names, labels.frames, strict=True):
            write_png(folder / name, images[int(f)])
        paths["dlc"] = _write_dlc(labels, stem, names, scorer, paths["dlc"])
        h, w = images[int(labels.frames[0])].shape[:2]
        paths["coco"] = _write_coco(labels, names, (h, w), str(video), paths["coco"],
                                    skeleton)
    except BaseException:
        if made is not None:  # the folders this call made are not left behind
            shutil.rmtree(made, ignore_errors=True)
        raise
    return {**paths, "folder": folder}


def _write_dlc(labels: Labels, stem: str, names: list[str], scorer: str, path: Path) -> Path:
    parts = labels.keypoint_names
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scorer", "", ""] + [scorer] * (2 * len(parts)))
    w.writerow(["bodyparts", "", ""] + [p for p in parts for _ in range(2)])
    w.writerow(["coords", "", ""] + ["x", "y"] * len(parts))
    for name, kp in zip(names, labels.keypoints, strict=True):
        cells = [("" if not np.isfinite(v) else f"{v:.4f}") for v in kp.reshape(-1)]
        w.writerow(["labeled-data", stem, name, *cells])
    return atomic_write_text(path, buf.getvalue())


def _write_coco(labels: Labels, names: list[str], size: tuple[int, int], video: str,
                path: Path, skeleton: Skeleton | None) -> Path:
    category, bones = "subject", []
    if skeleton is not None and list(skeleton.keypoints) == labels.keypoint_names:
        category = "person" if skeleton.name == "human" else skeleton.name
        bones = [[a + 1, b + 1] for a, b in skeleton.edges]  # 1-based, as COCO has them
    images, annotations = [], []
    for k, (name, f) in enumerate(zip(names, labels.frames, strict=True)):
        images.append({"id": k + 1, "file_name": name, "height": int(size[0]),
                       "width": int(size[1]), "frame_index": int(f)})
        mask = labels.labelled[k]
        kp = np.where(mask[:, None], labels.keypoints[k], 0.0).astype(np.float64)
        xyv = np.concatenate([kp, np.where(mask, 2, 0)[:, None]], axis=1)
        lo, hi = kp[mask].min(0), kp[mask].max(0)
        box = [round(float(lo[0]), 3), round(float(lo[1]), 3),
               round(float(hi[0] - lo[0]), 3), round(float(hi[1] - lo[1]), 3)]
        annotations.append({
            "id": k + 1, "image_id": k + 1, "category_id": 1,
            "keypoints": [round(float(v), 4) if i % 3 < 2 else int(v)
                          for i, v in enumerate(xyv.reshape(-1))],
            "num_keypoints": int(mask.sum()), "bbox": box,
            "area": round(box[2] * box[3], 3), "iscrowd": 0})
    doc = {
        "info": {"description": f"frames labelled by hand in napari-abspose {__version__}",
                 "version": __version__, "source": video,
                 "date_created": datetime.datetime.now().isoformat(timespec="seconds")},
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": category, "supercategory": category,
                        "keypoints": list(labels.keypoint_names), "skeleton": bones}],
    }
    return atomic_write_text(path, json.dumps(doc, indent=1))
