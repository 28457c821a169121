"""Backgrounds for the synthetic renderer, batched: a procedural room seen through the
same camera as the subject (floor, walls, ceiling, a soft contact shadow), fractal
noise, clutter of random shapes, or crops of the user's own pictures.

Rendered at a reduced resolution (``scale``) and upsampled: backgrounds are smooth
and this keeps them cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InputError
from training.synthetic.textures import hsv_to_rgb, pattern_value

KINDS = ("room", "noise", "clutter", "images")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SHAPES = 12  # clutter shapes per image
GRAIN = 17  # side of the random grid behind the noise backgrounds


@dataclass
class Environment:
    """B environments. ``kind`` (B,) index into ``KINDS``; room: ``room`` (B, 5) half
    width, half depth, height, yaw (radians) and offset along x of the room around the
    subject, ``surfaces`` (B, 3, 2, 3) two colours of floor, walls, ceiling,
    ``surface_pattern`` / ``surface_freq`` (B, 3); ``palette`` (B, 3, 3) for noise and
    clutter; ``shapes`` (B, K, 8) clutter (x, y, w, h, angle, round, colour index,
    alpha); ``image`` (B,) picture index, ``crop`` (B, 4) (scale, x, y, flip);
    ``brightness`` (B,); ``grain`` (B, 3, 17, 17) random values behind the noise kind."""

    kind: torch.Tensor
    room: torch.Tensor
    surfaces: torch.Tensor
    surface_pattern: torch.Tensor
    surface_freq: torch.Tensor
    palette: torch.Tensor
    shapes: torch.Tensor
    image: torch.Tensor
    crop: torch.Tensor
    brightness: torch.Tensor
    grain: torch.Tensor

    def index(self, idx: torch.Tensor) -> Environment:
        return Environment(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device) -> Environment:
        return Environment(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _u(g, *shape, lo=0.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def sample_environment(n: int, g: torch.Generator, kind_weights=(0.45, 0.2, 0.25, 0.1),
                       num_images: int = 0) -> Environment:
    """Random environments; ``kind_weights`` over ``KINDS`` (pictures only if any)."""
    w = torch.tensor(kind_weights, dtype=torch.float32)
    if num_images == 0:
        w[KINDS.index("images")] = 0.0
    kind = torch.multinomial(w, n, replacement=True, generator=g)
    room = torch.stack([_u(g, n, lo=2.0, hi=6.0), _u(g, n, lo=2.0, hi=6.0),
                        _u(g, n, lo=2.4, hi=4.0), _u(g, n, hi=2 * math.pi),
                        _u(g, n, lo=-1.5, hi=1.5)], -1)
    surfaces = hsv_to_rgb(_u(g, n, 3, 2), _u(g, n, 3, 2, hi=0.7), _u(g, n, 3, 2, lo=0.1, hi=1.0))
    pattern = torch.multinomial(torch.tensor([1.0, 1, 1, 1, 1, 0.5, 0.5]), n * 3,
                                replacement=True, generator=g).view(n, 3)
    freq = torch.exp(_u(g, n, 3, lo=math.log(0.5), hi=math.log(4.0)))
    palette = hsv_to_rgb(_u(g, n, 3), _u(g, n, 3, hi=0.9), _u(g, n, 3, lo=0.1, hi=1.0))
    shapes = torch.cat([_u(g, n, SHAPES, 2, lo=-1.1, hi=1.1), _u(g, n, SHAPES, 2, lo=0.05,
                                                                   hi=0.6),
                        _u(g, n, SHAPES, 1, hi=math.pi), (_u(g, n, SHAPES, 1) < 0.5).float(),
                        torch.randint(3, (n, SHAPES, 1), generator=g).float(),
                        _u(g, n, SHAPES, 1, lo=0.5, hi=1.0)], -1)
    image = torch.randint(max(num_images, 1), (n,), generator=g)
    crop = torch.stack([_u(g, n, lo=0.3, hi=1.0), _u(g, n, lo=-1, hi=1), _u(g, n, lo=-1, hi=1),
                        (_u(g, n) < 0.5).float()], -1)
    return Environment(kind, room, surfaces, pattern, freq, palette, shapes, image, crop,
                       _u(g, n, lo=0.6, hi=1.2), torch.rand(n, 3, GRAIN, GRAIN, generator=g))


def load_pictures(folder: str | Path, side: int = 256) -> torch.Tensor:
    """(N, 3, side, side) RGB in [0, 1]: every picture in ``folder``, centre-cropped to a
    square and resized, for the ``images`` background kind."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"background folder {folder} does not exist")
    out = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        img = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
        out.append(torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1))
    if not out:
        raise InputError(f"background folder {folder} holds no pictures "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    return torch.stack(out).float() / 255.0


def render_background(env: Environment, rot: torch.Tensor, trans: torch.Tensor,
                      ground: torch.Tensor, focal: float, size: tuple[int, int],
                      pictures: torch.Tensor | None = None, scale: int = 2,
                      colour: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """(B, H, W, 3) backgrounds (channels last: the renderer composites pixels as rows).

    Args:
        env: the environments.
        rot, trans: (B, 3, 3), (B, 3) world -> camera (``p_c = rot @ p_w + trans``); the
            world has y down and the floor at y = 0.
        ground: (B, 3) world point under the subject (centre of the contact shadow).
        focal: focal length in pixels of the full-size image.
        size: (H, W) of the output; rooms and pictures are rendered at (H, W) / ``scale``,
            noise and clutter at a quarter of that, then upsampled.
        pictures: (N, 3, S, S) user pictures for the ``images`` kind.
        colour: optional per-image colour transform (M (B, 3, 3), o (B, 3)), applied at
            the low resolution.
    """
    h, w = size
    n = env.kind.shape[0]
    dev = rot.device
    out = torch.empty(n, h, w, 3, device=dev)
    for k, name in enumerate(KINDS):
        idx = torch.nonzero(env.kind == k).flatten()
        if len(idx) == 0:
            continue
        sub = env.index(idx)
        div = scale if name in ("room", "images") else 2 * scale
        low = (max(h // div, 1), max(w // div, 1))
        if name == "room":
            img = _room(sub, rot[idx], trans[idx], ground[idx], focal, (h, w), low)
        elif name == "noise":
            img = _noise(sub, low)
        elif name == "clutter":
            img = _clutter(sub, low)
        else:
            if pictures is None:
                raise InputError("background kind 'images' needs pictures")
            img = _pictures(sub, pictures.to(dev), low)
        img = img * sub.brightness[:, None, None, None]
        if colour is not None:
            m, o = colour[0][idx], colour[1][idx]
            img = (torch.bmm(m, img.reshape(len(idx), 3, -1)) + o[..., None]).view(img.shape)
        # (n, 3, h, w) in channels-last memory: bilinear upsampling is several times faster
        img = img.contiguous(memory_format=torch.channels_last)
        if low != (h, w):
            img = F.interpolate(img, size=(h, w), mode="bilinear", align_corners=False)
        out.index_copy_(0, idx, img.permute(0, 2, 3, 1))
    return out.clamp_(0, 1)


def _room(env: Environment, rot, trans, ground, focal, size, low) -> torch.Tensor:
    h, w = size
    hb, wb = low
    n, dev = rot.shape[0], rot.device
    ys = (torch.arange(hb, device=dev) + 0.5) * (h / hb) - 0.5
    xs = (torch.arange(wb, device=dev) + 0.5) * (w / wb) - 0.5
    dy, dx = torch.meshgrid((ys - (h - 1) / 2) / focal, (xs - (w - 1) / 2) / focal, indexing="ij")
    d_c = torch.stack([dx, dy, torch.ones_like(dx)], -1).reshape(1, -1, 3)  # (1, HW, 3)
    yaw = env.room[:, 3]
    c, s = torch.cos(yaw), torch.sin(yaw)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    r_room = torch.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).view(n, 3, 3)
    # the room is centred between the subject and the camera (shifted sideways by the
    # room's offset) and grown until both are well inside
    cam = -(rot.transpose(1, 2) @ trans[..., None])[..., 0]
    centre = (ground + cam) / 2
    centre = centre + (r_room @ torch.stack([env.room[:, 4], zero, zero], -1)[..., None])[..., 0]
    centre[:, 1] = 0.0
    need = torch.maximum((r_room.transpose(1, 2) @ (cam - centre)[..., None])[..., 0].abs(),
                         (r_room.transpose(1, 2) @ (ground - centre)[..., None])[..., 0].abs())
    half = torch.stack([torch.maximum(env.room[:, 0], need[:, 0] + 1.0), env.room[:, 2],
                        torch.maximum(env.room[:, 1], need[:, 2] + 1.0)], -1)  # x, height, z
    m = rot @ r_room  # room frame -> camera
    tt = (rot @ centre[..., None])[..., 0] + trans
    d = d_c @ m  # (B, HW, 3) = (M^T d_c)^T
    o = -(m.transpose(1, 2) @ tt[..., None])[..., 0]  # (B, 3) camera in the room frame
    spot = (r_room.transpose(1, 2) @ (ground - centre)[..., None])[..., 0]
    lo = torch.stack([-half[:, 0], -half[:, 1], -half[:, 2]], -1)
    hi = torch.stack([half[:, 0], zero, half[:, 2]], -1)
    safe = torch.where(d.abs() < 1e-6, torch.full_like(d, 1e-6), d)
    bound = torch.where(safe > 0, hi[:, None], lo[:, None])
    lam = (bound - o[:, None]) / safe  # (B, HW, 3)
    lam = torch.where(lam > 0, lam, torch.full_like(lam, 1e6))
    dist, axis = lam.min(-1)
    hit = o[:, None] + dist[..., None] * d
    floor = (axis == 1) & (d[..., 1] > 0)
    ceiling = (axis == 1) & ~floor
    surface = torch.where(axis == 1, torch.where(floor, 0, 2), 1)  # 0 floor 1 wall 2 ceiling
    u = torch.where(axis == 0, hit[..., 2], hit[..., 0])
    v = torch.where(axis == 1, hit[..., 2], -hit[..., 1])
    kind = torch.gather(env.surface_pattern, 1, surface)
    freq = torch.gather(env.surface_freq, 1, surface)
    height = (-hit[..., 1] / half[:, 1:2]).clamp(0, 1)
    mix = pattern_value(kind, u, v, height, freq, torch.zeros_like(u))
    cols = env.surfaces.reshape(n, 3, 6)
    col = torch.gather(cols, 1, surface[..., None].expand(*surface.shape, 6))
    rgb = col[..., :3] + mix[..., None] * (col[..., 3:] - col[..., :3])
    # shading: darker far away and low on the walls, a soft contact shadow on the floor
    shade = 1.0 - 0.35 * (dist / 12.0).clamp(0, 1)
    shade = shade * torch.where(surface == 1, 0.75 + 0.25 * height, torch.ones_like(shade))
    shade = shade * torch.where(ceiling, 1.1, 1.0)
    rel = hit - spot[:, None]
    blob = torch.exp(-(rel[..., 0] ** 2 + rel[..., 2] ** 2) / 0.12)
    shade = shade * torch.where(floor, 1.0 - 0.45 * blob, torch.ones_like(blob))
    return (rgb * shade[..., None]).view(n, hb, wb, 3).permute(0, 3, 1, 2)


def _noise(env: Environment, low) -> torch.Tensor:
    hb, wb = low
    n, dev = env.kind.shape[0], env.palette.device
    acc = torch.zeros(n, 3, hb, wb, device=dev)
    for (a, b), amp in (((0, 3), 0.5), ((3, 10), 0.3), ((0, GRAIN), 0.2)):
        grid = env.grain[..., a:b, a:b]
        acc += amp * F.interpolate(grid, size=(hb, wb), mode="bicubic", align_corners=False)
    a, b = acc[:, :1].clamp(0, 1), acc[:, 1:2].clamp(0, 1)
    p = env.palette[..., None, None]  # (B, 3, 3, 1, 1)
    return p[:, 0] + a * (p[:, 1] - p[:, 0]) + (b - 0.5) * (p[:, 2] - p[:, 0])


def _clutter(env: Environment, low) -> torch.Tensor:
    hb, wb = low
    n, dev = env.kind.shape[0], env.palette.device
    ys = (2 * torch.arange(hb, device=dev) + 1) / hb - 1
    xs = (2 * torch.arange(wb, device=dev) + 1) / wb - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1).reshape(1, 1, -1, 2)
    s = env.shapes
    rel = grid - s[..., None, 0:2]  # (B, K, HW, 2)
    c, si = torch.cos(s[..., 4:5]), torch.sin(s[..., 4:5])
    lx = (rel[..., 0] * c + rel[..., 1] * si) / s[..., 2:3]
    ly = (-rel[..., 0] * si + rel[..., 1] * c) / s[..., 3:4]
    box = torch.maximum(lx.abs(), ly.abs())
    ell = torch.sqrt(lx * lx + ly * ly)
    inside = torch.where(s[..., 5:6] > 0.5, ell, box) < 1.0  # (B, K, HW)
    k = torch.arange(1, SHAPES + 1, device=dev)[None, :, None]
    top = (inside * k).amax(1)  # (B, HW), 0 = none
    idx = (top - 1).clamp_min(0)
    cidx = torch.gather(s[..., 6].long(), 1, idx)
    col = torch.gather(env.palette, 1, cidx[..., None].expand(-1, -1, 3))
    shade = torch.gather(s[..., 7], 1, idx)
    base = env.palette[:, 0, :, None] * 0.6
    img = torch.where(top[:, None] > 0, (col * shade[..., None]).transpose(1, 2), base)
    return img.reshape(n, 3, hb, wb)


def _pictures(env: Environment, pictures: torch.Tensor, low) -> torch.Tensor:
    hb, wb = low
    n = env.kind.shape[0]
    src = pictures[env.image.clamp(max=pictures.shape[0] - 1)]
    sc, ox, oy, flip = env.crop.unbind(-1)
    sx = sc * torch.where(flip > 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=src.device)
    theta[:, 0, 0], theta[:, 1, 1] = sx, sc
    theta[:, 0, 2], theta[:, 1, 2] = ox * (1 - sc), oy * (1 - sc)
    grid = F.affine_grid(theta, (n, 3, hb, wb), align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection",
                         align_corners=False)
