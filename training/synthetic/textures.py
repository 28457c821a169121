"""Appearance for the synthetic renderer: clothing-like textures per body region,
lighting, and backgrounds (procedural rooms, noise, clutter, user pictures).

Everything is batched: an :class:`Appearance` holds (B, ...) tensors, one subject per
row, and :func:`shade_body` / :func:`render_background` evaluate them for all pixels of
all images at once. Patterns (index in ``PATTERNS``) are functions of the surface
coordinates of a capsule: metres along it and metres around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from training.synthetic.body import HAIR, REGIONS, SHOES, SKIN, BodyModel

PATTERNS = ("solid", "stripes_along", "stripes_around", "checks", "noise", "gradient",
            "denim")

# skin tones (linear-ish RGB in [0, 1]) and hair colours
SKIN_TONES = torch.tensor([[0.96, 0.80, 0.69], [0.92, 0.72, 0.58], [0.80, 0.60, 0.45],
                           [0.66, 0.47, 0.33], [0.49, 0.33, 0.22], [0.33, 0.22, 0.15]])
HAIR_COLOURS = torch.tensor([[0.06, 0.05, 0.04], [0.25, 0.16, 0.09], [0.45, 0.30, 0.15],
                             [0.80, 0.66, 0.40], [0.55, 0.22, 0.10], [0.62, 0.62, 0.62]])


@dataclass
class Appearance:
    """B subjects' looks. ``colors`` (B, R, 2, 3) two colours per region, ``pattern``
    (B, R) index into ``PATTERNS``, ``freq`` (B, R) cycles per metre, ``phase`` (B, R),
    ``split`` (B, P) where region ``first`` gives way to ``second`` along each part,
    ``girth`` (B, P) radius factor per part, ``hair`` (B, 2) hair cover of the head (top,
    back), ``light_dir`` (B, 3) camera-frame direction the light travels, ``ambient``,
    ``diffuse``, ``specular`` (B,), ``light_color`` (B, 3)."""

    colors: torch.Tensor
    pattern: torch.Tensor
    freq: torch.Tensor
    phase: torch.Tensor
    split: torch.Tensor
    girth: torch.Tensor
    hair: torch.Tensor
    light_dir: torch.Tensor
    ambient: torch.Tensor
    diffuse: torch.Tensor
    specular: torch.Tensor
    light_color: torch.Tensor

    def index(self, idx: torch.Tensor) -> Appearance:
        return Appearance(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device) -> Appearance:
        return Appearance(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def cat(items: list[Appearance]) -> Appearance:
        return Appearance(**{f.name: torch.cat([getattr(a, f.name) for a in items])
                             for f in fields(items[0])})


def _u(g, *shape, lo=0.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(...,) hue in [0, 1), saturation, value -> (..., 3) RGB."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * (torch.minimum(k, 4 - k)).clamp(0, 1)


def sample_appearance(body: BodyModel, n: int, g: torch.Generator, *, wild: float = 0.15,
                      girth: tuple[float, float] = (0.8, 1.3),
                      patterns: tuple[float, ...] = (1, 1, 1, 1, 1, 0.6, 0.6),
                      saturation: tuple[float, float] = (0.0, 0.95),
                      ) -> Appearance:
    """Random looks for ``n`` subjects of ``body``.

    ``wild`` is the share of subjects with unnatural skin and hair colours (domain
    randomization); ``girth`` the range of the overall thickness; ``patterns`` relative
    weights of ``PATTERNS`` for clothing regions.
    """
    r = len(REGIONS)
    hue, sat = _u(g, n, r, 2), _u(g, n, r, 2, lo=saturation[0], hi=saturation[1])
    val = _u(g, n, r, 2, lo=0.08, hi=0.98)
    colors = hsv_to_rgb(hue, sat, val)
    # natural skin / hair for most subjects (people); animals get natural coats too
    tone = SKIN_TONES[torch.randint(len(SKIN_TONES), (n,), generator=g)]
    tone = (tone * _u(g, n, 1, lo=0.85, hi=1.12)).clamp(0, 1)
    hair = HAIR_COLOURS[torch.randint(len(HAIR_COLOURS), (n,), generator=g)]
    hair = (hair * _u(g, n, 1, lo=0.8, hi=1.25)).clamp(0, 1)
    natural = _u(g, n) >= wild
    if body.kind == "quadruped":
        coat = hair * 0.6 + tone * 0.4
        colors[:, 2, 0] = torch.where(natural[:, None], coat, colors[:, 2, 0])
        colors[:, 2, 1] = torch.where(natural[:, None], coat * 0.6, colors[:, 2, 1])
        colors[:, 5, 0] = torch.where(natural[:, None], tone, colors[:, 5, 0])
    colors[:, SKIN, 0] = torch.where(natural[:, None], tone, colors[:, SKIN, 0])
    colors[:, SKIN, 1] = colors[:, SKIN, 0] * 0.9
    colors[:, HAIR, 0] = torch.where(natural[:, None], hair, colors[:, HAIR, 0])
    colors[:, HAIR, 1] = colors[:, HAIR, 0] * 0.7
    colors[:, SHOES] = colors[:, SHOES] * torch.where(_u(g, n, 1, 1) < 0.6, 0.35, 1.0)
    weights = torch.tensor(patterns, dtype=torch.float32)
    pattern = torch.multinomial(weights, n * r, replacement=True, generator=g).view(n, r)
    pattern[:, SKIN] = torch.where(natural, 0, pattern[:, SKIN])
    pattern[:, HAIR] = torch.where(natural, 4, pattern[:, HAIR])
    freq = torch.exp(_u(g, n, r, lo=math.log(3.0), hi=math.log(25.0)))
    phase = _u(g, n, r, hi=2 * math.pi)

    sleeve = _u(g, n)  # < 0.25 sleeveless, < 0.55 short, else long
    legs = _u(g, n)  # < 0.3 shorts, else trousers
    split = torch.ones(n, body.num_parts)
    for p, kind in enumerate(body.split_kind):
        if kind == "upper_sleeve":
            split[:, p] = torch.where(sleeve < 0.25, 0.05, torch.where(sleeve < 0.55, 0.45, 1.0))
        elif kind == "lower_sleeve":
            split[:, p] = torch.where(sleeve < 0.55, 0.0, _u(g, n, lo=0.85, hi=1.0))
        elif kind == "upper_leg":
            split[:, p] = torch.where(legs < 0.3, _u(g, n, lo=0.3, hi=0.7), 1.0)
        elif kind == "lower_leg":
            split[:, p] = torch.where(legs < 0.3, 0.0, _u(g, n, lo=0.85, hi=1.0))
        elif kind == "waist":
            split[:, p] = _u(g, n, lo=0.2, hi=0.8)
        elif kind == "tail_split":
            split[:, p] = _u(g, n, lo=0.3, hi=1.0)
    overall = _u(g, n, 1, lo=girth[0], hi=girth[1])
    groups = _u(g, n, len(body.girth_groups), lo=0.85, hi=1.18)
    part_girth = overall * groups[:, body.girth]
    head = body.girth_groups.index("head") if "head" in body.girth_groups else None
    if head is not None:  # heads vary less than limbs
        part_girth = torch.where(body.girth[None] == head, 0.5 + 0.5 * part_girth, part_girth)
    light = torch.stack([_u(g, n, lo=-1, hi=1), _u(g, n, lo=0.2, hi=1.2),
                         _u(g, n, lo=0.1, hi=1.0)], -1)
    return Appearance(
        colors=colors, pattern=pattern, freq=freq, phase=phase, split=split,
        girth=part_girth, hair=torch.stack([_u(g, n, lo=0.0, hi=0.6),
                                            _u(g, n, lo=-0.3, hi=0.4)], -1),
        light_dir=F.normalize(light, dim=-1), ambient=_u(g, n, lo=0.25, hi=0.6),
        diffuse=_u(g, n, lo=0.35, hi=0.85), specular=_u(g, n, lo=0.0, hi=0.25),
        light_color=1.0 - 0.25 * _u(g, n, 3),
    )


_NOISE_CACHE: dict[tuple, torch.Tensor] = {}


def noise_table(device, size: int = 128) -> torch.Tensor:
    """(size, size) smooth tileable value noise in [0, 1], fixed (seed 1234)."""
    key = (str(device), size)
    if key not in _NOISE_CACHE:
        g = torch.Generator().manual_seed(1234)
        acc = torch.zeros(size, size)
        for octave, amp in ((8, 0.5), (16, 0.3), (32, 0.2)):
            grid = torch.rand(1, 1, octave, octave, generator=g)
            grid = torch.cat([grid, grid[..., :1, :]], 2)
            grid = torch.cat([grid, grid[..., :, :1]], 3)
            up = F.interpolate(grid, size=(size + size // octave,) * 2, mode="bilinear",
                               align_corners=True)[0, 0, :size, :size]
            acc += amp * up
        acc = (acc - acc.min()) / (acc.max() - acc.min())
        _NOISE_CACHE[key] = acc.to(device)
    return _NOISE_CACHE[key]


def _lookup(table: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    n = table.shape[0]
    iu = (u * 8.0).long().remainder_(n)
    iv = (v * 8.0).long().remainder_(n)
    return table.flatten().index_select(0, (iu * n + iv).flatten()).view(iu.shape)


def pattern_value(kind: torch.Tensor, along: torch.Tensor, around: torch.Tensor,
                  t: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Mix factor in [0, 1] between a region's two colours, for every pixel.

    All inputs have the same shape; ``along``/``around`` are surface metres, ``t`` in
    [0, 1] along the part. ``kind`` indexes ``PATTERNS``."""
    table = noise_table(along.device)
    a, b = along * freq + phase, around * freq + phase
    sa, sb = torch.sin(2 * math.pi * a), torch.sin(2 * math.pi * b)
    stripes_a = (0.5 + 2.0 * sa).clamp_(0.0, 1.0)
    stripes_b = (0.5 + 2.0 * sb).clamp_(0.0, 1.0)
    checks = (0.5 + 3.0 * sa * sb).clamp_(0.0, 1.0)
    noise = _lookup(table, a * 0.25 + 5.0, b * 0.25 + 5.0)
    denim = 0.6 * noise + 0.3 * stripes_a * stripes_b
    options = torch.stack([torch.zeros_like(a), stripes_a, stripes_b, checks, noise, t, denim])
    return torch.gather(options, 0, kind[None])[0]


def shade_body(app: Appearance, body: BodyModel, surf, head_up: torch.Tensor,
               head_forward: torch.Tensor, worn: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 3) lit colour of every covered pixel of a :class:`Surface` (body parts first,
    then props, which take the ``prop`` region); ``head_up`` / ``head_forward`` (B, 3)
    camera-frame head axes decide where hair covers the head; ``worn`` (N,): the region
    of pixels that show something worn (a garment of a mesh person, in the colours of
    the region it belongs to), -1 elsewhere.

    Per-pixel parameters come from tables by ``index_select`` on contiguous rows, which
    is several times faster on the CPU than advanced indexing of (N, K) gathers.
    """
    dev = surf.part.device
    nparts = app.split.shape[1]
    b, pid = surf.sample, surf.part
    bpid = pid.clamp(max=nparts - 1)
    per_sample = torch.cat([head_up, head_forward, app.hair], 1).T.contiguous().index_select(
        1, b)  # (8, N)
    up, fwd, hair = per_sample[0:3], per_sample[3:6], per_sample[6:8]
    split = app.split.flatten().index_select(0, b * nparts + bpid)
    table = torch.stack([body.first, body.second]).to(dev).index_select(1, bpid)
    region = torch.where(surf.t < split, table[0], table[1])
    n = torch.stack([surf.nx, surf.ny, surf.nz])  # (3, N)
    if body.kind == "human" and body.head_part >= 0:
        covered = ((n * up).sum(0) > hair[0]) | ((n * fwd).sum(0) < -hair[1])
        region = torch.where((pid == body.head_part) & covered, HAIR, region)
    region = torch.where(pid >= nparts, REGIONS.index("prop"), region)
    if worn is not None:
        region = torch.where(worn >= 0, worn, region)
    along = surf.t * surf.length
    around = torch.asin(surf.lateral) * surf.radius
    return lit(app, region_albedo(app, b, region, along, around, surf.t), n, b)


def region_albedo(app: Appearance, sample: torch.Tensor, region: torch.Tensor,
                  along: torch.Tensor, around: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(3, N) colour of N pixels of the images ``sample`` (N,): their clothing ``region``
    (N,)'s two colours mixed by its pattern at surface metres ``along`` / ``around`` and
    ``t`` in [0, 1] (the gradient)."""
    bsz, nreg = app.colors.shape[:2]
    looks = torch.cat([app.colors.reshape(bsz, nreg, 6), app.pattern[..., None].float(),
                       app.freq[..., None], app.phase[..., None]], -1)  # (B, R, 9)
    look = looks.reshape(-1, 9).T.contiguous().index_select(1, sample * nreg + region)
    mix = pattern_value(look[6].long(), along, around, t, look[7], look[8])
    return look[0:3] + mix * (look[3:6] - look[0:3])


def lit(app: Appearance, albedo: torch.Tensor, normals: torch.Tensor,
        sample: torch.Tensor) -> torch.Tensor:
    """(N, 3) ``albedo`` (3, N) under the images' light: ambient, Lambert and a
    Blinn-Phong highlight for camera-frame ``normals`` (3, N)."""
    dev = albedo.device
    half = F.normalize(torch.tensor([0.0, 0.0, -1.0], device=dev) - app.light_dir, dim=-1)
    per = torch.cat([app.light_dir, app.ambient[:, None], app.diffuse[:, None],
                     app.specular[:, None], app.light_color, half], 1).T.contiguous()
    per = per.index_select(1, sample)  # (12, N)
    light, (amb, dif, spc), light_col, half = per[:3], per[3:6], per[6:9].T, per[9:12]
    lam = (-(normals * light).sum(0)).clamp_min(0.0)
    spec = (normals * half).sum(0).clamp_min(0.0) ** 12
    shade = amb[:, None] + (dif * lam)[:, None] * light_col
    return (albedo.T * shade + (spc * spec)[:, None]).clamp(0, 1)
