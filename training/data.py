"""Unlabelled real video for training: find the footage, decode it once into a compact
frame cache, and sample (target, appearance) pairs of the same video with the paper's
crop augmentation (Section 5.2: random crop size and offset).

Videos (mp4, avi, mov, mkv) and image sequences (a folder of png/jpg/tif frames) are
accepted; unreadable ones are skipped with a warning that names them. Each frame is
letterboxed (whole frame, aspect kept, black bars) to a square of ``cache_size`` pixels
and kept as uint8 in memory, or in a memory-mapped file when ``cache_file`` is given,
so decoding happens once per run, never per training step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.crop import crop_frame, letterbox_transform
from core.errors import InputError
from core.video import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoReader,
    frames_at,
    list_images,
    list_videos,
    read_image,
)

log = logging.getLogger(__name__)


def find_footage(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Videos and image-sequence folders under the given files and folders, sorted.

    A folder that directly holds image files and no video is one image sequence;
    otherwise its videos and sub-folders are searched (one level of sub-folders for
    sequences), and loose pictures next to videos (a contact sheet) are not footage.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"{p} does not exist")
        if p.is_file():
            found.append(p)
        elif _is_image_sequence(p):
            found.append(p)
        else:
            found += list_videos(p)
            found += sorted(d for d in p.iterdir() if d.is_dir() and _is_image_sequence(d))
    return found


def _is_image_sequence(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    suffixes = {f.suffix.lower() for f in folder.iterdir() if f.is_file()}
    return bool(suffixes & set(IMAGE_EXTENSIONS)) and not suffixes & set(VIDEO_EXTENSIONS)


def read_frames(source: Path, stride: int = 1, max_frames: int | None = None
                ) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of a video file or an image-sequence folder."""
    if source.is_dir():
        for n, f in enumerate(list_images(source)[::stride]):
            if max_frames is not None and n >= max_frames:
                return
            yield read_image(f)
        return

    n = 0
    for i, frame in enumerate(VideoReader(source)):
        if max_frames is not None and n >= max_frames:
            return
        if i % stride == 0:
            yield frame
            n += 1


def letterbox_square(frame: np.ndarray, size: int) -> np.ndarray:
    """Fit the whole frame into a ``size`` x ``size`` square, centred, black bars: the
    same letterbox (and anti-aliasing) as prediction uses (:mod:`core.crop`)."""
    return crop_frame(frame, letterbox_transform(frame.shape[:2], (size, size)))


@dataclass
class FrameCache:
    """All training frames, letterboxed to squares: ``frames`` (N, S, S, 3) uint8,
    ``video`` (N,) index of the source of each frame, ``sources`` the paths."""

    frames: np.ndarray
    video: np.ndarray
    sources: list[Path]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """[start, stop) of each source's frames in ``frames``."""
        out = []
        for v in range(len(self.sources)):
            idx = np.flatnonzero(self.video == v)
            out.append((int(idx[0]), int(idx[-1]) + 1) if len(idx) else (0, 0))
        return out

    @classmethod
    def build(cls, sources: Iterable[Path], size: int = 160, stride: int = 1,
              max_frames_per_video: int | None = None,
              cache_file: Path | None = None) -> FrameCache:
        """Decode every source once. Unreadable or empty sources are skipped with a
        warning; no readable source at all is an :class:`InputError`."""
        chunks: list[np.ndarray] = []
        kept: list[Path] = []
        skipped: list[str] = []
        for src in sources:
            try:
                frames = [letterbox_square(f, size)
                          for f in read_frames(src, stride, max_frames_per_video)]
            except (InputError, OSError) as err:
                skipped.append(f"{src} ({err})")
                continue
            if len(frames) < 2:
                skipped.append(f"{src} ({'empty' if not frames else 'a single frame'}: "
                               "pairs need at least two frames)")
                continue
            chunks.append(np.stack(frames))
            kept.append(src)
        for s in skipped:
            log.warning("skipping unreadable footage: %s", s)
        if not kept:
            detail = "; ".join(skipped) if skipped else "nothing found"
            raise InputError(
                "no readable video or image sequence to train on "
                f"({detail}); give a folder of mp4/avi/mov/mkv files or of image folders"
            )
        total = sum(len(c) for c in chunks)
        if cache_file is not None:
            frames = np.lib.format.open_memmap(cache_file, mode="w+", dtype=np.uint8,
                                               shape=(total, size, size, 3))
        else:
            frames = np.empty((total, size, size, 3), dtype=np.uint8)
        video = np.empty(total, dtype=np.int64)
        pos = 0
        for v, c in enumerate(chunks):
            frames[pos:pos + len(c)] = c
            video[pos:pos + len(c)] = v
            pos += len(c)
        log.info("frame cache: %d frames from %d source(s), %dx%d, %.0f MiB", total, len(kept),
                 size, size, frames.nbytes / 2**20)
        return cls(frames, video, kept)


def sample_pairs(cache: FrameCache, batch: int, gap: tuple[int, int],
                 generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``batch`` (target, appearance) pairs: same source, frames
    ``gap[0] <= |t - a| <= gap[1]`` apart where the source is long enough (else as far
    apart as it allows)."""
    ranges = cache.ranges
    lengths = torch.tensor([b - a for a, b in ranges], dtype=torch.float64)
    src = torch.multinomial(lengths, batch, replacement=True, generator=generator)
    u = torch.rand(batch, 3, generator=generator, dtype=torch.float64)
    targets, apps = np.empty(batch, np.int64), np.empty(batch, np.int64)
    for k in range(batch):
        start, stop = ranges[int(src[k])]
        n = stop - start
        lo = min(gap[0], n - 1)
        hi = max(lo, min(gap[1], n - 1))
        d = lo + int(u[k, 0] * (hi - lo + 1)) if hi > lo else lo
        d = max(d, 1)
        t = int(u[k, 1] * (n - d))
        a = t + d
        if u[k, 2] < 0.5:
            t, a = a, t
        targets[k], apps[k] = start + t, start + a
    return targets, apps


def random_crops(frames: torch.Tensor, out_size: int, scale: tuple[float, float],
                 offset: float, generator: torch.Generator | None = None,
                 keypoints: torch.Tensor | None = None):
    """Crop augmentation (paper 5.2) on a batch: (B, 3, S, S) float -> (B, 3, out, out).

    Each sample is cropped with its own side ``s * S`` (s uniform in ``scale``; s > 1
    zooms out and shows black borders) and its own centre shifted by up to ``offset``
    of the crop side, so the subject is not always tightly cropped or centred.

    With ``keypoints`` (B, J, 2) in normalized coordinates of the frames, returns
    (crops, the keypoints in normalized coordinates of the crops).
    """
    b = frames.shape[0]
    r = torch.rand(b, 3, generator=generator).to(frames.device, frames.dtype)
    s = scale[0] + (scale[1] - scale[0]) * r[:, 0]
    tx = (r[:, 1] * 2 - 1) * offset * s * 2
    ty = (r[:, 2] * 2 - 1) * offset * s * 2
    theta = torch.zeros(b, 2, 3, device=frames.device, dtype=frames.dtype)
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, [b, 3, out_size, out_size], align_corners=False)
    crops = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    if keypoints is None:
        return crops
    # a crop pixel at u samples the frame at s u + t: a frame point p lies at (p - t) / s
    shift = theta[:, None, :, 2].to(keypoints.dtype)
    return crops, (keypoints - shift) / s[:, None, None].to(keypoints.dtype)


class SeededStream:
    """An endless stream of batches drawn with its own ``generator`` (a
    ``torch.Generator``): the generator's state is its position, which a run's
    checkpoint saves and restores to resume exactly."""

    generator: torch.Generator

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __iter__(self) -> SeededStream:
        return self


class VideoPairStream(SeededStream):
    """Endless batches of (target, appearance) images from a :class:`FrameCache`.

    Both are (B, 3, size, size) float in [0, 1] on ``device``, each independently crop-
    augmented. ``rank``/``world_size`` give each DDP process its own random stream.
    """

    def __init__(self, cache: FrameCache, batch_size: int, size: int, device: torch.device,
                 gap: tuple[int, int] = (5, 50), crop_scale: tuple[float, float] = (0.75, 1.15),
                 crop_offset: float = 0.1, seed: int = 0, rank: int = 0):
        self.cache = cache
        self.batch_size = batch_size
        self.size = size
        self.device = device
        self.gap = gap
        self.crop_scale = crop_scale
        self.crop_offset = crop_offset
        self.generator = torch.Generator().manual_seed(seed * 1000 + rank)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        t_idx, a_idx = sample_pairs(self.cache, self.batch_size, self.gap, self.generator)
        out = []
        for idx in (t_idx, a_idx):
            order = np.argsort(idx)  # sorted reads are kinder to a memory-mapped cache
            raw = torch.from_numpy(np.ascontiguousarray(self.cache.frames[idx[order]]))
            raw = raw[torch.from_numpy(np.argsort(order))]
            x = raw.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float() / 255.0
            out.append(random_crops(x, self.size, self.crop_scale, self.crop_offset,
                                    self.generator))
        return out[0], out[1]


class LabelledFrames(SeededStream):
    """Endless batches of the frames a person corrected by hand, for the supervised term
    of refinement: (images (B, 3, size, size) in [0, 1], keypoints (B, J, 2) normalized,
    labelled (B, J) bool), on ``device``.

    The frames are decoded once and letterboxed to ``cache_size`` squares as the frame
    cache's, and cropped with the same random crops, the labels moving with the crop.

    Args:
        labels: the corrected frames (:class:`core.labels.Labels`).
        video: the video (or image-sequence folder) they come from.
        keypoint_names: the model's keypoints; labels are matched by name.
        batch_size: frames per batch, drawn with replacement.
    """

    def __init__(self, labels, video: Path, keypoint_names: Sequence[str], batch_size: int,
                 size: int, device: torch.device, cache_size: int = 160,
                 crop_scale: tuple[float, float] = (0.75, 1.15), crop_offset: float = 0.1,
                 seed: int = 0):

        names = list(keypoint_names)
        missing = [n for n in names if n not in labels.keypoint_names]
        if len(missing) == len(names):
            raise InputError(f"{labels.source}: none of its keypoints are the model's "
                             f"({', '.join(names[:4])}, ...)")
        if batch_size <= 0:
            raise InputError(f"labels batch size must be positive, got {batch_size}")
        frames = frames_at(video, labels.frames)
        j = [labels.keypoint_names.index(n) if n in labels.keypoint_names else -1
             for n in names]
        images, points, masks = [], [], []
        for k, f in enumerate(labels.frames):
            frame = frames[int(f)]
            tf = letterbox_transform(frame.shape[:2], (cache_size, cache_size))
            images.append(letterbox_square(frame, cache_size))
            kp = np.stack([labels.keypoints[k, i] if i >= 0 else np.full(2, np.nan)
                           for i in j])
            mask = np.array([bool(labels.labelled[k, i]) if i >= 0 else False for i in j])
            points.append(np.nan_to_num(tf.original_to_normalized(kp)))
            masks.append(mask)
        self.frames = torch.from_numpy(np.stack(images))
        self.keypoints = torch.as_tensor(np.stack(points), dtype=torch.float32)
        self.labelled = torch.as_tensor(np.stack(masks))
        self.batch_size, self.size, self.device = batch_size, size, device
        self.crop_scale, self.crop_offset = crop_scale, crop_offset
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.frames)

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.frames), (self.batch_size,), generator=self.generator)
        x = self.frames[idx].to(self.device).permute(0, 3, 1, 2).float() / 255.0
        crops, kp = random_crops(x, self.size, self.crop_scale, self.crop_offset,
                                 self.generator, self.keypoints[idx].to(self.device))
        return crops, kp, self.labelled[idx].to(self.device)
