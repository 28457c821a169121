"""The model's skeleton images over a video as lazy napari layer data: computed for a
frame when napari shows it.

The video itself is a :class:`core.video.LazyVideo` (the reader's image layer);
:class:`LazySkeletonImages` runs the model on the frames it is asked for and
:class:`ChannelView` gives one channel as the data of an additive image layer.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from core.video import LRUCache, normalize_index


class LazySkeletonImages:
    """The model's skeleton images of a video's frames, computed when a frame is shown.

    ``frame(t)`` runs the model on frame ``t`` (the region it saw there, ``boxes[t]``,
    when the prediction recorded one) and warps the skeleton image onto the frame:
    (C, H, W) float32 in [0, 1]. A few frames are cached. :meth:`channel` gives one
    channel as a (T, H, W) array-like for an additive image layer.

    Args:
        video: the frames, e.g. a :class:`core.video.LazyVideo` (anything indexable
            by frame).
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
        self._cache = LRUCache(cache_size)
        self._lock = threading.RLock()

    def frame(self, index: int) -> np.ndarray:
        """(C, H, W) float32 skeleton image of frame ``index`` in original pixels."""
        i = normalize_index(index, self.shape[0])
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
