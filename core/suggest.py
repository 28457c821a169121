"""Frames worth fixing: the K frames of a prediction a person should correct first.

Four signs that a frame is wrong, each measured on the predicted track alone:

* a suspected left/right flip (``Track.flip_suspect``, from :mod:`core.flips`);
* low confidence (the frame's mean keypoint confidence);
* a jump: keypoints that leave both neighbouring frames far behind, in body sizes
  (a one-frame glitch; steady fast motion moves away from one neighbour only);
* an unusual pose: far from every cluster of the video's predicted poses.

Each continuous sign is measured against the video itself (robust standard deviations
from its median), since a model's usual confidence and motion differ from video to
video. Frames are ranked by their strongest sign, then picked so that the K frames are
not K copies of one mistake: a frame from a pose cluster already picked counts for less,
and no pick lies within a few frames of another. Frames already corrected by hand are
skipped. Each suggestion says why it was picked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InputError
from core.track import Track

# a continuous sign counts from this many robust standard deviations from the usual
OUTLIER_Z = 3.0
MAX_SIGN = 3.0  # a sign's score is z / OUTLIER_Z, at most this
FLIP_SCORE = MAX_SIGN  # a suspected flip ranks with the grossest outliers
MIN_JUMP = 0.05  # body sizes: smaller jumps are motion, whatever their z
REPEAT_PENALTY = 0.5  # score taken off per frame already picked from the same cluster


@dataclass(frozen=True)
class Suggestion:
    """One frame to correct: its index, why (most telling first) and the rank score."""

    frame: int
    reasons: tuple[str, ...]
    score: float

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _body_size(kp: np.ndarray) -> np.ndarray:
    """(T,) the diagonal of each frame's keypoint box, pixels (NaN where none)."""
    ok = np.isfinite(kp).all(-1)
    lo = np.where(ok[..., None], kp, np.inf).min(1)
    hi = np.where(ok[..., None], kp, -np.inf).max(1)
    size = np.linalg.norm(hi - lo, axis=-1)
    return np.where(ok.any(1), size, np.nan)


def jump_scores(keypoints: np.ndarray) -> np.ndarray:
    """(T,) per frame: the largest distance of a keypoint to the nearer of its two
    neighbouring frames' positions, in body sizes (one point that leaves both
    neighbours, such as a wrist on the wrong side for one frame, is enough)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    t = len(kp)
    if t < 3:
        return np.zeros(t)
    size = np.nanmedian(_body_size(kp))
    size = size if np.isfinite(size) and size > 0 else 1.0
    d_prev = np.full(kp.shape[:2], np.inf)
    d_next = np.full(kp.shape[:2], np.inf)
    d = np.linalg.norm(kp[1:] - kp[:-1], axis=-1)
    d_prev[1:], d_next[:-1] = d, d
    near = np.fmin(d_prev, d_next)
    near = np.where(np.isfinite(near), near, np.nan)
    with np.errstate(all="ignore"):
        out = np.nanmax(near, axis=1) / size
    return np.nan_to_num(out)


def normalized_poses(keypoints: np.ndarray) -> np.ndarray:
    """(T, 2J) poses without position and scale: centred on their mean keypoint,
    divided by the body size; missing points at the centre."""
    kp = np.asarray(keypoints, dtype=np.float64)
    centre = np.nanmean(np.where(np.isfinite(kp), kp, np.nan), axis=1, keepdims=True)
    size = _body_size(kp)[:, None, None]
    with np.errstate(all="ignore"):
        x = (kp - centre) / np.where(size > 0, size, np.nan)
    return np.nan_to_num(x).reshape(len(kp), -1)


def kmeans(x: np.ndarray, k: int, iterations: int = 25, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), distances to the own centre (N,)): k-means with k-means++ seeding,
    deterministic for a seed."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(n)]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        if d2.sum() <= 0:
            break
        centres.append(x[rng.choice(n, p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iterations):
        labels = _sq_dist(x, c).argmin(1)
        new = np.stack([x[labels == i].mean(0) if (labels == i).any() else c[i]
                        for i in range(len(c))])
        if np.allclose(new, c):
            break
        c = new
    dist = _sq_dist(x, c)
    labels = dist.argmin(1)
    return labels, np.sqrt(dist[np.arange(n), labels])


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N, K) squared distances between rows of x (N, D) and c (K, D), without an
    (N, K, D) array: a long video has hundreds of thousands of frames."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None]
    return np.maximum(d, 0.0)


def suggest_frames(track: Track, k: int = 10, edited: np.ndarray | None = None,
                   min_gap: int | None = None, seed: int = 0) -> list[Suggestion]:
    """The ``k`` frames of ``track`` worth correcting first, most worth first.

    Args:
        track: the predictions (keypoints, confidence, flip_suspect).
        k: how many frames.
        edited: (T, J) bool, points already corrected by hand: their frames are skipped.
        min_gap: picks are at least this many frames apart (default: a third of the
            video's length over ``k``, at least 3), so they spread over the video.
        seed: the clustering's seed.
    """
    if k <= 0:
        raise InputError(f"the number of frames to suggest must be positive, got {k}")
    t = len(track)
    if t == 0:
        return []
    kp = track.keypoints
    done = np.zeros(t, bool) if edited is None else np.asarray(edited, bool).any(1)
    if done.shape != (t,):
        raise InputError(f"edited: expected ({t}, {track.num_keypoints}) flags, "
                         f"got {np.shape(edited)}")
    present = np.isfinite(kp).all(-1).any(1) & ~done
    if not present.any():
        return []
    with np.errstate(all="ignore"):
        conf = np.nanmean(np.where(np.isfinite(track.confidence), track.confidence, np.nan), 1)
    conf = np.nan_to_num(conf)
    flips = np.asarray(track.flip_suspect, bool)
    jumps = jump_scores(kp)
    idx = np.flatnonzero(present)
    labels, rarity = pose_rarity(normalized_poses(kp)[idx], k, seed)
    # each continuous sign in robust standard deviations from the video's usual value
    z_low = _robust_z(-conf[idx])
    z_jump = np.where(jumps[idx] >= MIN_JUMP, _robust_z(jumps[idx]), 0.0)
    z_rare = _robust_z(rarity)
    signs = np.stack([np.where(flips[idx], FLIP_SCORE, 0.0),
                      *(np.clip(z / OUTLIER_Z, 0.0, MAX_SIGN) for z in (z_low, z_jump, z_rare))],
                     1)
    score = signs.max(1) + 0.1 * signs.sum(1)

    gap = max(3, t // (3 * k)) if min_gap is None else int(min_gap)
    open_ = np.ones(len(idx), bool)
    repeats = np.zeros(int(labels.max()) + 1)
    picked: list[int] = []
    while len(picked) < k and open_.any():
        # a second frame of a pose cluster already picked counts for less
        eff = np.where(open_, score - REPEAT_PENALTY * repeats[labels], -np.inf)
        r = int(np.argmax(eff))
        picked.append(r)
        repeats[labels[r]] += 1
        open_ &= np.abs(idx - idx[r]) >= gap
        open_[r] = False
        if not open_.any() and len(picked) < k:  # a short video: relax the gap
            open_ = np.ones(len(idx), bool)
            open_[picked] = False
    out = []
    for r in picked:
        f = int(idx[r])
        named = sorted(
            [(signs[r, 0], "suspected left/right flip"),
             (signs[r, 1], f"low confidence ({conf[f]:.2f})"),
             (signs[r, 2], f"jumps from its neighbours ({jumps[f]:.2f} body sizes)"),
             (signs[r, 3], "an unusual pose")], key=lambda v: -v[0])
        reasons = [text for value, text in named if value >= 1.0]
        if not reasons:  # nothing stands out: say which sign ranked it
            reasons = [f"nothing stands out (nearest: {named[0][1]})"]
        out.append(Suggestion(f, tuple(reasons), float(score[r])))
    return out


def _robust_z(v: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 MAD), with a floor on the spread so that a constant
    signal gives no outliers."""
    v = np.asarray(v, dtype=np.float64)
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    floor = 1e-3 * max(float(np.abs(v).max()), 1e-6)
    return (v - med) / max(mad, floor)


def pose_rarity(poses: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(cluster labels, rarity) of normalized poses (N, D): k-means into up to ``k``
    clusters; a pose's rarity is its distance to its cluster's centre, or, in a cluster
    too small to be a usual pose (under 2 % of the frames), to the nearest usual
    cluster's centre."""
    n = len(poses)
    labels, dist = kmeans(poses, max(1, min(k, n)), seed=seed)
    count = np.bincount(labels, minlength=labels.max() + 1)
    usual = count >= max(2, 0.02 * n)
    if usual.any() and not usual.all():
        centres = np.stack([poses[labels == c].mean(0) if count[c] else poses[0]
                            for c in range(len(count))])
        to_usual = np.sqrt(_sq_dist(poses, centres[usual]).min(1))
        dist = np.where(usual[labels], dist, to_usual)
    return labels, dist
