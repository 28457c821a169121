"""The multi-channel skeleton image, Eq. 1 of the paper, fast and differentiable.

.. math::

    y_c(u) = \\exp\\left(-\\gamma \\min_{(i,j) \\in E_c,\\ t \\in [0,1]}
             \\lVert u - ((1-t) p_i + t p_j) \\rVert^2\\right)

Units: keypoints ``p`` and pixel centres ``u`` are in normalized image coordinates
([-1, 1] across the image; pixel ``i`` has its centre at ``-1 + (2 i + 1) / W``, the
camera module's convention), and ``gamma`` multiplies the squared distance measured in
those units. With the paper's ``gamma = 250`` a bone at 128 x 128 has its intensity
fall to 1/2 at ``sqrt(ln 2 / 250) = 0.053`` normalized = 3.4 px from its axis (a line
about 6.7 px wide at half maximum) and to 0.02 at 8 px. The width scales with the
image: the same gamma draws a line covering the same fraction of any image size.

How it is fast. The kernel is local: beyond ``R = sqrt(ln(1/eps) / gamma)`` (eps =
1e-7 in float32, 1e-16 in float64) the value is below what the dtype resolves against
1, so each edge only touches the pixels of its bounding box grown by ``R``. Edges are
processed one at a time over a window of that size (the largest box in the batch),
keeping a running minimum of the squared distance and the index of the winning edge per
channel, never the (B, E, H*W) tensor of the dense formulation. The backward pass is a
custom autograd function that recomputes each edge's window and routes the gradient of
every pixel to the endpoints of its winning edge. ``docs/RESULTS.md`` has the measured
speed-up over :func:`render_skeleton_image_dense`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from core.camera import pixel_centers
from core.errors import InputError, ShapeError, check_shape
from core.skeleton import Skeleton

DEFAULT_GAMMA = 250.0


def cutoff_radius(gamma: float, dtype: torch.dtype = torch.float32) -> float:
    """Distance (normalized units) beyond which the kernel is treated as exactly 0."""
    eps = 1e-16 if dtype == torch.float64 else 1e-7
    return math.sqrt(math.log(1.0 / eps) / gamma)


def _edge_tables(skeleton: Skeleton, layout: str) -> tuple[np.ndarray, np.ndarray, int]:
    edges = np.asarray(skeleton.edges, dtype=np.int64).reshape(-1, 2)
    return edges, skeleton.edge_channel(layout), skeleton.num_channels(layout)


def _check_keypoints(keypoints: torch.Tensor, num_keypoints: int) -> None:
    if not isinstance(keypoints, torch.Tensor):
        raise InputError(f"keypoints must be a torch.Tensor, got {type(keypoints).__name__}")
    check_shape("render_skeleton_image keypoints", keypoints.shape, ("B", num_keypoints, 2))
    if not torch.isfinite(keypoints).all():
        raise InputError(
            "render_skeleton_image: keypoints contain NaN or infinite values; "
            "drop or fill missing keypoints before rendering"
        )


def _windows(a: torch.Tensor, b: torch.Tensor, size: tuple[int, int], radius: float):
    """Pixel windows holding every pixel centre within ``radius`` of each segment.

    a, b: (B, E, 2) normalized endpoints. Returns per-edge window sizes (hh, ww) as
    Python lists (E,) and the (B, E) start rows/columns, shifted so each window fits.
    """
    h, w = size
    lo = torch.minimum(a, b)
    hi = torch.maximum(a, b)
    scale = a.new_tensor([w, h]) / 2.0
    # pixel index i has its centre at n = (2i + 1)/W - 1  <=>  i = (n + 1) W/2 - 1/2
    lo_px = ((lo + 1.0 - radius) * scale - 0.5).clamp(-2.0, max(h, w) + 2.0)
    hi_px = ((hi + 1.0 + radius) * scale - 0.5).clamp(-2.0, max(h, w) + 2.0)
    limit = a.new_tensor([w - 1, h - 1])
    start = torch.maximum(torch.ceil(lo_px), torch.zeros_like(lo_px))
    stop = torch.minimum(torch.floor(hi_px), limit)
    count = (stop - start + 1.0).clamp_min(0.0).to(torch.int64)  # (B, E, 2)
    extent = count.amax(dim=0)  # (E, 2): window width, height
    start = torch.minimum(start.to(torch.int64), torch.tensor([w, h], device=a.device) - extent)
    ext = extent.cpu().tolist()
    return [e[1] for e in ext], [e[0] for e in ext], start[..., 1], start[..., 0]


class _SkeletonImageFunction(torch.autograd.Function):
    """Windowed running-min skeleton image; see the module docstring."""

    @staticmethod
    def forward(ctx, keypoints, edges, edge_channel, num_channels, size, gamma):
        h, w = size
        bsz = keypoints.shape[0]
        dtype, device = keypoints.dtype, keypoints.device
        radius = cutoff_radius(gamma, dtype)
        r2 = radius * radius
        a = keypoints[:, edges[:, 0]]  # (B, E, 2)
        b = keypoints[:, edges[:, 1]]
        hh, ww, y0, x0 = _windows(a, b, (h, w), radius)

        dmin = torch.full((bsz, num_channels * h * w), r2, dtype=dtype, device=device)
        arg = torch.full((bsz, num_channels * h * w), -1, dtype=torch.int16, device=device)
        channel = edge_channel.tolist()
        for e in range(edges.shape[0]):
            if hh[e] == 0 or ww[e] == 0:
                continue
            idx, d2, *_ = _edge_window(keypoints, a, b, e, channel[e], hh[e], ww[e],
                                       y0, x0, (h, w))
            cur = dmin.gather(1, idx)
            better = d2 < cur
            dmin.scatter_(1, idx, torch.where(better, d2, cur))
            am = arg.gather(1, idx)
            arg.scatter_(1, idx, torch.where(better, am.new_tensor(e), am))

        image = torch.where(dmin < r2, torch.exp(-gamma * dmin), dmin.new_zeros(()))
        ctx.save_for_backward(keypoints, arg, image)
        ctx.meta = (edges, channel, hh, ww, y0, x0, (h, w), gamma)
        return image.view(bsz, num_channels, h, w)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        keypoints, arg, image = ctx.saved_tensors
        edges, channel, hh, ww, y0, x0, size, gamma = ctx.meta
        bsz = keypoints.shape[0]
        # dL/d(d2) per pixel; 0 where the kernel was truncated
        gd2 = grad_out.reshape(bsz, -1) * image * (-gamma)
        a = keypoints[:, edges[:, 0]]
        b = keypoints[:, edges[:, 1]]
        grad_a = torch.zeros_like(a)
        grad_b = torch.zeros_like(b)
        for e in range(edges.shape[0]):
            if hh[e] == 0 or ww[e] == 0:
                continue
            idx, _, t, ex, ey = _edge_window(keypoints, a, b, e, channel[e], hh[e], ww[e],
                                             y0, x0, size)
            wgt = gd2.gather(1, idx) * (arg.gather(1, idx) == e)
            wgt = wgt.view(bsz, hh[e], ww[e]) * -2.0
            wa, wb = wgt * (1.0 - t), wgt * t
            grad_a[:, e, 0] = (wa * ex).sum((1, 2))
            grad_a[:, e, 1] = (wa * ey).sum((1, 2))
            grad_b[:, e, 0] = (wb * ex).sum((1, 2))
            grad_b[:, e, 1] = (wb * ey).sum((1, 2))
        grad = torch.zeros_like(keypoints)
        grad.index_add_(1, edges[:, 0], grad_a)
        grad.index_add_(1, edges[:, 1], grad_b)
        return grad, None, None, None, None, None


def _edge_window(keypoints, a, b, e, ch, hh, ww, y0, x0, size):
    """Squared distance to edge e over its (B, hh, ww) window, with flat output indices.

    Returns idx (B, hh*ww) into a (B, C*H*W) image, d2 (B, hh*ww), and t, ex, ey
    (B, hh, ww): the closest point's parameter and the offset u - closest point.
    """
    h, w = size
    dtype, device = keypoints.dtype, keypoints.device
    rows = y0[:, e, None] + torch.arange(hh, device=device)  # (B, hh)
    cols = x0[:, e, None] + torch.arange(ww, device=device)  # (B, ww)
    gy = (2.0 * rows.to(dtype) + 1.0) / h - 1.0
    gx = (2.0 * cols.to(dtype) + 1.0) / w - 1.0
    ax, ay = a[:, e, 0:1], a[:, e, 1:2]  # (B, 1)
    vx, vy = b[:, e, 0:1] - ax, b[:, e, 1:2] - ay
    inv_len2 = 1.0 / (vx * vx + vy * vy).clamp_min(torch.finfo(dtype).tiny)
    dx = gx - ax  # (B, ww)
    dy = gy - ay  # (B, hh)
    s = (dy * vy)[:, :, None] + (dx * vx)[:, None, :]  # (B, hh, ww)
    t = (s * inv_len2[:, :, None]).clamp(0.0, 1.0)
    ex = dx[:, None, :] - t * vx[:, :, None]
    ey = dy[:, :, None] - t * vy[:, :, None]
    d2 = (ex * ex + ey * ey).reshape(-1, hh * ww)
    idx = (ch * h * w + rows[:, :, None] * w + cols[:, None, :]).reshape(-1, hh * ww)
    return idx, d2, t, ex, ey


def render_skeleton_image(
    keypoints: torch.Tensor,
    skeleton: Skeleton,
    layout: str = "5ch",
    size: Sequence[int] = (128, 128),
    gamma: float = DEFAULT_GAMMA,
) -> torch.Tensor:
    """Render the C-channel skeleton image of Eq. 1, differentiable w.r.t. the keypoints.

    Args:
        keypoints: (B, J, 2) normalized (x, y) in [-1, 1]; points outside the image are
            fine (their bones are clipped), NaN or inf raise :class:`InputError`.
        skeleton: provides the edges and the channel layout.
        layout: name of the channel layout (``skeleton.channel_layouts``).
        size: (H, W) of the output.
        gamma: sharpness, applied to squared distances in normalized units.

    Returns:
        (B, C, H, W) in [0, 1], same dtype and device as ``keypoints`` (float16 and
        bfloat16 inputs are computed in float32 and cast back).

    A zero-length bone draws a round dot with finite gradients. The gradient is the
    exact gradient of Eq. 1 with the kernel truncated below 1e-7 (float32).
    """
    edges, edge_channel, channels = _edge_tables(skeleton, layout)
    _check_keypoints(keypoints, skeleton.num_keypoints)
    return _render(keypoints, torch.as_tensor(edges, device=keypoints.device),
                   torch.as_tensor(edge_channel), channels, _size(size), float(gamma))


def _size(size: Sequence[int]) -> tuple[int, int]:
    if len(size) != 2 or any(int(s) <= 0 for s in size):
        raise InputError(f"size must be (H, W) with positive entries, got {tuple(size)}")
    return int(size[0]), int(size[1])


def _render(keypoints, edges, edge_channel, channels, size, gamma):
    if gamma <= 0:
        raise InputError(f"gamma must be positive, got {gamma}")
    dtype = keypoints.dtype
    kp = keypoints if dtype in (torch.float32, torch.float64) else keypoints.float()
    with torch.autocast(device_type=kp.device.type, enabled=False):
        out = _SkeletonImageFunction.apply(kp, edges, edge_channel, channels, size, gamma)
    return out.to(dtype)


class SkeletonImage(nn.Module):
    """Module form of :func:`render_skeleton_image` for use inside models.

    Holds no parameters; caches the edge tables of the skeleton and layout.
    """

    def __init__(self, skeleton: Skeleton, layout: str = "5ch", size: Sequence[int] = (128, 128),
                 gamma: float = DEFAULT_GAMMA):
        super().__init__()
        edges, edge_channel, channels = _edge_tables(skeleton, layout)
        self.skeleton = skeleton
        self.layout = layout
        self.size = _size(size)
        self.gamma = float(gamma)
        self.num_channels = channels
        self.register_buffer("edges", torch.as_tensor(edges), persistent=False)
        self._edge_channel = torch.as_tensor(edge_channel)

    def extra_repr(self) -> str:
        return (f"skeleton={self.skeleton.name}, layout={self.layout}, size={self.size}, "
                f"gamma={self.gamma}")

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) normalized keypoints -> (B, C, H, W) skeleton image."""
        _check_keypoints(keypoints, self.skeleton.num_keypoints)
        return _render(keypoints, self.edges, self._edge_channel, self.num_channels,
                       self.size, self.gamma)


def render_skeleton_image_dense(
    keypoints: torch.Tensor,
    skeleton: Skeleton,
    layout: str = "5ch",
    size: Sequence[int] = (128, 128),
    gamma: float = DEFAULT_GAMMA,
) -> torch.Tensor:
    """Plain dense reference of Eq. 1: the distance of every pixel to every edge, then the
    minimum per channel, all through autograd. Slow and memory-hungry (a (B, E, H*W)
    tensor per intermediate); used to test and benchmark :func:`render_skeleton_image`.
    Zero-length bones are not supported here.
    """
    edges, edge_channel, channels = _edge_tables(skeleton, layout)
    _check_keypoints(keypoints, skeleton.num_keypoints)
    h, w = _size(size)
    xs, ys = pixel_centers((h, w), device=keypoints.device, dtype=keypoints.dtype)
    u = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(1, 1, h * w, 2)
    a = keypoints[:, edges[:, 0]][:, :, None]  # (B, E, 1, 2)
    v = keypoints[:, edges[:, 1]][:, :, None] - a
    t = (((u - a) * v).sum(-1) / (v * v).sum(-1)).clamp(0.0, 1.0)  # (B, E, HW)
    d2 = ((u - a - t[..., None] * v) ** 2).sum(-1)  # (B, E, HW)
    per_channel = [d2[:, torch.as_tensor(np.flatnonzero(edge_channel == c))].amin(1)
                   for c in range(channels)]
    dmin = torch.stack(per_channel, dim=1)  # (B, C, HW)
    return torch.exp(-gamma * dmin).view(-1, channels, h, w)


def skeleton_image_to_rgb(image: torch.Tensor | np.ndarray, colors: np.ndarray | Sequence,
                          mode: str = "max") -> np.ndarray:
    """A C-channel skeleton image as an RGB picture, one colour per channel.

    Args:
        image: (C, H, W) or (B, C, H, W) values in [0, 1].
        colors: (C, 3) RGB in [0, 1], e.g. ``skeleton.channel_colors(layout)``.
        mode: ``"max"`` (each pixel takes the colour of its strongest channel, so
            crossing bones stay distinct) or ``"add"`` (additive, as napari blends layers).

    Returns:
        uint8 array (H, W, 3) or (B, H, W, 3).
    """
    arr = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else \
        np.asarray(image, dtype=np.float32)
    colors = np.asarray(colors, dtype=np.float32)
    if arr.ndim not in (3, 4) or colors.shape != (arr.shape[-3], 3):
        raise ShapeError(
            f"skeleton_image_to_rgb: expected image (C, H, W) or (B, C, H, W) and colors "
            f"(C, 3), got {arr.shape} and {colors.shape}"
        )
    weighted = arr[..., :, :, :, None] * colors[:, None, None, :]  # (..., C, H, W, 3)
    if mode == "max":
        strongest = arr.argmax(axis=-3)[..., None, :, :, None]  # (..., 1, H, W, 1)
        rgb = np.take_along_axis(weighted, strongest, axis=-4)[..., 0, :, :, :]
    elif mode == "add":
        rgb = weighted.sum(axis=-4)
    else:
        raise InputError(f"mode must be 'max' or 'add', got {mode!r}")
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
