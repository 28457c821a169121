"""Inference on videos and frames: :class:`Predictor` turns frames into a :class:`Track`.

    from core import load_model, Predictor
    predictor = Predictor(load_model(None), device="auto", batch_size=32)
    track = predictor.predict_video("clip.mp4")       # or predict_frames(frames (T,H,W,3))

Frames are streamed in batches: decoding and cropping run in a background thread while
the model works on the previous batch, and the results are kept as compact arrays
(a few hundred bytes per frame), so memory does not grow with the length of the video
beyond those arrays.

What the model sees (see :mod:`core.crop`): the whole frame letterboxed (default), a
fixed box (``bbox``), or a box following the subject (``crop="follow"``). Keypoints
are mapped back to original pixels exactly.

3D keypoints: the model predicts them in the camera of its input (``fov_deg`` across
the input's width). The track's 3D is in one camera for the whole video, the frame's
camera whose intrinsics are those of the model camera on the letterboxed frame
(``Track.intrinsics``); for crops, each pose keeps its shape and is moved so that its
centroid projects to the same pixel at the depth matching its size in the frame.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.camera import DEFAULT_FOV_DEG, focal_length
from core.crop import (
    CropTransform,
    FollowCrop,
    box_transform,
    check_box,
    crop_frame,
    crop_frames,
    letterbox_transform,
    warp_to_original,
)
from core.device import resolve_device
from core.errors import InputError, ShapeError
from core.flips import OneEuro, channel_disagreement, one_euro_filter, temporal_flips
from core.skeleton import Skeleton
from core.track import Track
from core.video import VideoReader, check_frame_size

log = logging.getLogger(__name__)


@dataclass
class PredictedBatch:
    """The predictions for frames ``start .. start + B - 1``, in original-frame units.

    Attributes:
        start: index of the first frame.
        keypoints: (B, J, 2) pixels. confidence: (B, J). keypoints_3d: (B, J, 3) metres,
        frame camera. boxes: (B, 4) x, y, w, h the model saw. channel_flip: (B,) bool.
        transforms: the B crop transforms (model input <-> original pixels).
        skeleton_images: (B, C, H_in, W_in) float32 on the CPU, in the model-input frame
            (only when asked for; see :func:`core.crop.warp_to_original`).
    """

    start: int
    keypoints: np.ndarray
    confidence: np.ndarray
    keypoints_3d: np.ndarray
    boxes: np.ndarray
    channel_flip: np.ndarray
    transforms: list[CropTransform]
    skeleton_images: torch.Tensor | None = None


class Predictor:
    """Runs a model over frames and maps its predictions back to the original frames.

    Args:
        model: an ``AbsPoseModel`` (``.skeleton``, ``.layout``, ``.input_size``,
            ``.predict``), e.g. from :func:`core.load_model`.
        device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:1"``, ...
        batch_size: frames per forward pass.
        crop: ``"full"`` (letterbox the whole frame), ``"follow"`` (follow the subject)
            or ``"box"`` (the fixed ``bbox``; implied when ``bbox`` is given).
        bbox: (x, y, w, h) original pixels, for ``crop="box"``.
        smoothing: None (off) or :class:`core.flips.OneEuro` parameters (pixels, Hz).
        progress: show a tqdm progress bar (it renders in notebooks as well).
        channels_last: store the model's convolution weights channels-last (NHWC), the
            layout the frames arrive in; about 1.5 times faster on CPUs. The model is
            moved to ``device``, put in eval mode and converted in place.
    """

    def __init__(self, model, device: str | torch.device | None = "auto", batch_size: int = 32,
                 crop: str = "full", bbox: Sequence[float] | None = None,
                 smoothing: OneEuro | None = None, progress: bool = True,
                 channels_last: bool = True):
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        crop = "box" if bbox is not None and crop == "full" else crop
        if crop not in ("full", "follow", "box"):
            raise InputError(f"crop must be 'full', 'follow' or 'box', got {crop!r}")
        if crop == "box" and bbox is None:
            raise InputError("crop='box' needs a bbox (x, y, w, h)")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        if channels_last and self.device.type in ("cpu", "cuda"):
            self.model.to(memory_format=torch.channels_last)
        self.batch_size = int(batch_size)
        self.crop, self.bbox = crop, None if bbox is None else tuple(float(v) for v in bbox)
        self.smoothing = smoothing
        self.progress = progress

    @property
    def skeleton(self) -> Skeleton:
        return self.model.skeleton

    @property
    def layout(self) -> str:
        return self.model.layout

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.model.input_size)

    @property
    def focal(self) -> float:
        """Focal length of the model's camera, in model-input pixels."""
        fov = float(getattr(self.model.config, "fov_deg", DEFAULT_FOV_DEG))
        return focal_length(fov, self.input_size[1])

    def frame_intrinsics(self, frame_size: Sequence[int]) -> np.ndarray:
        """(3, 3) intrinsics of the track's 3D camera on frames of size (H, W)."""
        h, w = frame_size
        f = self.focal * letterbox_transform(frame_size, self.input_size).scale
        return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)

    # -- public entry points -----------------------------------------------------------
    def predict_video(self, path: str | Path, *, on_batch: Callable[[PredictedBatch], None]
                      | None = None, skeleton_images: bool = False) -> Track:
        """Predict every frame of a video file (streamed; see :meth:`predict_frames`)."""
        reader = VideoReader(path)
        return self._predict(iter(reader), reader.size, reader.fps, str(reader.path),
                             reader.stated_frame_count, on_batch, skeleton_images)

    def predict_frames(self, frames: np.ndarray | Iterable[np.ndarray], fps: float = 30.0, *,
                       on_batch: Callable[[PredictedBatch], None] | None = None,
                       skeleton_images: bool = False, source: str = "") -> Track:
        """Predict frames: uint8 RGB (T, H, W, 3), or an iterable of (H, W, 3) frames.

        Args:
            on_batch: called with every :class:`PredictedBatch` as it is ready.
            skeleton_images: fill ``PredictedBatch.skeleton_images`` for ``on_batch``.
        """
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise ShapeError(f"predict_frames: expected frames (T, H, W, 3), got "
                                 f"{tuple(frames.shape)}")
            if len(frames) == 0:
                raise InputError("predict_frames: no frames")
            size, total, it = frames.shape[1:3], len(frames), iter(frames)
        else:
            it = iter(frames)
            try:
                first = next(it)
            except StopIteration:
                raise InputError("predict_frames: no frames") from None
            size, total = np.asarray(first).shape[:2], None
            it = _chain(first, it)
        return self._predict(it, tuple(int(s) for s in size), fps, source, total, on_batch,
                             skeleton_images)

    @torch.no_grad()
    def skeleton_images(self, frames: np.ndarray, boxes: np.ndarray | None = None,
                        in_frame: bool = True) -> np.ndarray:
        """The model's skeleton images of a few frames, on request (e.g. the frame shown).

        Args:
            frames: (B, H, W, 3) uint8 RGB.
            boxes: (B, 4) the regions the model saw (``Track.boxes``), or None for this
                predictor's crop (follow mode: the whole frame).
            in_frame: warp onto the original frames (B, C, H, W), else the model-input
                frame (B, C, H_in, W_in).
        """
        frames = _check_frames(frames, frames.shape[1:3] if frames.ndim == 4 else (0, 0))
        size = frames.shape[1:3]
        if boxes is None:
            transforms = [self._start_crop(size).transform()] * len(frames)
        else:
            transforms = [box_transform(b, self.input_size) for b in np.asarray(boxes)]
        out = self._infer(crop_frames(frames, transforms))
        images = out.skeleton_image.float().cpu().numpy()
        if not in_frame:
            return images
        return np.stack([warp_to_original(im, tr, size) for im, tr in zip(images, transforms,
                                                                             strict=True)])

    # -- the loop ------------------------------------------------------------------------
    def _start_crop(self, frame_size: Sequence[int]) -> FollowCrop:
        """A FollowCrop for every mode (fixed modes never update it)."""
        fc = FollowCrop(tuple(frame_size), self.input_size)
        if self.crop == "box":
            fc.box = check_box(self.bbox, frame_size)
        return fc

    def _check_frame_size(self, size: Sequence[int]) -> None:
        check_frame_size(tuple(size), self.input_size)

    def _predict(self, frames: Iterator[np.ndarray], size: tuple[int, int], fps: float,
                 source: str, total: int | None, on_batch, keep_images: bool) -> Track:
        from tqdm.auto import tqdm

        self._check_frame_size(size)
        names = ("keypoints", "confidence", "keypoints_3d", "boxes", "channel_flip")
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}  # compact arrays
        bar = tqdm(total=total, unit="frame", desc=Path(source).name or "frames",
                   disable=not self.progress, leave=False)
        try:
            for batch in self.iter_batches(frames, size, keep_images):
                if on_batch is not None:
                    on_batch(batch)
                for name in names:
                    parts[name].append(getattr(batch, name))
                bar.update(len(batch.keypoints))
        finally:
            bar.close()
        if not parts["keypoints"]:
            raise InputError(f"{source or 'frames'}: no frames")
        cat = lambda name: np.concatenate(parts[name])  # noqa: E731
        keypoints, confidence, k3d = cat("keypoints"), cat("confidence"), cat("keypoints_3d")
        flips = temporal_flips(keypoints, confidence, self.skeleton) | cat("channel_flip")
        intrinsics = self.frame_intrinsics(size)
        if self.smoothing is not None:
            keypoints, k3d = self._smooth(keypoints, k3d, fps, intrinsics[0, 0])
        return Track(keypoint_names=list(self.skeleton.keypoints), keypoints=keypoints,
                     confidence=confidence, keypoints_3d=k3d, flip_suspect=flips, fps=fps,
                     frame_size=size, source=source, intrinsics=intrinsics,
                     boxes=cat("boxes"), skeleton=self.skeleton)

    def _smooth(self, keypoints: np.ndarray, k3d: np.ndarray, fps: float, focal: float):
        s = self.smoothing
        kp = one_euro_filter(keypoints, fps, s.min_cutoff, s.beta, s.d_cutoff)
        # beta is per pixel/s; one metre at depth z spans focal / z pixels
        depth = float(np.nanmedian(k3d[..., 2])) if np.isfinite(k3d[..., 2]).any() else 1.0
        beta_3d = s.beta * focal / max(depth, 1e-3)
        k3 = one_euro_filter(k3d, fps, s.min_cutoff, beta_3d, s.d_cutoff)
        return kp.astype(np.float32), k3.astype(np.float32)

    def iter_batches(self, frames: Iterator[np.ndarray], frame_size: Sequence[int],
                     skeleton_images: bool = False) -> Iterator[PredictedBatch]:
        """Predictions batch by batch as frames (H, W, 3) uint8 RGB stream in."""
        frame_size = (int(frame_size[0]), int(frame_size[1]))
        self._check_frame_size(frame_size)
        follow = self._start_crop(frame_size)
        fixed = None if self.crop == "follow" else follow.transform()
        full = letterbox_transform(frame_size, self.input_size)
        start = 0
        for frames_np, inputs in _prefetch(frames, self.batch_size, frame_size, fixed):
            tr = fixed if fixed is not None else follow.transform()
            if inputs is None:
                inputs = crop_frames(frames_np, tr)
            out = self._infer(inputs)
            kp_n = out.keypoints.float().cpu().numpy()
            conf = out.confidence.float().cpu().numpy()
            kp = tr.normalized_to_original(kp_n).astype(np.float32)
            k3d = to_frame_camera(out.keypoints_3d.float().cpu().numpy(), tr, full,
                                  self.focal).astype(np.float32)
            cflip = channel_disagreement(out.skeleton_image, out.keypoints, self.skeleton,
                                         self.layout, getattr(self.model.config, "gamma", 250.0))
            b = len(kp)
            batch = PredictedBatch(start, kp, conf, k3d, np.tile(np.float32(tr.box), (b, 1)),
                                   cflip.cpu().numpy(), [tr] * b,
                                   out.skeleton_image.float().cpu() if skeleton_images else None)
            if self.crop == "follow":
                follow.update(kp, conf)
            start += b
            yield batch

    def _infer(self, inputs: np.ndarray):
        """(B, H_in, W_in, 3) uint8 -> the model's output on this predictor's device."""
        x = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H_in, W_in), NHWC in memory
        return self.model.predict(x)


def to_frame_camera(points: np.ndarray, crop: CropTransform, full: CropTransform,
                    focal: float) -> np.ndarray:
    """3D poses from the camera of a crop to the frame's camera, keeping their shape.

    Args:
        points: (B, J, 3) metres in the model camera on the crop (focal ``focal``
            model-input pixels, principal point at the input's centre).
        crop: the crop the model saw; ``full``: the letterboxed whole frame, whose model
            camera is the frame camera.
    Returns:
        (B, J, 3): each pose translated so that its centroid projects to the same
        original pixel, at the depth that gives it the same size in the frame.
    """
    if crop == full:
        return points
    f_crop, f_frame = focal * crop.scale, focal * full.scale  # in original pixels
    pc, p0 = np.array(crop.principal_point), np.array(full.principal_point)
    m = points.mean(axis=1)  # (B, 3)
    z = np.maximum(m[:, 2:3], 1e-6)
    pixel = f_crop * m[:, :2] / z + pc  # (B, 2) centroid in original pixels
    z_new = z * f_frame / f_crop
    m_new = np.concatenate([(pixel - p0) / f_frame * z_new, z_new], axis=1)
    return points - m[:, None] + m_new[:, None]


def _check_frames(frames: np.ndarray, size: Sequence[int]) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or tuple(frames.shape[1:3]) != tuple(size):
        raise ShapeError(f"expected frames (B, {size[0]}, {size[1]}, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"expected uint8 RGB frames, got {frames.dtype}")
    return frames


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


_DONE = object()


def _prefetch(frames: Iterator[np.ndarray], batch_size: int, size: tuple[int, int],
              transform: CropTransform | None) -> Iterator[tuple[np.ndarray | None,
                                                                 np.ndarray | None]]:
    """Batches of frames read (and, for a fixed crop, cropped) in a background thread.

    Yields (frames (B, H, W, 3) or None, model inputs (B, H_in, W_in, 3) or None): with a
    fixed ``transform`` each frame is cropped as soon as it is read and only the small
    inputs are kept; otherwise the frames travel.
    """
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def work() -> None:
        try:
            buf: list[np.ndarray] = []
            for index, frame in enumerate(frames):
                if stop.is_set():
                    return
                frame = _check_frame(frame, size, index)
                buf.append(frame if transform is None else crop_frame(frame, transform))
                if len(buf) == batch_size:
                    q.put(_package(buf, size, transform))
                    buf = []
            if buf:
                q.put(_package(buf, size, transform))
            q.put(_DONE)
        except BaseException as err:  # handed to the consumer, raised there
            q.put(err)

    thread = threading.Thread(target=work, name="abspose-frames", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def _check_frame(frame: np.ndarray, size: tuple[int, int], index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.shape != (*size, 3):
        raise ShapeError(f"frame {index}: expected shape ({size[0]}, {size[1]}, 3) like the "
                         f"first frame, got {frame.shape}")
    if frame.dtype != np.uint8:
        raise InputError(f"frame {index}: expected uint8 RGB, got {frame.dtype}")
    return frame


def _package(buf: list[np.ndarray], size: tuple[int, int], transform: CropTransform | None):
    return (np.stack(buf), None) if transform is None else (None, np.stack(buf))
