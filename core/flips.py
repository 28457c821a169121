"""Left/right flips and temporal smoothing of keypoint tracks.

A *flip* is the classic failure of 2D pose estimators: the left and right limbs are
found but their labels are swapped. Two independent signs of one:

* :func:`temporal_flips`: the left/right-relabelled pose continues the neighbouring
  frames better than the prediction does (temporal consistency).
* :func:`channel_disagreement`: the multi-channel skeleton image the model predicted
  (left and right limbs in different channels) matches the skeleton image drawn from
  the relabelled keypoints better than the one drawn from the keypoints themselves,
  so the keypoints disagree with the model's own left and right channels.

:func:`one_euro_filter` is the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), an
adaptive low-pass that smooths slow motion strongly and fast motion little.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import InputError, ShapeError, check_shape
from core.skeleton import Skeleton
from core.skeleton_image import render_skeleton_image


def _pairs(skeleton: Skeleton | Sequence[tuple[int, int]], num_keypoints: int) -> np.ndarray:
    pairs = skeleton.left_right if isinstance(skeleton, Skeleton) else skeleton
    pairs = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_keypoints):
        raise InputError(f"left/right pairs refer to keypoints outside 0..{num_keypoints - 1}")
    return pairs


def temporal_flips(keypoints: np.ndarray, confidence: np.ndarray | None,
                   skeleton: Skeleton | Sequence[tuple[int, int]], ratio: float = 0.6,
                   min_gap: float = 0.03, min_confidence: float = 0.3) -> np.ndarray:
    """Frames whose left/right labelling disagrees with the rest of the track.

    Walking through the frames, each frame is compared with the previous usable frame
    (as labelled consistently with frame 0): if swapping its left and right keypoints
    brings it closer (mean distance of the sided keypoints below ``ratio`` times that
    of the prediction, and closer by at least ``min_gap`` of the subject's size), the
    frame is labelled the other way round. The frames in the minority labelling are the
    suspects. Gradual changes (a subject turning round) never trigger: between
    consecutive frames the prediction itself stays the closer one.

    Args:
        keypoints: (T, J, 2) pixels; NaN where missing.
        confidence: (T, J) in [0, 1], or None (all usable).
        skeleton: a Skeleton, or its left/right keypoint index pairs.

    Returns:
        (T,) bool.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ShapeError(f"temporal_flips: expected keypoints (T, J, 2), got {keypoints.shape}")
    t_len, j = keypoints.shape[:2]
    conf = np.ones((t_len, j)) if confidence is None else np.asarray(confidence, np.float64)
    check_shape("temporal_flips: confidence", conf.shape, (t_len, j))
    pairs = _pairs(skeleton, j)
    out = np.zeros(t_len, dtype=bool)
    if t_len < 2 or not pairs.size:
        return out
    perm = np.arange(j)
    perm[pairs[:, 0]], perm[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
    sided = np.zeros(j, dtype=bool)
    sided[pairs.ravel()] = True
    usable = (np.nan_to_num(conf) >= min_confidence) & np.isfinite(keypoints).all(-1)
    scale = _subject_size(keypoints, usable)

    state = np.zeros(t_len, dtype=np.int8)  # 1: labelled the other way round from frame 0
    decided = np.zeros(t_len, dtype=bool)
    ref, ref_ok = None, None
    for t in range(t_len):
        k, ok = keypoints[t], usable[t]
        if ref is None:
            if (ok & sided).sum() >= 2:
                ref, ref_ok, decided[t] = k, ok, True
            continue
        straight = ok & ref_ok & sided
        mirrored = ok[perm] & ref_ok & sided
        if straight.sum() < 2 or mirrored.sum() < 2:
            continue
        d_s = np.linalg.norm(k[straight] - ref[straight], axis=-1).mean()
        d_m = np.linalg.norm(k[perm][mirrored] - ref[mirrored], axis=-1).mean()
        swap = d_m < ratio * d_s and d_s - d_m > min_gap * scale
        state[t], decided[t] = int(swap), True
        ref, ref_ok = (k[perm], ok[perm]) if swap else (k, ok)
    ones = int(state[decided].sum())
    minority = 1 if ones * 2 <= int(decided.sum()) else 0
    out[decided & (state == minority)] = True
    return out


def _subject_size(keypoints: np.ndarray, usable: np.ndarray) -> float:
    """Median over frames of the diagonal of the usable keypoints' bounding box."""
    sizes = []
    for k, ok in zip(keypoints, usable, strict=True):
        if ok.sum() >= 2:
            sizes.append(float(np.linalg.norm(k[ok].max(0) - k[ok].min(0))))
    size = float(np.median(sizes)) if sizes else 0.0
    return size if size > 0 else 1.0


def channel_disagreement(skeleton_image: torch.Tensor, keypoints: torch.Tensor,
                         skeleton: Skeleton, layout: str, gamma: float = 250.0,
                         threshold: float = 0.2) -> torch.Tensor:
    """Frames where the predicted left/right channels fit the relabelled keypoints better.

    Draws the skeleton image of the keypoints and of the keypoints with left and right
    swapped, and compares each with the predicted skeleton image on the channels that
    the swap changes. ``score = (e_straight - e_swapped) / (e_straight + e_swapped)``
    with e the mean squared difference; a frame disagrees when the score exceeds
    ``threshold``. A one-channel layout never disagrees (it cannot tell sides apart).

    Args:
        skeleton_image: (B, C, H, W) predicted, values in [0, 1].
        keypoints: (B, J, 2) normalized [-1, 1] in the same image.

    Returns:
        (B,) bool.
    """
    return channel_flip_score(skeleton_image, keypoints, skeleton, layout, gamma) > threshold


@torch.no_grad()
def channel_flip_score(skeleton_image: torch.Tensor, keypoints: torch.Tensor,
                       skeleton: Skeleton, layout: str, gamma: float = 250.0,
                       max_size: int = 64) -> torch.Tensor:
    """(B,) score in [-1, 1] of :func:`channel_disagreement`; > 0 leans to a flip.

    Images larger than ``max_size`` are compared at a reduced size (area-averaged by an
    integer factor; the drawings are made at that size with the same ``gamma``, which is
    in normalized units), which is enough to tell the sides apart and 4 times faster at
    128 x 128.
    """
    c = skeleton.num_channels(layout)
    check_shape("channel_flip_score: skeleton_image", skeleton_image.shape, ("B", c, "H", "W"))
    b, _, h, w = skeleton_image.shape
    check_shape("channel_flip_score: keypoints", keypoints.shape, (b, skeleton.num_keypoints, 2))
    pred = skeleton_image.detach().float()
    f = max(1, math.ceil(max(h, w) / max_size))
    if f > 1 and h % f == 0 and w % f == 0:
        pred = torch.nn.functional.avg_pool2d(pred, f)
        h, w = h // f, w // f
    kp = keypoints.detach().float().to(pred.device)
    straight = render_skeleton_image(kp, skeleton, layout, (h, w), gamma=gamma)
    swapped = render_skeleton_image(skeleton.mirror(kp), skeleton, layout, (h, w), gamma=gamma)
    changed = ((straight - swapped).abs().flatten(2).amax(-1) > 1e-3).float()  # (B, C)
    e_s = (((pred - straight) ** 2).flatten(2).mean(-1) * changed).sum(1)
    e_m = (((pred - swapped) ** 2).flatten(2).mean(-1) * changed).sum(1)
    return torch.where(changed.sum(1) > 0, (e_s - e_m) / (e_s + e_m).clamp_min(1e-12),
                       torch.zeros_like(e_s))


@dataclass(frozen=True)
class OneEuro:
    """Parameters of the One-Euro filter, in the units of the signal (pixels) and Hz.

    min_cutoff: cutoff (Hz) at rest; lower smooths more. beta: how fast the cutoff rises
    with speed (per pixel/s); higher lags less on fast motion. d_cutoff: cutoff (Hz) of
    the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, rate: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau * rate)


def one_euro_filter(x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.05,
                    d_cutoff: float = 1.0) -> np.ndarray:
    """Smooth a (T, ...) signal along time with the One-Euro filter, every element apart.

    NaN samples stay NaN and do not update the filter (it resumes from the last valid
    sample). Returns a float64 array of the same shape.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ShapeError(f"one_euro_filter: expected a (T, ...) array, got shape {x.shape}")
    if not fps > 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
        raise InputError("one_euro_filter: fps, min_cutoff and d_cutoff must be positive and "
                         "beta non-negative")
    out = np.full_like(x, np.nan)
    if x.shape[0] == 0:
        return out
    a_d = _alpha(d_cutoff, fps)
    prev = np.full(x.shape[1:], np.nan)
    dprev = np.zeros(x.shape[1:])
    for t in range(x.shape[0]):
        cur = x[t]
        valid = np.isfinite(cur)
        fresh = valid & ~np.isfinite(prev)  # first valid sample: taken as is
        dx = np.where(valid & ~fresh, (cur - prev) * fps, 0.0)
        dhat = np.where(valid & ~fresh, a_d * dx + (1.0 - a_d) * dprev, dprev)
        a = _alpha(min_cutoff + beta * np.abs(dhat), fps)
        new = np.where(fresh, cur, a * cur + (1.0 - a) * prev)
        prev = np.where(valid, new, prev)
        dprev = dhat
        out[t] = np.where(valid, prev, np.nan)
    return out
