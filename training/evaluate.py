"""Accuracy of a model on labelled clips: the metrics of the paper's tables.

What is computed (``docs/RESULTS.md`` quotes this):

* **error (px)**: the mean over images and keypoints of the Euclidean distance between
  the predicted and the labelled 2D keypoint, in pixels of a 128 x 128 image (errors
  on a frame of side ``S`` are scaled by ``128 / S``, ``S`` the longer side, as the
  letterbox to the model's input does). This is the metric behind the paper's "MSE in
  pixel" (after Jakab et al. 2020): a mean distance, not a squared one. Every keypoint
  counts, occluded ones included.
* **considering flips** (plain): the error above, labels as they are.
* **ignoring flips**: per image, the smaller of the error against the labels and the
  error against the left/right-mirrored labels (names swapped, coordinates kept).
* **flip rate**: the fraction of images where the mirrored labels fit better. When the
  left and right keypoints of a side view lie close together this is decided by tiny
  differences, so a second figure counts only clear flips: **clear flip rate**, the
  fraction of images where, over the keypoints that have a left/right partner, the
  mirrored labels are closer by more than ``CLEAR_FLIP_PX`` (2 px at 128 x 128) on average.
* **PCK@t**: the fraction of keypoints within ``t`` pixels (at 128 x 128) of the label,
  labels as they are.
* **MPJPE (mm)**: root-relative 3D error, the mean over images and keypoints of the
  distance between predicted and labelled 3D keypoints after subtracting each one's
  root (the root itself left out), where the labels have 3D (``keypoints_3d``,
  metres); no Procrustes alignment (:func:`mpjpe`).
* **PA-MPJPE (mm)**: the same distance after the similarity (rotation, scale,
  translation) that best fits the prediction onto the labels, per image, over all
  keypoints (:func:`pa_mpjpe`; ``abspose demo`` prints it, the tables do not).

On labelled photos (a COCO keypoints JSON, ``training/real_photos.py``: one 1.25 x box
crop per person at 128 x 128) the error is over the **12 limb points** (shoulders,
elbows, wrists, hips, knees, ankles) that are labelled, per person as predicted and
forgiving a left/right swap of the whole person where that fits better (``ignore
flips``), PCK at 6.4, 12.8 and 25.6 px (5, 10, 20 % of the crop) both ways; per
``source`` (the dataset a photo came from) and overall.

Results are given per activity (the labels' per-frame ``activity``) and overall
(the mean over all images, so longer activities weigh more).

``abspose demo`` prints, besides the benchmark's error, the error of one clip in the
clip's own pixels (:func:`subject_pixel_errors`): the mean and median distance over the
*visible* keypoints, and **PCK@0.1 of the subject's size**, the fraction of visible
keypoints within 10 % of the diagonal of the box around the frame's visible labelled
keypoints. That PCK is another metric than PCK@t above (a threshold relative to the
subject, not pixels at 128 x 128; visible keypoints only; pooled over the clip's
keypoints, not averaged per image).

Labels are read from the ``.npz`` files ``abspose synth`` writes (the format, and its
reader and checks, are in ``training/clips.py``); only ``keypoint_names`` and
``keypoints_2d`` are required, so other labelled data can be evaluated by writing those
two arrays (plus ``keypoints_3d`` and ``activity`` when known) next to each video.
Keypoints are matched by name; labelled keypoints the model does not know are left out
(and named).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.io import atomic_write_text
from core.predict import Predictor
from core.skeleton import Skeleton
from training.clips import find_clips, read_labels
from training.real_photos import load_coco_people, person_crops

log = logging.getLogger("abspose.evaluate")

METRIC_SIZE = 128
CLEAR_FLIP_PX = 2.0
PCK_THRESHOLDS = (3.0, 6.0, 12.0)
PHOTO_PCK_THRESHOLDS = (6.4, 12.8, 25.6)
SUBJECT_PCK_FRACTION = 0.1
ALL = "all"
LIMBS = tuple(f"{s}_{p}" for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
              for s in ("left", "right"))


@dataclass
class Labels:
    """The labels of one clip, keypoints matched to a skeleton by name.

    keypoints_2d: (T, J, 2) pixels; keypoints_3d: (T, J, 3) metres or None; the J are
    the skeleton's keypoints, NaN where the labels lack one. activity: (T,) str.
    """

    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray | None
    activity: np.ndarray
    frame_size: tuple[int, int]
    missing: list[str] = field(default_factory=list)


def load_labels(path: str | Path, skeleton: Skeleton) -> Labels:
    """Read a labels ``.npz`` (:func:`training.clips.read_labels`: its checks and
    errors) and order its keypoints as ``skeleton``'s (by name)."""
    path = Path(path)
    data = read_labels(path, keys=("keypoints_3d", "activity", "frame_size"))
    names = [str(n) for n in data["keypoint_names"]]
    kp2 = np.asarray(data["keypoints_2d"], dtype=np.float64)
    t = kp2.shape[0]
    index = {n: i for i, n in enumerate(names)}
    common = [k for k in skeleton.keypoints if k in index]
    if not common:
        raise InputError(f"{path}: none of its keypoints ({', '.join(names[:5])}, ...) is a "
                         f"keypoint of the {skeleton.name!r} skeleton; rename them to match")
    src = np.array([index.get(k, -1) for k in skeleton.keypoints])
    out2 = np.full((t, skeleton.num_keypoints, 2), np.nan)
    out2[:, src >= 0] = kp2[:, src[src >= 0]]
    out3 = None
    if "keypoints_3d" in data:
        kp3 = np.asarray(data["keypoints_3d"], dtype=np.float64)
        out3 = np.full((t, skeleton.num_keypoints, 3), np.nan)
        out3[:, src >= 0] = kp3[:, src[src >= 0]]
    activity = np.asarray(data["activity"]).astype(str) if "activity" in data \
        else np.full(t, path.stem.split("_", 1)[-1])
    if "frame_size" in data:
        size = tuple(int(v) for v in np.asarray(data["frame_size"]).reshape(-1)[:2])
    else:
        size = (0, 0)
    extra = [n for n in names if n not in skeleton.keypoints]
    if extra:
        log.warning("%s: labelled keypoints the model does not have are left out: %s",
                    path.name, ", ".join(extra))
    return Labels(out2, out3, activity, size,
                  missing=[k for k in skeleton.keypoints if k not in index])


@dataclass
class FrameErrors:
    """Per-image errors of one clip (T images): mean 2D error against the labels and
    against the mirrored labels (pixels at 128 x 128), whether the image is a clear flip,
    per-keypoint errors (T, J), 3D."""

    plain: np.ndarray
    mirrored: np.ndarray
    clear_flip: np.ndarray
    per_keypoint: np.ndarray
    mpjpe: np.ndarray | None
    activity: np.ndarray


def frame_errors(pred_2d: np.ndarray, labels: Labels, skeleton: Skeleton,
                 frame_size: Sequence[int], pred_3d: np.ndarray | None = None) -> FrameErrors:
    """Errors of predictions (T, J, 2) pixels (and (T, J, 3) metres) against ``labels``.

    Keypoints whose mirror partner is not labelled are left out of both 2D forms, so
    plain and mirrored errors average over the same keypoints."""
    gt = labels.keypoints_2d
    pred_2d = np.asarray(pred_2d, dtype=np.float64)
    if pred_2d.shape != gt.shape:
        raise InputError(f"predictions have shape {pred_2d.shape}, the labels {gt.shape}: "
                         "the video and its labels must have the same number of frames")
    scale = METRIC_SIZE / float(max(frame_size))
    perm = skeleton.mirror_permutation
    labelled = ~np.isnan(gt).any(axis=(0, 2))
    usable = labelled & labelled[perm]
    if not usable.any():
        raise InputError("no labelled keypoint has its left/right partner labelled")
    d = np.linalg.norm(pred_2d - gt, axis=-1) * scale
    dm = np.linalg.norm(pred_2d - gt[:, perm], axis=-1) * scale
    e3d = None
    if pred_3d is not None and labels.keypoints_3d is not None:
        e3d = mpjpe(pred_3d, labels.keypoints_3d, skeleton.parents.index(-1))
    sided = usable & (perm != np.arange(len(perm)))
    gain = (d[:, sided] - dm[:, sided]).mean(axis=1) if sided.any() else np.zeros(len(d))
    return FrameErrors(plain=d[:, usable].mean(axis=1), mirrored=dm[:, usable].mean(axis=1),
                       clear_flip=gain > CLEAR_FLIP_PX, per_keypoint=d[:, usable], mpjpe=e3d,
                       activity=labels.activity)


def mpjpe(pred_3d: np.ndarray, gt_3d: np.ndarray, root: int) -> np.ndarray | None:
    """Root-relative 3D error per image, mm: (T,) from (T, J, 3) metres, the mean over
    the keypoints other than ``root`` of the distance between prediction and label once
    each has its root subtracted. Keypoints with a NaN in any image are left out (all
    images average over the same ones); None when no keypoint is left."""
    p = np.asarray(pred_3d, dtype=np.float64)
    g = np.asarray(gt_3d, dtype=np.float64)
    rel = (p - p[:, root:root + 1]) - (g - g[:, root:root + 1])
    e3 = np.linalg.norm(rel, axis=-1) * 1000.0
    ok = ~np.isnan(e3).any(axis=0)
    ok[root] = False
    return e3[:, ok].mean(axis=1) if ok.any() else None


def pa_mpjpe(pred_3d: np.ndarray, gt_3d: np.ndarray) -> np.ndarray:
    """Procrustes-aligned 3D error per image, mm: (T,) from (T, J, 3) metres, the mean
    over all keypoints of the distance to the label after the similarity (rotation,
    no reflection; uniform scale; translation) that best fits the prediction onto the
    label in the least-squares sense (Umeyama). Images with a NaN give NaN."""
    p = np.asarray(pred_3d, dtype=np.float64)
    g = np.asarray(gt_3d, dtype=np.float64)
    p = p - p.mean(axis=1, keepdims=True)
    g = g - g.mean(axis=1, keepdims=True)
    out = np.full(len(p), np.nan)
    for t in np.flatnonzero(np.isfinite(p).all((1, 2)) & np.isfinite(g).all((1, 2))):
        u, s, vt = np.linalg.svd(p[t].T @ g[t])
        d = np.sign(np.linalg.det(u @ vt))
        s[-1] *= d
        u[:, -1] *= d
        scale = s.sum() / max((p[t] ** 2).sum(), 1e-12)
        out[t] = np.linalg.norm(scale * p[t] @ (u @ vt) - g[t], axis=-1).mean() * 1000.0
    return out


def subject_size(gt_2d: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(T,) pixels: the diagonal of the box around each image's visible labelled
    keypoints ((T, J, 2), (T, J) bool); NaN where fewer than two are visible."""
    return np.array([np.linalg.norm(g[v].max(0) - g[v].min(0)) if v.sum() > 1 else np.nan
                     for g, v in zip(gt_2d, visible, strict=True)])


def subject_pixel_errors(pred_2d: np.ndarray, gt_2d: np.ndarray,
                         visible: np.ndarray | None = None,
                         fraction: float = SUBJECT_PCK_FRACTION) -> dict[str, float]:
    """The 2D error of one clip in its own pixels, over the visible keypoints (what
    ``abspose demo`` prints; not the benchmark's :func:`frame_errors`): ``mean_px`` and
    ``median_px``, the distance between (T, J, 2) predictions and labels in the frame's
    pixels (no scaling to 128 x 128), and ``pck``, the fraction of those keypoints
    within ``fraction`` of the subject's size (:func:`subject_size`; an image where it
    is unknown counts as missed), pooled over the clip. ``visible`` (T, J): labelled
    visible (default all); keypoints with a NaN in the label or the prediction are
    left out too. NaN values when no keypoint is left."""
    gt = np.asarray(gt_2d, dtype=np.float64)
    pred = np.asarray(pred_2d, dtype=np.float64)
    vis = np.ones(gt.shape[:2], bool) if visible is None else np.asarray(visible) > 0
    vis = vis & np.isfinite(gt).all(-1) & np.isfinite(pred).all(-1)
    if not vis.any():
        return {"mean_px": math.nan, "median_px": math.nan, "pck": math.nan}
    err = np.linalg.norm(pred - gt, axis=-1)
    size = subject_size(gt, vis)
    return {"mean_px": float(err[vis].mean()), "median_px": float(np.median(err[vis])),
            "pck": float((err <= fraction * size[:, None])[vis].mean())}


def summarize(errors: Iterable[FrameErrors], thresholds: Sequence[float] = PCK_THRESHOLDS
              ) -> dict[str, dict[str, float]]:
    """{activity or "all": {metric: value}}: the numbers of one table row."""
    errors = list(errors)
    if not errors:
        raise InputError("nothing to summarize: no clip was evaluated")
    plain = np.concatenate([e.plain for e in errors])
    mirrored = np.concatenate([e.mirrored for e in errors])
    activity = np.concatenate([e.activity for e in errors])
    clear = np.concatenate([e.clear_flip for e in errors])
    per_kp = [e.per_keypoint for e in errors]
    has_3d = all(e.mpjpe is not None for e in errors)
    mpjpe = np.concatenate([e.mpjpe for e in errors]) if has_3d else None
    # PCK per image: the fraction of its keypoints within t (keypoint sets may differ)
    pck = {t: np.concatenate([(k <= t).mean(axis=1) for k in per_kp]) for t in thresholds}
    out: dict[str, dict[str, float]] = {}
    groups = [(ALL, np.ones(len(plain), bool))] + [(a, activity == a)
                                                     for a in sorted(set(activity))]
    for name, sel in groups:
        row = {
            "frames": int(sel.sum()),
            "error_consider_flips": float(plain[sel].mean()),
            "error_ignore_flips": float(np.minimum(plain, mirrored)[sel].mean()),
            "flip_rate": float((mirrored < plain)[sel].mean()),
            "flip_rate_clear": float(clear[sel].mean()),
        }
        for t in thresholds:
            row[f"pck@{t:g}"] = float(pck[t][sel].mean())
        if mpjpe is not None:
            row["mpjpe_mm"] = float(mpjpe[sel].mean())
        out[name] = row
    return out


def find_labelled_clips(folder: str | Path) -> list[tuple[Path, Path]]:
    """(video, labels) pairs in ``folder`` (:func:`training.clips.find_clips`), or an
    InputError saying what to give instead."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the folder `abspose synth` wrote "
                         "(videos with .npz labels next to them)")
    pairs = find_clips(folder)
    if not pairs:
        raise InputError(f"{folder}: no video with labels next to it (<name>.mp4 + "
                         "<name>.npz); write a benchmark with `abspose synth --out`")
    return pairs


def evaluate_folder(folder: str | Path, model_for: Callable[[Path], Any], device: str = "auto",
                    batch_size: int = 64, thresholds: Sequence[float] = PCK_THRESHOLDS,
                    progress: bool = False) -> dict[str, Any]:
    """Predict every labelled clip of ``folder`` and summarize.

    Args:
        model_for: video path -> the model to predict it with (the same model for all,
            or each clip's own refined model).
    Returns:
        ``{"summary": {activity: metrics}, "clips": {name: metrics of that clip}}``.
    """
    errors, clips = [], {}
    for video, npz in find_labelled_clips(folder):
        model = model_for(video)
        labels = load_labels(npz, model.skeleton)
        track = Predictor(model, device=device, batch_size=batch_size,
                          progress=progress).predict_video(video)
        if labels.frame_size != (0, 0) and tuple(track.frame_size) != labels.frame_size:
            raise InputError(f"{video}: frames are {track.frame_size}, its labels say "
                             f"{labels.frame_size}")
        pred3d = track.keypoints_3d if labels.keypoints_3d is not None else None
        fe = frame_errors(track.keypoints, labels, model.skeleton, track.frame_size, pred3d)
        errors.append(fe)
        clips[video.stem] = summarize([fe], thresholds)[ALL]
    return {"summary": summarize(errors, thresholds), "clips": clips}


def limb_errors(pred: np.ndarray, truth: np.ndarray, labelled: np.ndarray,
                skeleton: Skeleton, thresholds=PHOTO_PCK_THRESHOLDS) -> dict[str, float]:
    """Mean error (px) over the labelled limb points of (N, J, 2) predictions: as
    predicted (``px``) and with each person's left/right swap forgiven when it is closer
    (``px_ignore_flips``); PCK at ``thresholds`` px, both ways; ``people``, ``points``."""
    limbs = [skeleton.index(n) for n in LIMBS]
    swap = list(range(skeleton.num_keypoints))
    for a, b in skeleton.left_right:
        swap[a], swap[b] = swap[b], swap[a]
    err = np.linalg.norm(pred - truth, axis=-1)[:, limbs]
    err_sw = np.linalg.norm(pred[:, swap] - truth, axis=-1)[:, limbs]
    mask = labelled[:, limbs]
    if not mask.any():
        raise InputError("no labelled limb point (shoulders, elbows, wrists, hips, knees, "
                         "ankles) to score")
    mean = lambda e: (e * mask).sum(1) / np.maximum(mask.sum(1), 1)  # noqa: E731
    pick = mean(err_sw) < mean(err)
    forgiven = np.where(pick[:, None], err_sw, err)
    out = {"people": len(pred), "points": int(mask.sum()),
           "px": float(err[mask].mean()), "px_ignore_flips": float(forgiven[mask].mean()),
           "flipped_people": float(pick.mean())}
    for t in thresholds:
        out[f"pck@{t:g}"] = float((err[mask] <= t).mean())
        out[f"pck@{t:g}_ignore_flips"] = float((forgiven[mask] <= t).mean())
    return out


def evaluate_photos(path: str | Path, model, device: str = "auto", batch_size: int = 64
                    ) -> dict[str, Any]:
    """Predict every annotated person of a COCO keypoints JSON (one crop each at the
    model's input size) and score the limb points: ``{"summary": {source or "all":
    metrics}, "people": N}``."""
    skeleton = model.skeleton
    missing = [n for n in LIMBS if n not in skeleton.keypoints]
    if missing:
        raise InputError(f"the model's skeleton has no {', '.join(missing)}: photos are "
                         "scored on the HUMAN limb points")
    people = load_coco_people(path, skeleton)
    if not people:
        raise InputError(f"{path}: no annotated person")
    predictor = Predictor(model, device=device, batch_size=batch_size)
    size = predictor.input_size
    if size[0] != size[1]:
        raise InputError(f"photo crops are square; the model takes {size[1]} x {size[0]}")
    crops, truth, labelled = person_crops(people, size=size[0])
    track = predictor.predict_frames(crops)
    pred = np.asarray(track.keypoints, dtype=np.float64) * (METRIC_SIZE / size[0])
    truth = truth * (METRIC_SIZE / size[0])
    sources = np.array([p.source or "unknown" for p in people])
    summary = {ALL: limb_errors(pred, truth, labelled, skeleton)}
    limbs = [skeleton.index(n) for n in LIMBS]
    for s in sorted(set(sources)):
        sel = sources == s
        if labelled[sel][:, limbs].any():  # a source with no limb labels has no row
            summary[s] = limb_errors(pred[sel], truth[sel], labelled[sel], skeleton)
    return {"summary": summary, "people": len(people)}


def format_table(rows: dict[str, dict[str, dict[str, float]]], metric: str,
                 digits: int = 2) -> str:
    """A Markdown table: one row per model (``rows`` name -> summary), one column per
    activity and the overall mean, cells the ``metric``."""
    activities = sorted({a for s in rows.values() for a in s if a != ALL})
    head = "| model | " + " | ".join([*activities, ALL]) + " |"
    sep = "|---|" + "---:|" * (len(activities) + 1)
    lines = [head, sep]
    for name, summary in rows.items():
        cells = []
        for a in [*activities, ALL]:
            v = summary.get(a, {}).get(metric, math.nan)
            cells.append("—" if math.isnan(v) else f"{v:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    """Write results as JSON, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(results, indent=1, sort_keys=True) + "\n")
    return path
