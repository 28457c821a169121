"""A video file as a lazy (T, H, W, 3) uint8 array: frames are decoded when napari asks.

Opening reads the header and the first frame only, so a 100k-frame video opens as fast
as a short one. :class:`LazyVideo` keeps one OpenCV capture open and serves a frame

* from a small LRU cache when it was read recently (scrubbing back and forth),
* by reading on when it is the next frame (playback), or a few frames ahead (grab, no
  decode of the frames skipped),
* by seeking (``CAP_PROP_POS_FRAMES``) otherwise, then reading.

Indexing follows numpy for the frame axis (int, slice, list/array of ints, negative
indices); the other axes are applied to the decoded frames. Thread-safe: napari may
slice from a worker thread.

A frame the decoder cannot produce (the container stated more frames than there are)
comes back black, with one warning in the log.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import InputError
from core.video import VideoReader

log = logging.getLogger(__name__)

READ_AHEAD = 48  # frames: below this gap, grabbing forward beats a seek (keyframe + decode)


def _frame_index(index: int, count: int) -> int:
    """``index`` as 0..count-1 (negative counts from the end); IndexError outside."""
    i = int(index)
    if i < 0:
        i += count
    if not 0 <= i < count:
        raise IndexError(f"frame {index} out of range for a video of {count} frames")
    return i


class _LRU:
    """The last ``size`` arrays by frame index, read-only; the owner holds the lock."""

    def __init__(self, size: int):
        self.size = max(1, int(size))
        self.items: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, i: int) -> np.ndarray | None:
        hit = self.items.get(i)
        if hit is not None:
            self.items.move_to_end(i)
        return hit

    def put(self, i: int, value: np.ndarray) -> np.ndarray:
        value.setflags(write=False)
        self.items[i] = value
        while len(self.items) > self.size:
            self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        self.items.clear()


class LazyVideo:
    """A read-only array-like view of a video file, shape (T, H, W, 3), dtype uint8.

    Args:
        path: the video file (anything OpenCV reads).
        cache_size: decoded frames kept in memory (LRU).
        frame_count: the number of frames, when known; default the count the file
            states, or a fast walk of the file (no decoding) when it states none.

    Example:
        >>> video = LazyVideo("clip.mp4")                       # doctest: +SKIP
        >>> video.shape, video[10].shape                        # doctest: +SKIP
        ((225, 406, 720, 3), (406, 720, 3))
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: str | Path, cache_size: int = 64, frame_count: int | None = None):
        reader = VideoReader(path)  # checks the file: exists, decodes a first frame
        self.path = Path(path)
        self.fps = reader.fps
        h, w = reader.size
        n = frame_count or reader.stated_frame_count or reader.count_frames()
        self.shape: tuple[int, int, int, int] = (int(n), int(h), int(w), 3)
        self._cache = _LRU(cache_size)
        self._lock = threading.RLock()
        self._cap: cv2.VideoCapture | None = None
        self._pos = 0  # index of the frame the capture decodes next
        self._warned = False
        self.stats = {"cached": 0, "sequential": 0, "grabbed": 0, "seeks": 0}

    def __repr__(self) -> str:
        t, h, w, _ = self.shape
        return f"LazyVideo({str(self.path)!r}, {t} frames, {w}x{h}, fps={self.fps:g})"

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def frame_size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return self.shape[1], self.shape[2]

    # -- frames -----------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (negative counts from the end) as RGB uint8 (H, W, 3)."""
        i = _frame_index(index, self.shape[0])
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self.stats["cached"] += 1
                return hit
            return self._cache.put(i, self._decode(i))

    def _capture(self) -> cv2.VideoCapture:
        if self._cap is None:
            self._cap = cv2.VideoCapture(str(self.path))
            self._pos = 0
            if not self._cap.isOpened():
                self._cap = None
                raise InputError(f"{self.path}: the video can no longer be opened")
        return self._cap

    def _decode(self, i: int) -> np.ndarray:
        cap = self._capture()
        if i == self._pos:
            self.stats["sequential"] += 1
        elif self._pos < i <= self._pos + READ_AHEAD:
            self.stats["grabbed"] += 1
            while self._pos < i and cap.grab():
                self._pos += 1
        else:
            self.stats["seeks"] += 1
            cap.set(cv2.CAP_PROP_POS_FRAMES, float(i))
            self._pos = i
        ok, bgr = cap.read() if self._pos == i else (False, None)
        if not ok or bgr is None:
            self._reset()
            if not self._warned:
                log.warning("%s: frame %d could not be decoded (the file states %d frames); "
                            "showing black", self.path, i, self.shape[0])
                self._warned = True
            return np.zeros(self.shape[1:], dtype=np.uint8)
        self._pos = i + 1
        if bgr.shape[:2] != self.shape[1:3]:
            bgr = cv2.resize(bgr, (self.shape[2], self.shape[1]), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _reset(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._pos = 0

    def close(self) -> None:
        """Release the decoder and the cache (the object stays usable: it reopens)."""
        with self._lock:
            self._reset()
            self._cache.clear()

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self._reset()
        except Exception:
            pass

    # -- numpy-style indexing ---------------------------------------------------------
    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            at = next(n for n, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1:]
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)):
            out = self.frame(int(first))
        else:
            idx = np.arange(self.shape[0])[first]
            out = np.stack([self.frame(int(i)) for i in np.atleast_1d(idx)]) if np.size(idx) \
                else np.zeros((0, *self.shape[1:]), dtype=np.uint8)
            rest = (slice(None), *rest)
        return out[rest] if rest else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every frame decoded into memory (avoid for long videos)."""
        log.warning("%s: decoding all %d frames into memory", self.path, self.shape[0])
        out = self[:]
        return out if dtype is None else out.astype(dtype)


class LazySkeletonImages:
    """The model's skeleton images of a video's frames, computed when a frame is shown.

    ``frame(t)`` runs the model on frame ``t`` (the region it saw there, ``boxes[t]``,
    when the prediction recorded one) and warps the skeleton image onto the frame:
    (C, H, W) float32 in [0, 1]. A few frames are cached. :meth:`channel` gives one
    channel as a (T, H, W) array-like for an additive image layer.

    Args:
        video: the frames, e.g. a :class:`LazyVideo` (anything indexable by frame).
        predictor: a :class:`core.predict.Predictor` (its ``skeleton_images`` method).
        boxes: (T, 4) x, y, w, h per frame (``Track.boxes``), or None.
    """

    def __init__(self, video: Any, predictor: Any, boxes: np.ndarray | None = None,
                 cache_size: int = 8):
        self.video = video
        self.predictor = predictor
        self.boxes = None if boxes is None else np.asarray(boxes, dtype=np.float64)
        t, h, w = video.shape[:3]
        self.num_channels = int(predictor.model.num_channels)
        self.shape = (int(t), self.num_channels, int(h), int(w))
        self._cache = _LRU(cache_size)
        self._lock = threading.RLock()

    def frame(self, index: int) -> np.ndarray:
        """(C, H, W) float32 skeleton image of frame ``index`` in original pixels."""
        i = _frame_index(index, self.shape[0])
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                return hit
            frame = np.asarray(self.video[i])[None]
            boxes = None
            if self.boxes is not None and i < len(self.boxes) and np.isfinite(self.boxes[i]).all():
                boxes = self.boxes[i][None]
            image = self.predictor.skeleton_images(frame, boxes)[0].astype(np.float32)
            return self._cache.put(i, image)

    def channel(self, c: int) -> ChannelView:
        return ChannelView(self, c)


class ChannelView:
    """One channel of :class:`LazySkeletonImages` as a (T, H, W) float32 array-like."""

    dtype = np.dtype(np.float32)
    ndim = 3

    def __init__(self, source: LazySkeletonImages, channel: int):
        if not 0 <= channel < source.num_channels:
            raise IndexError(f"channel {channel} out of range ({source.num_channels} channels)")
        self.source, self.channel_index = source, int(channel)
        t, _, h, w = source.shape
        self.shape = (t, h, w)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        first, rest = key[0], key[1:]
        if first is Ellipsis:
            first, rest = slice(None), (Ellipsis, *rest)
        if isinstance(first, (int, np.integer)):
            out = self.source.frame(int(first))[self.channel_index]
        else:
            idx = np.atleast_1d(np.arange(self.shape[0])[first])
            out = np.stack([self.source.frame(int(i))[self.channel_index] for i in idx]) \
                if idx.size else np.zeros((0, *self.shape[1:]), np.float32)
            rest = (slice(None), *rest)
        return out[rest] if rest else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)
