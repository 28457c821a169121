"""Skeletons drawn on video frames with OpenCV: the overlay video and the contact sheet.

Bones take the colour of their channel in the skeleton-image layout (the colours of
the skeleton images and of the napari layers), keypoints the colour of the bone they
hang from. Keypoints below ``min_confidence`` are drawn as grey crossed rings and their
bones thin, so uncertain parts stand out; frames with a suspected left/right flip get
a red "flip?" tag.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from core.errors import InputError, ShapeError
from core.io import write_png
from core.skeleton import Skeleton
from core.track import Track
from core.video import VideoReader, VideoWriter

log = logging.getLogger(__name__)

_SHIFT = 4  # sub-pixel drawing: coordinates in 1/16 pixel
_LOW = (150, 150, 150)
_FLIP = (255, 40, 40)


def default_layout(skeleton: Skeleton) -> str:
    """``"5ch"`` when the skeleton has it, else its layout with the most channels."""
    if "5ch" in skeleton.layouts:
        return "5ch"
    return max(skeleton.layouts, key=lambda name: len(skeleton.layouts[name]))


def _pt(p: np.ndarray) -> tuple[int, int]:
    return round(float(p[0]) * (1 << _SHIFT)), round(float(p[1]) * (1 << _SHIFT))


def draw_skeleton(frame: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton,
                  layout: str | None = None, confidence: np.ndarray | None = None,
                  min_confidence: float = 0.3, thickness: int | None = None,
                  flip_suspect: bool = False) -> np.ndarray:
    """A copy of ``frame`` (H, W, 3) uint8 RGB with the skeleton drawn on it.

    Args:
        keypoints: (J, 2) pixels; NaN keypoints are left out with their bones.
        confidence: (J,) in [0, 1], or None (all confident).
        thickness: bone width in pixels (default: from the frame size).
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ShapeError(f"draw_skeleton: expected a frame (H, W, 3), got {frame.shape}")
    j = skeleton.num_keypoints
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape != (j, 2):
        raise ShapeError(f"draw_skeleton: expected keypoints ({j}, 2), got {keypoints.shape}")
    conf = np.ones(j) if confidence is None else np.nan_to_num(np.asarray(confidence, float))
    layout = layout or default_layout(skeleton)
    out = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    width = thickness or max(2, round(min(h, w) / 180))
    bone_colors = (skeleton.channel_colors(layout) * 255).round().astype(int)
    point_colors = (skeleton.keypoint_colors(layout) * 255).round().astype(int)
    found = np.isfinite(keypoints).all(axis=1)
    sure = found & (conf >= min_confidence)
    for e, ch in zip(skeleton.edges, skeleton.edge_channel(layout), strict=True):
        a, b = e
        if not (found[a] and found[b]):
            continue
        color = tuple(int(c) for c in bone_colors[ch])
        bone_w = width if sure[a] and sure[b] else max(1, width // 3)
        cv2.line(out, _pt(keypoints[a]), _pt(keypoints[b]), color, bone_w, cv2.LINE_AA, _SHIFT)
    radius = (width + 2) << _SHIFT
    for k in np.flatnonzero(found):
        p = _pt(keypoints[k])
        if sure[k]:
            cv2.circle(out, p, radius, tuple(int(c) for c in point_colors[k]), -1, cv2.LINE_AA,
                       _SHIFT)
            cv2.circle(out, p, radius, (255, 255, 255), 1, cv2.LINE_AA, _SHIFT)
        else:
            cv2.circle(out, p, radius, _LOW, max(1, width // 2), cv2.LINE_AA, _SHIFT)
            d = int(radius * 0.7)
            cv2.line(out, (p[0] - d, p[1] - d), (p[0] + d, p[1] + d), _LOW, 1, cv2.LINE_AA,
                     _SHIFT)
            cv2.line(out, (p[0] - d, p[1] + d), (p[0] + d, p[1] - d), _LOW, 1, cv2.LINE_AA,
                     _SHIFT)
    if flip_suspect:
        draw_label(out, "flip?", color=_FLIP, corner="top-right")
    return out


def draw_label(image: np.ndarray, text: str, color: Sequence[int] = (255, 255, 255),
               corner: str = "top-left", scale: float | None = None) -> np.ndarray:
    """Write ``text`` on a dark box in a corner of ``image`` (in place); returns it."""
    h, w = image.shape[:2]
    scale = scale or max(0.4, min(h, w) / 600)
    thick = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, th // 3)
    x = pad if corner.endswith("left") else w - tw - 3 * pad
    y = pad if corner.startswith("top") else h - th - base - 3 * pad
    cv2.rectangle(image, (x, y), (x + tw + 2 * pad, y + th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(image, text, (x + pad, y + pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale,
                tuple(int(c) for c in color), thick, cv2.LINE_AA)
    return image


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 4, tile_width: int = 320,
                  labels: Sequence[str] | None = None, gap: int = 4) -> np.ndarray:
    """Frames (H, W, 3) uint8 tiled in a grid, each scaled to ``tile_width``, with labels."""
    if not tiles:
        raise InputError("contact_sheet: no frames")
    h, w = tiles[0].shape[:2]
    th = max(1, round(h * tile_width / w))
    rows = -(-len(tiles) // columns)
    cols = min(columns, len(tiles))
    sheet = np.full((rows * (th + gap) + gap, cols * (tile_width + gap) + gap, 3), 24, np.uint8)
    for i, tile in enumerate(tiles):
        small = cv2.resize(tile, (tile_width, th), interpolation=cv2.INTER_AREA)
        if labels is not None:
            draw_label(small, labels[i], corner="bottom-left", scale=0.4)
        r, c = divmod(i, columns)
        y, x = gap + r * (th + gap), gap + c * (tile_width + gap)
        sheet[y:y + th, x:x + tile_width] = small
    return sheet


def sheet_frames(track: Track, count: int = 12) -> list[int]:
    """Frame indices for a contact sheet: evenly spaced, the first and last included."""
    n = len(track)
    return sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist()))


def render_overlay(video: str | Path, track: Track, video_out: str | Path | None = None,
                   sheet_out: str | Path | None = None, skeleton: Skeleton | None = None,
                   layout: str | None = None, min_confidence: float = 0.3,
                   sheet_count: int = 12, progress: bool = True) -> list[Path]:
    """Draw ``track`` on ``video``: an mp4 (``video_out``) and a contact-sheet PNG
    (``sheet_out``), in one streamed pass. Returns the paths written."""
    from tqdm.auto import tqdm

    skeleton = skeleton or track.skeleton
    if skeleton is None:
        raise InputError("render_overlay: the track has no skeleton; pass skeleton=")
    reader = VideoReader(video)
    if reader.size != track.frame_size:
        raise InputError(f"render_overlay: {video} is {reader.size[1]}x{reader.size[0]}, the "
                         f"track is for {track.frame_size[1]}x{track.frame_size[0]} frames")
    picks, tiles, labels = set(sheet_frames(track, sheet_count)), [], []
    writer = VideoWriter(video_out, track.fps) if video_out is not None else None
    bar = tqdm(total=len(track), unit="frame", desc="overlay", disable=not progress,
               leave=False)
    try:
        for t, frame in enumerate(reader):
            if t >= len(track):
                log.warning("%s has more frames than the track (%d); the rest is not drawn",
                            video, len(track))
                break
            drawn = draw_skeleton(frame, track.keypoints[t], skeleton, layout,
                                  track.confidence[t], min_confidence,
                                  flip_suspect=bool(track.flip_suspect[t]))
            if writer is not None:
                writer.write(drawn)
            if t in picks:
                tiles.append(drawn)
                flip = "  flip?" if track.flip_suspect[t] else ""
                labels.append(f"frame {t}  conf {np.nanmean(track.confidence[t]):.2f}{flip}")
            bar.update(1)
    except BaseException:
        if writer is not None:
            writer._discard()
        raise
    finally:
        bar.close()
    written = []
    if writer is not None:
        written.append(writer.close())
    if sheet_out is not None and tiles:
        sheet = contact_sheet(tiles, columns=4, labels=labels)
        written.append(write_png(sheet_out, sheet))
    return written
