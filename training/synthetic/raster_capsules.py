"""Batched capsule rasterizer with a depth test: the geometry half of the synthetic
renderer (appearance is in ``training/synthetic/textures.py``).

A capsule (tapered, radius ``ra`` -> ``rb`` metres along the segment a -> b, camera
frame) is drawn as a sphere-swept impostor: a pixel at 2D distance ``d`` from the
projected segment, at parameter ``t``, is covered when ``d < r_px(t) + 1/2``, and its
surface depth is ``z(t) - r(t) (1 - (d / r_px(t))^2)`` (a paraboloid cap). Every
(sample, part) pair is evaluated over its own bounding window only, all windows packed
into one flat list of pixels, and the nearest surface wins through one
``scatter_reduce(amin)`` of a packed (depth, part) float key per pixel: real
self-occlusion, no per-sample or per-part Python loop.

Pixel coordinates follow the project: (x, y), pixel ``i`` centred at ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

DEPTH_QUANTUM = 1e-3  # metres per step of the packed depth key (float32 exact to 2^24)
PART_SLOTS = 64  # parts (body + props) per image at most; depths up to 262 m
_FAR = float(2**24)
_EXACT = 2**24  # float32 holds every integer below this


@dataclass
class Capsules:
    """Projected capsules: pa, pb (B, P, 2) pixels; za, zb (B, P) depths; ra, rb (B, P)
    metric radii; rpa, rpb (B, P) radii in pixels; valid (B, P) in front of the camera;
    length (B, P) metric length of the segment."""

    pa: torch.Tensor
    pb: torch.Tensor
    za: torch.Tensor
    zb: torch.Tensor
    ra: torch.Tensor
    rb: torch.Tensor
    rpa: torch.Tensor
    rpb: torch.Tensor
    valid: torch.Tensor
    length: torch.Tensor


def project_capsules(a: torch.Tensor, b: torch.Tensor, ra: torch.Tensor, rb: torch.Tensor,
                     focal: float, centre: tuple[float, float]) -> Capsules:
    """Project (B, P, 3) camera-frame end points and (B, P) radii to pixels."""
    za = a[..., 2].clamp_min(1e-2)
    zb = b[..., 2].clamp_min(1e-2)
    c = a.new_tensor(centre)
    pa = a[..., :2] / za[..., None] * focal + c
    pb = b[..., :2] / zb[..., None] * focal + c
    valid = (a[..., 2] > 0.05) & (b[..., 2] > 0.05)
    return Capsules(pa, pb, za, zb, ra, rb, ra * focal / za, rb * focal / zb, valid,
                    (b - a).norm(dim=-1))


def _windows(cap: Capsules, size: tuple[int, int]) -> tuple[torch.Tensor, ...]:
    """Exact pixel window of every (sample, part): starts x0, y0 and sizes wx, wy, (B, P)
    int64 each, empty (0) for capsules off screen or behind the camera."""
    h, w = size
    rmax = torch.maximum(cap.rpa, cap.rpb)[..., None] + 1.0
    lim = cap.pa.new_tensor([w - 1, h - 1])
    lo = (torch.minimum(cap.pa, cap.pb) - rmax).ceil()
    hi = (torch.maximum(cap.pa, cap.pb) + rmax).floor()
    lo = torch.minimum(lo.clamp_min(0.0), lim + 1)
    hi = torch.maximum(torch.minimum(hi, lim), torch.full_like(hi, -1.0))
    count = (hi - lo + 1).clamp_min(0) * cap.valid[..., None]
    lo, count = lo.long(), count.long()
    return lo[..., 0], lo[..., 1], count[..., 0], count[..., 1]


def rasterize(cap: Capsules, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest capsule per pixel.

    Every (sample, part) is evaluated over its own bounding window, all windows packed
    into one flat list of pixels (no per-part loop, no padding to the largest window),
    and the nearest surface wins through ``scatter_reduce(amin)`` of a float key
    ``floor(depth / DEPTH_QUANTUM) * PART_SLOTS + part``.

    Returns:
        part (B, H*W) int64, -1 where no capsule covers the pixel, and depth (B, H*W)
        (metres, to ``DEPTH_QUANTUM``; +inf on the background).
    """
    h, w = size
    bsz, parts = cap.za.shape
    dev = cap.za.device
    if parts > PART_SLOTS:
        raise ValueError(f"at most {PART_SLOTS} capsules per image, got {parts}")
    if bsz > 1 and bsz * h * w > _EXACT:  # keep flat pixel indices exact in float32
        half = bsz // 2
        parts_a, depth_a = rasterize(_take(cap, slice(0, half)), size)
        parts_b, depth_b = rasterize(_take(cap, slice(half, bsz)), size)
        return torch.cat([parts_a, parts_b]), torch.cat([depth_a, depth_b])
    x0, y0, wx, wy = (v.flatten() for v in _windows(cap, size))
    n = wx * wy  # pixels per window
    buf = torch.full((bsz * h * w,), _FAR, device=dev)
    total = int(n.sum())
    if total > 0:
        win = torch.repeat_interleave(torch.arange(n.numel(), device=dev), n)  # (N,)
        ax, ay = cap.pa[..., 0], cap.pa[..., 1]
        vx, vy = cap.pb[..., 0] - ax, cap.pb[..., 1] - ay
        inv = 1.0 / (vx * vx + vy * vy).clamp_min(1e-8)
        k0 = (cap.za - cap.ra) / DEPTH_QUANTUM
        kd = (cap.zb - cap.rb) / DEPTH_QUANTUM - k0
        pid = torch.arange(parts, device=dev, dtype=torch.float32).expand(bsz, parts)
        base = torch.arange(bsz, device=dev, dtype=torch.float32)[:, None] * (h * w)
        start = (torch.cumsum(n, 0) - n).float()
        table = torch.stack([
            x0.float() - ax.flatten(), y0.float() - ay.flatten(), wx.float(), start,
            (base + y0.view(bsz, parts) * w + x0.view(bsz, parts)).flatten(),
            (vx * inv).flatten(), (vy * inv).flatten(), vx.flatten(), vy.flatten(),
            cap.rpa.flatten(), (cap.rpb - cap.rpa).flatten(), k0.flatten(), kd.flatten(),
            (cap.ra / DEPTH_QUANTUM).flatten(), ((cap.rb - cap.ra) / DEPTH_QUANTUM).flatten(),
            pid.flatten()])
        # one index_select into (16, N): contiguous rows (an (N, 16) gather is far slower)
        (ox, oy, wxw, start, corner, ux, uy, tvx, tvy, rpa, drp, k0, kd, ra, dra,
         pid) = table.index_select(1, win).unbind(0)
        # window-local pixel (lx, ly), all in exact float32 integers
        loc = torch.arange(total, device=dev, dtype=torch.float32).sub_(start)
        ly = (loc + 0.5).div_(wxw).floor_()
        lx = loc.sub_(ly * wxw)
        flat = (corner + ly * w + lx).long()
        dx, dy = lx.add_(ox), ly.add_(oy)  # pixel centre minus the capsule's start point
        t = (dx * ux).add_(dy * uy).clamp_(0.0, 1.0)
        ex, ey = dx.sub_(t * tvx), dy.sub_(t * tvy)
        dist2 = ex.mul_(ex).add_(ey * ey)
        rp = rpa.add_(t * drp)
        # surface depth ~ z - r + r (d / r_px)^2: a paraboloid cap, cheaper than a sphere
        key = (dist2 / (rp * rp)).clamp_(max=1.0).mul_(ra.add_(t * dra))
        key.add_(k0.add_(t.mul_(kd))).clamp_(0.0, _FAR / PART_SLOTS - 1).floor_()
        key.mul_(PART_SLOTS).add_(pid)
        key.masked_fill_(dist2 >= rp.add_(0.5).square_(), _FAR)
        buf.scatter_reduce_(0, flat, key, reduce="amin")
    buf = buf.view(bsz, h * w)
    hit = buf < _FAR
    slot = torch.floor(buf / PART_SLOTS)
    part = torch.where(hit, (buf - slot * PART_SLOTS).long(), -1)
    depth = torch.where(hit, slot * DEPTH_QUANTUM, float("inf"))
    return part, depth


def _take(cap: Capsules, rows: slice) -> Capsules:
    return Capsules(*(getattr(cap, f.name)[rows] for f in fields(Capsules)))


@dataclass
class Surface:
    """Attributes of the covered pixels only (N of them, compacted): ``index`` (N,) flat
    index into (B * H * W), ``sample`` (N,) image index, ``part`` (N,), ``t`` along the
    part, ``nx``, ``ny``, ``nz`` the camera-frame normal, ``alpha`` edge coverage,
    ``radius`` metric radius at t, ``length`` metric part length, ``lateral`` in [-1, 1]
    across the part."""

    index: torch.Tensor
    sample: torch.Tensor
    part: torch.Tensor
    t: torch.Tensor
    nx: torch.Tensor
    ny: torch.Tensor
    nz: torch.Tensor
    alpha: torch.Tensor
    radius: torch.Tensor
    length: torch.Tensor
    lateral: torch.Tensor


def surface(cap: Capsules, part: torch.Tensor, size: tuple[int, int]) -> Surface:
    """Surface attributes of the winning capsule at every covered pixel."""
    h, w = size
    index = torch.nonzero(part.flatten() >= 0).flatten()
    sample = torch.div(index, h * w, rounding_mode="floor")
    pix = index - sample * (h * w)
    pid = part.flatten()[index]
    table = torch.stack([cap.pa[..., 0], cap.pa[..., 1], cap.pb[..., 0], cap.pb[..., 1],
                         cap.rpa, cap.rpb, cap.ra, cap.rb, cap.length], -1)  # (B, P, 9)
    flat_idx = sample * table.shape[1] + pid
    ax, ay, bx, by, rpa, rpb, ra, rb, length = table.reshape(-1, 9).T.index_select(
        1, flat_idx).unbind(0)  # (N,) each
    ys = torch.div(pix, w, rounding_mode="floor")
    xs = (pix - ys * w).float()
    vx, vy = bx - ax, by - ay
    dx, dy = xs - ax, ys.float() - ay
    len2 = (vx * vx + vy * vy).clamp_min(1e-8)
    t = ((dx * vx + dy * vy) / len2).clamp(0.0, 1.0)
    ex, ey = dx - t * vx, dy - t * vy
    rp = (rpa + t * (rpb - rpa)).clamp_min(1e-3)
    nx, ny = ex / rp, ey / rp
    r2 = nx * nx + ny * ny
    nz = -torch.sqrt((1.0 - r2).clamp_min(0.0))
    alpha = (rp + 0.5 - torch.sqrt(ex * ex + ey * ey)).clamp(0.0, 1.0)
    lateral = (ex * vy - ey * vx) / (rp * torch.sqrt(len2))
    return Surface(index, sample, pid, t, nx, ny, nz, alpha, ra + t * (rb - ra), length,
                   lateral.clamp(-1.0, 1.0))


def visibility_from_pixels(pixels: torch.Tensor, z: torch.Tensor, part: torch.Tensor,
                           depth: torch.Tensor, owners: torch.Tensor, margin: torch.Tensor,
                           size: tuple[int, int]) -> torch.Tensor:
    """(B, J) bool visibility of keypoints at ``pixels`` (B, J, 2) with camera depths
    ``z`` (B, J): inside the image, the part on top at the keypoint's pixel is one of its
    own (``owners`` (J, P)), and the keypoint lies at most ``margin`` (B, J) metres behind
    that surface. ``part`` and ``depth`` (B, H*W) come from :func:`rasterize`."""
    h, w = size
    ij = torch.round(pixels).to(torch.int64)
    inside = (ij[..., 0] >= 0) & (ij[..., 0] < w) & (ij[..., 1] >= 0) & (ij[..., 1] < h) & (
        z > 0.05)
    flat = (ij[..., 1].clamp(0, h - 1) * w + ij[..., 0].clamp(0, w - 1))
    top = torch.gather(part, 1, flat)  # (B, J)
    surf = torch.gather(depth, 1, flat)
    jdx = torch.arange(owners.shape[0], device=part.device).expand_as(top)
    body = (top >= 0) & (top < owners.shape[1])
    own = owners.to(part.device)[jdx, top.clamp(0, owners.shape[1] - 1)] & body
    return inside & own & (z - surf <= margin)
