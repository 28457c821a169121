"""What the model sees of a frame: letterbox, a fixed box, or a box that follows the subject.

Every crop is one axis-aligned similarity between model-input pixels ``u`` and original
pixels ``p`` (pixel centres at integers in both, the project convention)::

    p = scale * u + offset            (scale: original pixels per input pixel)

so keypoints map back to original pixels exactly (:meth:`CropTransform.to_original`),
whatever the padding and scaling. A box ``(x, y, w, h)`` covers the pixels
``x .. x + w - 1`` (continuous ``[x - 0.5, x + w - 0.5]``); the whole frame is
``(0, 0, W, H)``. A box whose aspect differs from the model input's is letterboxed:
scaled to fit, centred, the rest padded.

Large downscales (720p to 128 pixels) are filtered first: an exact integer-factor area
average (cv2.INTER_AREA), then a bilinear warp for the rest, so small limbs do not alias
away; the composed mapping stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import InputError, ShapeError

Box = tuple[float, float, float, float]  # x, y, w, h in original pixels


@dataclass(frozen=True)
class CropTransform:
    """The map between model-input pixels and original pixels: ``p = scale * u + offset``.

    Attributes:
        scale: original pixels per model-input pixel (the same along x and y).
        offset: (x, y) original-pixel position of input pixel (0, 0)'s centre.
        input_size: (H, W) of the model input.
    """

    scale: float
    offset: tuple[float, float]
    input_size: tuple[int, int]

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) model-input pixels -> original pixels."""
        return np.asarray(points, dtype=np.float64) * self.scale + np.asarray(self.offset)

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) original pixels -> model-input pixels."""
        return (np.asarray(points, dtype=np.float64) - np.asarray(self.offset)) / self.scale

    def normalized_to_original(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) normalized [-1, 1] model-input coordinates -> original pixels."""
        h, w = self.input_size
        u = ((np.asarray(points, dtype=np.float64) + 1.0) * np.array([w, h]) - 1.0) / 2.0
        return self.to_original(u)

    def original_to_normalized(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) original pixels -> normalized [-1, 1] model-input coordinates."""
        h, w = self.input_size
        return (2.0 * self.to_input(points) + 1.0) / np.array([w, h]) - 1.0

    @property
    def box(self) -> Box:
        """(x, y, w, h) of the original-pixel region the model input covers."""
        h, w = self.input_size
        x0, y0 = self.to_original(np.array([-0.5, -0.5])) + 0.5
        return (float(x0), float(y0), self.scale * w, self.scale * h)

    @property
    def principal_point(self) -> tuple[float, float]:
        """Original-pixel position of the model input's centre."""
        h, w = self.input_size
        cx, cy = self.to_original(np.array([(w - 1) / 2.0, (h - 1) / 2.0]))
        return float(cx), float(cy)

    def warp_matrix(self) -> np.ndarray:
        """(2, 3) affine from original to input pixels, for ``cv2.warpAffine``."""
        s, (tx, ty) = self.scale, self.offset
        return np.array([[1 / s, 0.0, -tx / s], [0.0, 1 / s, -ty / s]], dtype=np.float64)


def box_transform(box: Sequence[float], input_size: Sequence[int]) -> CropTransform:
    """The transform that letterboxes ``box`` (x, y, w, h, original pixels) into the input.

    The box is scaled to fit the input (H, W) keeping its aspect, and centred.
    """
    x, y, w, h = (float(v) for v in box)
    hi, wi = (int(v) for v in input_size)
    if not (w > 0 and h > 0 and all(map(math.isfinite, (x, y, w, h)))):
        raise InputError(f"crop box must have a positive, finite size, got {tuple(box)}")
    scale = max(w / wi, h / hi)
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0  # centre of the box's pixels
    offset = (cx - scale * (wi - 1) / 2.0, cy - scale * (hi - 1) / 2.0)
    return CropTransform(scale, offset, (hi, wi))


def letterbox_transform(frame_size: Sequence[int], input_size: Sequence[int]) -> CropTransform:
    """The whole frame (H, W) letterboxed into the model input (H, W)."""
    h, w = frame_size
    return box_transform((0, 0, w, h), input_size)


def check_box(box: Sequence[float], frame_size: Sequence[int]) -> Box:
    """Validate a user box (x, y, w, h) against a frame (H, W): positive size, overlapping."""
    if len(box) != 4:
        raise InputError(f"a box is x,y,w,h (4 numbers), got {tuple(box)}")
    x, y, w, h = (float(v) for v in box)
    fh, fw = frame_size
    if w <= 0 or h <= 0:
        raise InputError(f"box {x:g},{y:g},{w:g},{h:g}: width and height must be positive")
    if x >= fw or y >= fh or x + w <= 0 or y + h <= 0:
        raise InputError(f"box {x:g},{y:g},{w:g},{h:g} lies outside the {fw}x{fh} frame")
    return (x, y, w, h)


def crop_frame(frame: np.ndarray, transform: CropTransform, pad_value: float = 0.0,
               antialias: bool = True) -> np.ndarray:
    """The model input of one frame: (H, W, C) any dtype -> (H_in, W_in, C) same dtype.

    Pixels outside the frame are ``pad_value``. With ``antialias``, a downscale by 2 or
    more first averages k x k blocks (k the integer part of the scale), exactly.
    """
    if frame.ndim != 3:
        raise ShapeError(f"crop_frame: expected a frame (H, W, C), got {tuple(frame.shape)}")
    hi, wi = transform.input_size
    s, (tx, ty) = transform.scale, transform.offset
    src, k, ox, oy = frame, 1, 0, 0
    if antialias and s >= 2.0:
        k = int(s)
        fh, fw = frame.shape[:2]
        # frame region the input covers, a block of margin, aligned to multiples of k
        x0 = max(0, math.floor(tx - s / 2) - k)
        y0 = max(0, math.floor(ty - s / 2) - k)
        x1 = min(fw, math.ceil(tx + s * (wi - 0.5)) + k)
        y1 = min(fh, math.ceil(ty + s * (hi - 0.5)) + k)
        nw, nh = (x1 - x0) // k, (y1 - y0) // k
        if nw >= 1 and nh >= 1:
            region = frame[y0:y0 + nh * k, x0:x0 + nw * k]
            src = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA)
            src = src.reshape(nh, nw, frame.shape[2])
            ox, oy = x0 + (k - 1) / 2.0, y0 + (k - 1) / 2.0  # small pixel 0 -> original
        else:
            k = 1
    # input u -> src pixel: (s * u + t - o) / k
    inv = np.array([[s / k, 0.0, (tx - ox) / k], [0.0, s / k, (ty - oy) / k]])
    out = cv2.warpAffine(src, inv, (wi, hi), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(pad_value,) * 4)
    return out.reshape(hi, wi, frame.shape[2])


def crop_frames(frames: np.ndarray, transforms: CropTransform | Sequence[CropTransform],
                pad_value: float = 0.0, antialias: bool = True) -> np.ndarray:
    """(B, H, W, C) frames -> (B, H_in, W_in, C) model inputs, one transform or one each."""
    if frames.ndim != 4:
        raise ShapeError(f"crop_frames: expected frames (B, H, W, C), got {tuple(frames.shape)}")
    if isinstance(transforms, CropTransform):
        transforms = [transforms] * len(frames)
    if len(transforms) != len(frames):
        raise ShapeError(f"crop_frames: {len(frames)} frames but {len(transforms)} transforms")
    return np.stack([crop_frame(f, t, pad_value, antialias) for f, t in zip(frames, transforms,
                                                                               strict=True)])


def warp_to_original(image: np.ndarray, transform: CropTransform,
                     frame_size: Sequence[int]) -> np.ndarray:
    """A model-input-frame image (C, H_in, W_in) drawn onto the original frame (C, H, W).

    Used to show skeleton images over the video; outside the crop the result is 0.
    """
    if image.ndim != 3 or tuple(image.shape[1:]) != tuple(transform.input_size):
        raise ShapeError(f"warp_to_original: expected (C, {transform.input_size[0]}, "
                         f"{transform.input_size[1]}), got {tuple(image.shape)}")
    h, w = frame_size
    s, (tx, ty) = transform.scale, transform.offset
    inv = np.array([[1 / s, 0.0, -tx / s], [0.0, 1 / s, -ty / s]])  # original p -> input u
    img = np.ascontiguousarray(image, dtype=np.float32)
    return np.stack([cv2.warpAffine(c, inv, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                     for c in img])


@dataclass
class FollowCrop:
    """A crop that follows the subject: the box around the last confident keypoints.

    After each batch, :meth:`update` takes the batch's predictions (original pixels);
    :meth:`transform` gives the crop for the next batch. The box holds the keypoints of
    the batch's last usable frame and, moving at the batch's speed, where they will be
    by the end of the next batch of the same length; it is enlarged by ``margin`` of the
    subject's size on each side and is at least ``min_size`` of the frame's short side.
    When the subject is lost (in no frame are ``min_keypoints`` of the keypoints
    confident, or the mean confidence is under ``min_mean_confidence``), it falls back to
    the whole frame until the subject is found again.

    Args:
        frame_size: (H, W) of the video.
        input_size: (H, W) of the model input.
    """

    frame_size: tuple[int, int]
    input_size: tuple[int, int]
    margin: float = 0.25
    min_confidence: float = 0.3
    min_keypoints: float = 0.5
    min_mean_confidence: float = 0.3
    min_size: float = 0.15
    box: Box | None = None  # None: the whole frame

    def transform(self) -> CropTransform:
        """The crop for the next batch."""
        if self.box is None:
            return letterbox_transform(self.frame_size, self.input_size)
        return box_transform(self.box, self.input_size)

    def update(self, keypoints: np.ndarray, confidence: np.ndarray) -> None:
        """Move the box to a batch's predictions: keypoints (B, J, 2) pixels, conf (B, J)."""
        kp = np.asarray(keypoints, dtype=np.float64)
        conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)
        if kp.ndim == 2:
            kp, conf = kp[None], conf[None]
        if kp.ndim != 3 or kp.shape[-1] != 2 or conf.shape != kp.shape[:2]:
            raise ShapeError(f"FollowCrop.update: expected keypoints (B, J, 2) and confidence "
                             f"(B, J), got {kp.shape} and {conf.shape}")
        good = (conf >= self.min_confidence) & np.isfinite(kp).all(axis=-1)  # (B, J)
        usable = np.flatnonzero(good.mean(axis=1) >= self.min_keypoints)
        if not len(usable) or conf.mean() < self.min_mean_confidence:
            self.box = None
            return
        last = usable[-1]
        lo, hi = kp[last][good[last]].min(axis=0), kp[last][good[last]].max(axis=0)
        ahead = np.zeros(2)
        if len(usable) >= 2:
            first = usable[0]
            c0 = (kp[first][good[first]].min(0) + kp[first][good[first]].max(0)) / 2
            speed = ((lo + hi) / 2 - c0) / (last - first)  # pixels per frame
            ahead = speed * len(kp)
        body = float((hi - lo).max())
        lo = np.minimum(lo, lo + ahead) - self.margin * body
        hi = np.maximum(hi, hi + ahead) + self.margin * body
        fh, fw = self.frame_size
        ih, iw = self.input_size
        w = max(float(hi[0] - lo[0]), float(hi[1] - lo[1]) * iw / ih,
                self.min_size * min(fh, fw) * max(1.0, iw / ih))
        h = w * ih / iw
        if w / iw >= letterbox_transform(self.frame_size, self.input_size).scale:
            self.box = None  # no smaller than the whole frame: use the whole frame
            return
        cx, cy = (lo + hi) / 2.0
        self.box = (cx - (w - 1) / 2.0, cy - (h - 1) / 2.0, w, h)
