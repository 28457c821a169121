"""Video in and out with OpenCV: streamed RGB frames, a lazy array over a video file,
and an atomic mp4 writer.

Frames are read one at a time (or in batches) and never all at once, so memory stays
flat with the length of the video. Frames are RGB uint8 arrays (H, W, 3).
:class:`VideoReader` streams a file (and reads chosen frames exactly by walking it);
:class:`LazyVideo` is a (T, H, W, 3) array-like with random access for viewers.

The frame count a container states is a hint, not a fact: files cut short, variable
frame-rate phone videos and image sequences all state counts that are wrong or
missing. :class:`VideoReader` reads until the decoder stops and records how many
frames there really were (:attr:`VideoReader.frames_read`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.crop import letterbox_transform
from core.errors import InputError, ShapeError
from core.io import usual_file_mode

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".mts",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_MAX_PLAUSIBLE_FRAMES = 10_000_000  # above this a stated count is garbage (image files: -2**63)


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` has a video file extension (used to list a folder's videos)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def list_videos(folder: str | Path) -> list[Path]:
    """The video files directly inside ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and is_video_file(p) and not p.name.startswith("."))


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder`` (an image sequence's frames), sorted by
    name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_image(path: str | Path) -> np.ndarray:
    """One picture file as RGB uint8 (H, W, 3); an InputError when it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_frame_size(size: tuple[int, int], input_size: tuple[int, int],
                     where: str | Path | None = None) -> None:
    """InputError when frames of ``size`` (H, W) are smaller than the model input
    ``input_size`` (H, W) on either side of the letterboxed square (they would be
    scaled up: nothing to find there)."""
    if letterbox_transform(size, input_size).scale < 1.0:
        h, w = size
        prefix = f"{where}: " if where is not None else ""
        raise InputError(f"{prefix}frames of {w}x{h} pixels are smaller than the model "
                         f"input {input_size[1]}x{input_size[0]}")


def check_footage(path: str | Path, input_size: tuple[int, int] | None = None
                  ) -> tuple[int, int]:
    """The frame size (H, W) of a video file or an image-sequence folder, after the check
    that every command reading footage makes first (predict, train, refine, review):
    it exists, its first frame decodes, and (given the model's ``input_size``) the
    frames are not smaller than the model input. Raises :class:`InputError` in one line.
    """
    path = Path(path)
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise InputError(f"{path}: a folder with no video file and no image "
                             f"({', '.join(IMAGE_EXTENSIONS)}) in it")
        first = read_image(images[0])
        size = (int(first.shape[0]), int(first.shape[1]))
    else:
        size = VideoReader(path).size
    if input_size is not None:
        check_frame_size(size, tuple(input_size), path)
    return size


def _open_capture(path: str) -> cv2.VideoCapture:
    """Open a capture (a separate function so tests can hand in one that misbehaves)."""
    return cv2.VideoCapture(path)


def _grab_to(cap: cv2.VideoCapture, pos: int, index: int) -> int:
    """Walk ``cap`` from frame ``pos`` towards ``index`` without decoding (grab); the
    position reached: ``index``, or less where the decoder stopped first."""
    while pos < index and cap.grab():
        pos += 1
    return pos


class VideoReader:
    """Streamed reading of a video file, RGB frames out.

    Opening reads the first frame, so a file that is not a video, is corrupt or has no
    frames fails here with an :class:`InputError` naming the file.

    Args:
        path: the video file.

    Attributes:
        path: the file.
        fps: frames per second stated by the file (30.0 when it states none).
        size: (H, W) of the frames, from the first decoded frame.
        stated_frame_count: the count the container states, or None when it states none
            or an implausible one. May be wrong; see :attr:`frames_read`.
        frames_read: frames decoded so far by the last full pass; after iterating to the
            end this is the true frame count.

    Example:
        >>> reader = VideoReader("clip.mp4")                 # doctest: +SKIP
        >>> for start, batch in reader.batches(32):          # batch (B, H, W, 3) uint8 RGB
        ...     ...
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder, expected a video file")
        cap = _open_capture(str(self.path))
        try:
            if not cap.isOpened():
                raise InputError(f"{self.path}: not a video OpenCV can read (not a video file, "
                                 "corrupt, or an unsupported codec)")
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            fps = cap.get(cv2.CAP_PROP_FPS)
            ok, first = cap.read()
        finally:
            cap.release()
        if not ok or first is None:
            if count is not None and 0 <= count < 1:
                raise InputError(f"{self.path}: the video has zero frames")
            raise InputError(f"{self.path}: no frame could be decoded (corrupt or empty video)")
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 30.0
        self.size: tuple[int, int] = (int(first.shape[0]), int(first.shape[1]))
        self.stated_frame_count: int | None = (
            round(count) if count and 0 < count < _MAX_PLAUSIBLE_FRAMES else None)
        self.frames_read = 0
        self._complete = False

    def __repr__(self) -> str:
        h, w = self.size
        return (f"VideoReader({str(self.path)!r}, {w}x{h}, fps={self.fps:g}, "
                f"stated_frame_count={self.stated_frame_count})")

    @property
    def frame_count(self) -> int | None:
        """The true count once a pass has reached the end, else the stated count (a hint)."""
        return self.frames_read if self._complete else self.stated_frame_count

    def count_frames(self) -> int:
        """Count the frames by walking the file without decoding pixels (fast)."""
        cap = _open_capture(str(self.path))
        n = 0
        try:
            while cap.grab():
                n += 1
        finally:
            cap.release()
        self.frames_read, self._complete = n, True
        return n

    def __iter__(self) -> Iterator[np.ndarray]:
        """Frames as RGB uint8 (H, W, 3), from the first to the last that decodes.

        A stated count that is too high or too low does not matter: reading stops when
        the decoder does. A frame whose size differs from the first is an error.
        """
        cap = _open_capture(str(self.path))
        n = 0
        self._complete = False
        try:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                if bgr.shape[:2] != self.size:
                    raise InputError(f"{self.path}: frame {n} is {bgr.shape[1]}x{bgr.shape[0]}, "
                                     f"the first was {self.size[1]}x{self.size[0]}")
                n += 1
                self.frames_read = n
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        self._complete = True
        if self.stated_frame_count is not None and n != self.stated_frame_count:
            log.info("%s: the file states %d frames, %d were decoded", self.path,
                     self.stated_frame_count, n)

    def batches(self, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(start index, frames (B, H, W, 3) uint8 RGB) with B <= batch_size."""
        yield from batched(iter(self), batch_size)

    def read(self, index: int) -> np.ndarray:
        """One frame (H, W, 3) RGB by index, decoding from the start (exact, not fast).

        Seeking by frame number is unreliable in many codecs, so this walks the file;
        use it for a few frames, not in a loop (iterate instead, or :meth:`read_many`).
        """
        return self.read_many([index])[int(index)]

    def read_many(self, indices) -> dict[int, np.ndarray]:
        """Frames by index, {index: (H, W, 3) RGB}, in one walk through the file."""
        wanted = sorted({int(i) for i in indices})
        if wanted and wanted[0] < 0:
            raise InputError(f"frame index must be >= 0, got {wanted[0]}")
        out: dict[int, np.ndarray] = {}
        if not wanted:
            return out
        cap = _open_capture(str(self.path))
        n = 0
        try:
            for i in wanted:
                n = _grab_to(cap, n, i)
                ok, bgr = cap.read() if n == i else (False, None)
                if not ok or bgr is None:
                    raise InputError(f"{self.path}: no frame {i} (the video has {n})")
                out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                n += 1
        finally:
            cap.release()
        return out


def frames_at(source: str | Path, indices) -> dict[int, np.ndarray]:
    """Some frames of a video file or an image-sequence folder by index, RGB uint8
    (H, W, 3), in one pass (:meth:`VideoReader.read_many` for a file); an index past
    the end is an InputError naming it."""
    source = Path(source)
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return {}
    if wanted[0] < 0:
        raise InputError(f"frame index must be >= 0, got {wanted[0]}")
    if source.is_dir():
        files = list_images(source)
        if wanted[-1] >= len(files):
            raise InputError(f"{source}: no frame {wanted[-1]} ({len(files)} images)")
        return {i: read_image(files[i]) for i in wanted}
    return VideoReader(source).read_many(wanted)


# -- random access: a lazy array over a video file --------------------------------------
READ_AHEAD = 48  # frames: below this gap, grabbing forward beats a seek (keyframe + decode)


def normalize_index(index: int, count: int) -> int:
    """Frame ``index`` as 0..count-1 (negative counts from the end); IndexError outside."""
    i = int(index)
    if i < 0:
        i += count
    if not 0 <= i < count:
        raise IndexError(f"frame {index} out of range for a video of {count} frames")
    return i


class LRUCache:
    """The last ``size`` arrays by frame index, made read-only; the owner holds the lock
    (:class:`LazyVideo`, and lazy per-frame layers built on it)."""

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
    """A read-only array-like view of a video file, shape (T, H, W, 3), dtype uint8:
    frames are decoded when asked for.

    Opening reads the header and the first frame only (:class:`VideoReader` makes the
    checks), so a 100k-frame video opens as fast as a short one. One OpenCV capture
    stays open and serves a frame

    * from a small LRU cache when it was read recently (scrubbing back and forth),
    * by reading on when it is the next frame (playback), or a few frames ahead (grab,
      no decode of the frames skipped, up to :data:`READ_AHEAD`),
    * by seeking (``CAP_PROP_POS_FRAMES``) otherwise, then reading.

    Indexing follows numpy for the frame axis (int, slice, list/array of ints, negative
    indices); the other axes are applied to the decoded frames. Thread-safe: a viewer
    may slice from a worker thread.

    A frame the decoder cannot produce (the container stated more frames than there
    are) comes back black, with one warning in the log.

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
        self._cache = LRUCache(cache_size)
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
        i = normalize_index(index, self.shape[0])
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self.stats["cached"] += 1
                return hit
            return self._cache.put(i, self._decode(i))

    def _capture(self) -> cv2.VideoCapture:
        if self._cap is None:
            self._cap = _open_capture(str(self.path))
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
            self._pos = _grab_to(cap, self._pos, i)
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


def batched(frames: Iterator[np.ndarray], batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
    """Group a stream of (H, W, 3) frames into (start, (B, H, W, 3)) arrays."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    start, buf = 0, []
    for frame in frames:
        buf.append(frame)
        if len(buf) == batch_size:
            yield start, np.stack(buf)
            start, buf = start + len(buf), []
    if buf:
        yield start, np.stack(buf)


class VideoWriter:
    """Write RGB frames to an mp4 (codec mp4v), atomically: the file appears on close.

    Frames go to a temporary file in the same folder, renamed over ``path`` when the
    writer closes without an error; an error or interruption removes the temporary file
    and leaves any previous ``path`` untouched. Use as a context manager.

    Args:
        path: output file (.mp4; .avi is written as MJPG).
        fps: frames per second.
        size: (H, W) of the frames, or None to take it from the first frame.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int] | None = None):
        self.path = Path(path)
        self.fps = float(fps)
        self.size = size
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._tmp: str | None = None

    def _open(self, size: tuple[int, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = self.path.suffix.lower() or ".mp4"
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=suffix,
                                         dir=self.path.parent)
        os.close(fd)
        fourcc = cv2.VideoWriter_fourcc(*("MJPG" if suffix == ".avi" else "mp4v"))
        self._writer = cv2.VideoWriter(self._tmp, fourcc, self.fps, (size[1], size[0]))
        if not self._writer.isOpened():
            self._discard()
            raise InputError(f"{self.path}: OpenCV cannot write this video format")
        self.size = size

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame (H, W, 3)."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ShapeError(f"VideoWriter.write: expected uint8 (H, W, 3), got "
                             f"{frame.dtype} {tuple(frame.shape)}")
        if self._writer is None:
            self._open(self.size or (frame.shape[0], frame.shape[1]))
        if frame.shape[:2] != tuple(self.size):
            raise ShapeError(f"VideoWriter.write: expected frames of shape "
                             f"{(*self.size, 3)}, got {tuple(frame.shape)}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self._writer is None:
            raise InputError(f"{self.path}: no frames were written")
        self._writer.release()
        self._writer = None
        os.chmod(self._tmp, usual_file_mode())  # mkstemp made it 0600
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()


def write_video(path: str | Path, frames, fps: float = 30.0) -> Path:
    """Write an iterable of RGB uint8 frames (H, W, 3) to ``path`` atomically."""
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(np.asarray(frame))
    return Path(path)
