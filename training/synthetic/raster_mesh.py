"""Batched triangle rasterizer with a depth test, for the mesh people of the synthetic
renderer (the capsule bodies and props use ``training/synthetic/raster_capsules.py``).

Every triangle that faces the camera, of every image, is evaluated over its own pixel
window only (the pixel centres inside its bounding box), all windows packed into one
flat list of pixels with no per-image or per-triangle Python loop, like the capsule
rasterizer; a
pixel centre is covered when its three barycentric coordinates are >= 0, its depth
interpolates 1/z (perspective-correct), and the nearest triangle wins through one
``scatter_reduce(amin)`` of a packed int64 key ``depth_step * FACE_SLOTS + face``.
At 128 x 128 most of a body's triangles are smaller than a pixel, so most windows hold
one pixel or none; a watertight surface still leaves no holes, since every pixel centre
inside its outline lies in some triangle.

Pixel coordinates follow the project: (x, y), pixel ``i`` centred at ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.errors import InputError, check_shape

DEPTH_QUANTUM = 1e-4  # metres per step of the packed depth key
FACE_BITS = 16
FACE_SLOTS = 2**FACE_BITS  # triangles per mesh at most
_NO_HIT = torch.iinfo(torch.int64).max
_EXACT = 2**24  # float32 holds every integer below this


def project_vertices(verts: torch.Tensor, focal: float,
                     centre: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, V, 3) camera-frame vertices -> pixels (B, V, 2) and depths (B, V)."""
    z = verts[..., 2]
    px = verts[..., :2] / z.clamp_min(1e-3)[..., None] * focal + verts.new_tensor(centre)
    return px, z


def rasterize_mesh(px: torch.Tensor, z: torch.Tensor, faces: torch.Tensor,
                   size: tuple[int, int], near: float = 0.05
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest front-facing triangle per pixel.

    Args:
        px: (B, V, 2) projected vertices; z: (B, V) their depths (metres).
        faces: (F, 3) vertex indices, counter-clockwise seen from outside (the normal
            ``(p1 - p0) x (p2 - p0)`` points out of the body).
        size: (H, W).
        near: triangles with a vertex closer than this are skipped.

    Returns:
        face (B, H*W) int64, -1 where no triangle covers the pixel, and depth (B, H*W)
        (metres, to ``DEPTH_QUANTUM``; +inf on the background).
    """
    h, w = size
    bsz = z.shape[0]
    nf = faces.shape[0]
    check_shape("rasterize_mesh px", px.shape, ("B", "V", 2))
    check_shape("rasterize_mesh z", z.shape, (bsz, px.shape[1]))
    check_shape("rasterize_mesh faces", faces.shape, ("F", 3))
    if nf > FACE_SLOTS:
        raise InputError(f"rasterize_mesh: at most {FACE_SLOTS} triangles per mesh, got {nf}")
    if bsz > 1 and bsz * h * w > _EXACT:  # keep the float32 pixel arithmetic exact
        half = bsz // 2
        fa, da = rasterize_mesh(px[:half], z[:half], faces, size, near)
        fb, db = rasterize_mesh(px[half:], z[half:], faces, size, near)
        return torch.cat([fa, fb]), torch.cat([da, db])
    dev = px.device
    corners = faces.to(dev).T.flatten()  # corner-major: (corner 0, 1, 2) x F
    # every corner's (x, y, z): (3 coordinates, B, 3 corners, F)
    pts = torch.stack([px[..., 0], px[..., 1], z]).view(3 * bsz, -1)
    c = pts.index_select(1, corners).view(3, bsz, 3, nf)
    (x0, x1, x2), (y0, y1, y2), (z0, z1, z2) = (c[i].unbind(1) for i in range(3))
    # twice the signed screen area; with image y pointing down, a triangle that is
    # counter-clockwise seen from the camera (it faces the camera) has area < 0
    keep = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0) < -1e-9
    # a pixel centre inside the image lies in its bounding box, and it is not too near
    top_x = torch.maximum(torch.maximum(x0, x1), x2)
    top_y = torch.maximum(torch.maximum(y0, y1), y2)
    keep &= (top_x >= 0) & (top_y >= 0)
    keep &= torch.minimum(torch.minimum(x0, x1), x2).ceil_() <= top_x.floor_().clamp_max_(w - 1)
    keep &= torch.minimum(torch.minimum(y0, y1), y2).ceil_() <= top_y.floor_().clamp_max_(h - 1)
    keep &= torch.minimum(torch.minimum(z0, z1), z2) > near
    depth = torch.full((bsz * h * w,), _NO_HIT, dtype=torch.int64, device=dev)
    sel = torch.nonzero(keep.flatten()).flatten()  # (K,) index b * F + f
    if sel.numel() > 0:
        # the kept triangles' nine corner values, (9, K): x0 x1 x2 y0 y1 y2 z0 z1 z2
        image = torch.div(sel, nf, rounding_mode="floor")
        at = sel + image * (2 * nf)  # b * 3F + f: corner 0 in (B, 3 corners, F)
        k = c.view(3, -1).index_select(1, torch.cat([at, at + nf, at + 2 * nf])).view(9, -1)
        x0, x1, x2, y0, y1, y2, z0, z1, z2 = k.unbind(0)
        ax, ay, bx, by = x1 - x0, y1 - y0, x2 - x0, y2 - y0
        inv = 1.0 / (ax * by - ay * bx)
        lo_x = torch.minimum(torch.minimum(x0, x1), x2).ceil_().clamp_min_(0)
        hi_x = torch.maximum(torch.maximum(x0, x1), x2).floor_().clamp_max_(w - 1)
        lo_y = torch.minimum(torch.minimum(y0, y1), y2).ceil_().clamp_min_(0)
        hi_y = torch.maximum(torch.maximum(y0, y1), y2).floor_().clamp_max_(h - 1)
        wx = hi_x - lo_x + 1
        n = (wx * (hi_y - lo_y + 1)).long()
        iz0, iz1, iz2 = 1.0 / z0, 1.0 / z1, 1.0 / z2
        # barycentrics of a pixel q: w1 = ((q - p0) x e2) / area, w2 = (e1 x (q - p0)) / area;
        # every window's values repeated for its pixels (the first pixel's index of its
        # image in whole floats: exact below 2**24)
        win = torch.repeat_interleave(torch.arange(sel.numel(), device=dev), n)
        (ox, oy, wxw, x0, y0, a1x, a1y, a2x, a2y, iz0, iz1, iz2, fid, first) = (
            v.index_select(0, win) for v in (
                lo_x, lo_y, wx, x0, y0, by * inv, -bx * inv, -ay * inv, ax * inv,
                iz0, iz1 - iz0, iz2 - iz0, (sel - image * nf).float(),
                (image * (h * w)).float()))
        # window-local pixel (lx, ly) in whole floats (a window is at most H x W: exact)
        loc = (torch.arange(win.numel(), device=dev)
               - (torch.cumsum(n, 0) - n).index_select(0, win)).float()
        ly = torch.div(loc, wxw, rounding_mode="floor")
        qx, qy = (loc - ly * wxw).add_(ox), ly.add_(oy)
        pixel = (first + qy * w + qx).long()
        dx, dy = qx - x0, qy - y0
        w1 = dx * a1x + dy * a1y
        w2 = dx * a2x + dy * a2y
        inside = (w1 >= -1e-6) & (w2 >= -1e-6) & (w1 + w2 <= 1.0 + 1e-6)
        invz = iz0 + w1 * iz1 + w2 * iz2
        key = (invz.clamp_min(1e-6).reciprocal_().div_(DEPTH_QUANTUM).long() << FACE_BITS) | \
            fid.long()
        key.masked_fill_(~inside, _NO_HIT)
        depth.scatter_reduce_(0, pixel, key, reduce="amin")
    depth = depth.view(bsz, h * w)
    miss = depth == _NO_HIT
    face = (depth & (FACE_SLOTS - 1)).masked_fill_(miss, -1)
    dist = (depth >> FACE_BITS).float().mul_(DEPTH_QUANTUM).masked_fill_(miss, float("inf"))
    return face, dist


@dataclass
class MeshSurface:
    """The covered pixels only (N of them): ``index`` (N,) flat index into (B * H * W),
    ``sample`` (N,) image index, ``face`` (N,), ``vertex`` (N,) the triangle's vertex
    nearest the pixel, ``bary`` (N, 3) barycentric coordinates, ``normal`` (N, 3) the
    camera-frame normal of the triangle, facing the camera."""

    index: torch.Tensor
    sample: torch.Tensor
    face: torch.Tensor
    vertex: torch.Tensor
    bary: torch.Tensor
    normal: torch.Tensor


def mesh_surface(face: torch.Tensor, verts: torch.Tensor, px: torch.Tensor,
                 faces: torch.Tensor, size: tuple[int, int]) -> MeshSurface:
    """Attributes of the winning triangle at every covered pixel of ``face`` (B, H*W)
    from :func:`rasterize_mesh`; ``verts`` (B, V, 3) camera frame, ``px`` (B, V, 2)."""
    h, w = size
    nv = verts.shape[1]
    index = torch.nonzero(face.flatten() >= 0).flatten()
    sample = torch.div(index, h * w, rounding_mode="floor")
    pix = index - sample * (h * w)
    fid = face.flatten().index_select(0, index)
    vid = faces.to(face.device).index_select(0, fid) + sample[:, None] * nv  # (N, 3) flat ids
    p = verts.reshape(-1, 3).index_select(0, vid.flatten()).view(-1, 3, 3)  # (N, 3, 3)
    q = px.reshape(-1, 2).index_select(0, vid.flatten()).view(-1, 3, 2)  # (N, 3, 2)
    ys = torch.div(pix, w, rounding_mode="floor")
    xs = (pix - ys * w).float()
    e1, e2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    d = torch.stack([xs, ys.float()], -1) - q[:, 0]
    area = (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).clamp_max(-1e-9)  # front-facing
    w1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / area
    w2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / area
    bary = torch.stack([1.0 - w1 - w2, w1, w2], -1).clamp(0.0, 1.0)
    n = torch.nn.functional.normalize(torch.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0],
                                                  dim=-1), dim=-1)
    n = torch.where((n * p[:, 0]).sum(-1, keepdim=True) > 0, -n, n)  # towards the camera
    nearest = vid.gather(1, bary.argmax(1, keepdim=True))[:, 0] - sample * nv
    return MeshSurface(index, sample, fid, nearest, bary, n)
