"""Matplotlib pictures for notebooks and reports: a frame with its skeleton, the channels
of a skeleton image side by side, a 3D pose, and a track's confidence over time.

Colours are the channel colours of the skeleton-image layout, as everywhere else.
Every function draws into given axes (or makes a figure) and returns it, so it composes
with ``plt.subplots``; nothing is shown or saved here.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from core.errors import ShapeError
from core.overlay import default_layout
from core.skeleton import Skeleton
from core.skeleton_image import skeleton_image_to_rgb
from core.track import Track


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def plot_frame(frame: Any, keypoints: Any, skeleton: Skeleton, layout: str | None = None,
               confidence: Any = None, min_confidence: float = 0.3, ax: Any = None,
               title: str | None = None, linewidth: float = 2.5) -> Any:
    """A frame (H, W, 3) with its skeleton: keypoints (J, 2) in pixels, bones in the
    channel colours, keypoints below ``min_confidence`` as grey crosses. Returns the axes.

    ``frame`` may be None to draw the skeleton alone (y axis pointing down).
    """
    layout = layout or default_layout(skeleton)
    kp = _numpy(keypoints).astype(np.float64)
    j = skeleton.num_keypoints
    if kp.shape != (j, 2):
        raise ShapeError(f"plot_frame: expected keypoints ({j}, 2), got {kp.shape}")
    conf = np.ones(j) if confidence is None else np.nan_to_num(_numpy(confidence))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    if frame is not None:
        ax.imshow(_numpy(frame))
    else:
        ax.set_aspect("equal")
        ax.invert_yaxis()
    colors = skeleton.channel_colors(layout)
    for (a, b), ch in zip(skeleton.edges, skeleton.edge_channel(layout), strict=True):
        sure = conf[a] >= min_confidence and conf[b] >= min_confidence
        ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=colors[ch], solid_capstyle="round",
                linewidth=linewidth if sure else linewidth / 3, alpha=1.0 if sure else 0.6)
    sure = conf >= min_confidence
    ax.scatter(kp[sure, 0], kp[sure, 1], s=4 * linewidth ** 2, zorder=3,
               c=skeleton.keypoint_colors(layout)[sure], edgecolors="white", linewidths=0.5)
    ax.scatter(kp[~sure, 0], kp[~sure, 1], s=6 * linewidth ** 2, zorder=3, marker="x",
               c="0.6", linewidths=1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_skeleton_image(image: Any, skeleton: Skeleton, layout: str | None = None,
                        axes: Any = None, channel_names: bool = True) -> Any:
    """The C channels of a skeleton image (C, H, W) side by side, each in its colour,
    then all of them together. Returns the figure."""
    layout = layout or default_layout(skeleton)
    img = _numpy(image).astype(np.float32)
    c = skeleton.num_channels(layout)
    if img.ndim != 3 or img.shape[0] != c:
        raise ShapeError(f"plot_skeleton_image: expected ({c}, H, W) for layout {layout!r}, "
                         f"got {img.shape}")
    colors = skeleton.channel_colors(layout)
    if axes is None:
        fig, axes = plt.subplots(1, c + 1, figsize=(2.2 * (c + 1), 2.4), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    for k, channel in enumerate(skeleton.channels(layout)):
        axes[k].imshow(skeleton_image_to_rgb(img[k:k + 1], colors[k:k + 1]))
        if channel_names:
            axes[k].set_title(channel.name, fontsize=9)
    axes[c].imshow(skeleton_image_to_rgb(img, colors))
    if channel_names:
        axes[c].set_title("all", fontsize=9)
    for ax in axes[:c + 1]:
        ax.set_axis_off()
    return fig


def plot_pose_3d(points: Any, skeleton: Skeleton, layout: str | None = None, ax: Any = None,
                 elev: float = 15.0, azim: float = -70.0, title: str | None = None) -> Any:
    """A 3D pose (J, 3) in the camera frame (x right, y down, z forward, metres), drawn
    upright: plot axes x, depth z, height -y. Returns the 3D axes."""
    layout = layout or default_layout(skeleton)
    p = _numpy(points).astype(np.float64)
    j = skeleton.num_keypoints
    if p.shape != (j, 3):
        raise ShapeError(f"plot_pose_3d: expected points ({j}, 3), got {p.shape}")
    if ax is None:
        fig = plt.figure(figsize=(5, 5))
        ax = fig.add_subplot(projection="3d")
    q = np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1)  # x, depth, up
    colors = skeleton.channel_colors(layout)
    for (a, b), ch in zip(skeleton.edges, skeleton.edge_channel(layout), strict=True):
        ax.plot(q[[a, b], 0], q[[a, b], 1], q[[a, b], 2], color=colors[ch], linewidth=2.5)
    ax.scatter(q[:, 0], q[:, 1], q[:, 2], c=skeleton.keypoint_colors(layout), s=12,
               depthshade=False)
    finite = q[np.isfinite(q).all(axis=1)]
    if len(finite):
        centre = (finite.max(0) + finite.min(0)) / 2
        half = max(float((finite.max(0) - finite.min(0)).max()) / 2, 1e-3)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.locator_params(nbins=4)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("depth z (m)")
    ax.set_zlabel("up -y (m)")
    ax.view_init(elev=elev, azim=azim)
    if title:
        ax.set_title(title)
    return ax


def plot_confidence(track: Track, ax: Any = None, keypoints: list[str] | None = None) -> Any:
    """Mean confidence per frame (and chosen keypoints'), flip suspects marked in red."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.5))
    t = np.arange(len(track))
    ax.plot(t, np.nanmean(track.confidence, axis=1), color="k", linewidth=1.5, label="mean")
    for name in keypoints or []:
        ax.plot(t, track.confidence[:, track.keypoint_names.index(name)], linewidth=1,
                label=name)
    flips = np.flatnonzero(track.flip_suspect)
    if len(flips):
        ax.scatter(flips, np.zeros(len(flips)), marker="|", s=200, color="red",
                   label="flip suspected")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(0, max(len(track) - 1, 1))
    ax.set_xlabel("frame")
    ax.set_ylabel("confidence")
    ax.legend(loc="lower right", fontsize=8)
    return ax
