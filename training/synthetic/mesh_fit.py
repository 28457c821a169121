"""The geometry that fits a mesh body to the HUMAN skeleton: its segments, the rest
keypoints read off a body's anchor points, and the rotations that take a segment's rest
orientation onto the skeleton's rest pose (``training/synthetic/mesh.py`` says how a
pose drives the mesh).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import InputError
from core.skeleton import Skeleton

#: mesh segments: (the joint whose rotation moves it, the segment's part name)
SEGMENTS = (("pelvis", "hips"), ("spine", "belly"), ("thorax", "chest"), ("neck", "head"),
            *((f"{s}_{j}", f"{s}_{p}") for s in ("left", "right") for j, p in (
                ("shoulder", "upper_arm"), ("elbow", "forearm"), ("wrist", "hand"),
                ("hip", "thigh"), ("knee", "shin"), ("ankle", "foot"))))

COCO_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                "right_ankle")


def rest_keypoints(skeleton: Skeleton, anchors: torch.Tensor,
                   neck_fraction: float) -> torch.Tensor:
    """(B, J, 3) rest keypoints from B bodies' ``anchors`` (B, 20, 3) (see
    :class:`MeshAssets`), body frame."""
    kp = {name: anchors[:, k] for k, name in enumerate(COCO_POINTS)}
    off = torch.as_tensor(skeleton.rest_offsets, dtype=anchors.dtype, device=anchors.device)
    idx = skeleton.index

    def between(left: str, right: str) -> torch.Tensor:
        # the parent p with left = p + s * off_left, right = p + s * off_right
        ol, orr = off[idx(left)], off[idx(right)]
        s = (kp[left] - kp[right]).norm(dim=-1, keepdim=True) / (ol - orr).norm()
        return (kp[left] + kp[right]) / 2 - s * (ol + orr) / 2

    kp["pelvis"] = between("left_hip", "right_hip")
    kp["thorax"] = between("left_shoulder", "right_shoulder")
    a, b = off[idx("spine")].norm(), off[idx("thorax")].norm()
    kp["spine"] = kp["pelvis"] + (kp["thorax"] - kp["pelvis"]) * (a / (a + b))
    kp["head_top"] = anchors[:, 17]
    kp["neck"] = anchors[:, 18] + neck_fraction * (anchors[:, 19] - anchors[:, 18])
    missing = set(skeleton.keypoints) - set(kp)
    if missing:
        raise InputError(f"mesh people need the HUMAN skeleton; no mesh point for "
                         f"{sorted(missing)}")
    return torch.stack([kp[name] for name in skeleton.keypoints], 1)


def children(skeleton: Skeleton, j: int) -> list[int]:
    return [c for c, p in enumerate(skeleton.parents) if p == j]


def minimal_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) the smallest rotation taking directions ``a`` onto ``b`` (..., 3)."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)[..., None, None]
    z = torch.zeros_like(v[..., 0])
    vx = torch.stack([z, -v[..., 2], v[..., 1], v[..., 2], z, -v[..., 0],
                      -v[..., 1], v[..., 0], z], -1).view(*v.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand_as(vx)
    return eye + vx + vx @ vx / (1.0 + c).clamp_min(1e-6)


def kabsch(m: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) the rotation A minimizing sum_c |A m_c - r_c|^2 over (..., C, 3)."""
    h = r.transpose(-1, -2) @ m
    u, _, vh = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(u @ vh))
    u = torch.cat([u[..., :2], u[..., 2:] * d[..., None, None]], -1)
    return u @ vh


def segment_alignment(skeleton: Skeleton, rest: torch.Tensor) -> torch.Tensor:
    """(B, S, 3, 3) the rotation of each segment that takes the mesh's rest keypoints
    ``rest`` (B, J, 3) onto the skeleton's rest pose with the same bone lengths: the
    smallest one for one child, the least-squares fit for several, the parent's for a
    leaf (the hands follow the forearms, the feet the shins)."""
    off = torch.as_tensor(skeleton.rest_offsets, dtype=rest.dtype, device=rest.device)
    out: dict[int, torch.Tensor] = {}
    order = [skeleton.index(j) for j, _ in SEGMENTS]
    # the segments with as many children at a time (one call each: fewer, larger ops)
    by_count: dict[int, list[int]] = {}
    for j in order:
        by_count.setdefault(len(children(skeleton, j)), []).append(j)
    for count, joints in by_count.items():
        if count == 0:
            continue
        kids = torch.tensor([children(skeleton, j) for j in joints])  # (G, C)
        m = rest[:, kids] - rest[:, joints][:, :, None]  # (B, G, C, 3)
        r = F.normalize(off[kids], dim=-1)[None] * m.norm(dim=-1, keepdim=True)
        rot = minimal_rotation(m[:, :, 0], r[:, :, 0]) if count == 1 else kabsch(m, r)
        out.update({j: rot[:, g] for g, j in enumerate(joints)})
    for j in order:
        if j not in out:
            out[j] = out[skeleton.parents[j]]
    return torch.stack([out[j] for j in order], 1)


def fit_residual(skeleton: Skeleton, rest: torch.Tensor, joints) -> float:
    """Largest distance (m) between a child keypoint and where its segment's fitted
    rotation puts it, over the segments of ``joints``."""
    align = segment_alignment(skeleton, rest)
    off = torch.as_tensor(skeleton.rest_offsets, dtype=rest.dtype)
    names = [j for j, _ in SEGMENTS]
    err = 0.0
    for name in joints:
        j = skeleton.index(name)
        kids = children(skeleton, j)
        m = rest[:, kids] - rest[:, j:j + 1]
        r = F.normalize(off[kids], dim=-1)[None] * m.norm(dim=-1, keepdim=True)
        a = align[:, names.index(name)]
        err = max(err, float(((a[:, None] @ m[..., None])[..., 0] - r).norm(dim=-1).max()))
    return err
