"""Geometry of BVH retargeting: joint rotations of a skeleton whose rest offsets point
at observed keypoint positions (Kabsch where a joint has several children, the
smallest swing plus the knee / elbow bending plane along a chain)."""

from __future__ import annotations

import numpy as np

from core.skeleton import Skeleton


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) the smallest rotation taking unit vectors a to b (..., 3)."""
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    k = np.zeros((*v.shape[:-1], 3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + k + (k @ k) / np.maximum(1.0 + c, 1e-6)[..., None, None]


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation R minimising |R src_i - dst_i| over i; src (K, 3), dst (T, K, 3)."""
    h = np.einsum("ki,tkj->tij", src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)))
    fix = np.broadcast_to(np.eye(3), h.shape).copy()
    fix[:, 2, 2] = d
    return np.swapaxes(vt, 1, 2) @ fix @ np.swapaxes(u, 1, 2)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def positions_to_globals(skeleton: Skeleton, kp: dict[str, np.ndarray],
                          offsets: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) global rotations whose rest offsets point at the observed keypoints."""
    t = next(iter(kp.values())).shape[0]
    j = skeleton.num_keypoints
    glob = np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy()
    for k in range(j):
        p = skeleton.parents[k]
        parent = glob[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        name = skeleton.keypoints[k]
        kids = [c for c in skeleton.children(k) if skeleton.keypoints[c] in kp
                and np.linalg.norm(offsets[c]) > 1e-6]
        if name not in kp or not kids:
            glob[:, k] = parent
            continue
        obs = np.stack([_unit(kp[skeleton.keypoints[c]] - kp[name]) for c in kids], 1)
        src = np.stack([_unit(offsets[c]) for c in kids])
        if len(kids) >= 2 and np.linalg.matrix_rank(src, tol=1e-3) >= 2:
            glob[:, k] = _kabsch(src, obs)
            continue
        c = kids[0]
        now = (parent @ src[0])  # where the child would point with no local rotation
        g = _rotation_between(now, obs[:, 0]) @ parent
        grand = [d for d in skeleton.children(c) if skeleton.keypoints[d] in kp]
        lim = skeleton.joint_limits[c]
        hinge = bool(lim[2, 0] == 0 and lim[2, 1] == 0 and lim[0, 1] > lim[0, 0])
        if grand and hinge:  # turn about the bone so the hinge (knee, elbow) bends right
            d = grand[0]
            bend = -1.0 if lim[0, 1] <= 0 else 1.0  # flexion toward -z (elbow) or +z (knee)
            nxt = _unit(kp[skeleton.keypoints[d]] - kp[skeleton.keypoints[c]])
            axis = obs[:, 0]
            perp = nxt - (nxt * axis).sum(-1, keepdims=True) * axis
            ok = np.linalg.norm(perp, axis=-1) > 0.05
            want = _unit(perp) * bend
            zaxis = g[..., :, 2]
            ang = np.arctan2((np.cross(zaxis, want) * axis).sum(-1), (zaxis * want).sum(-1))
            twist = _rotation_about(axis, np.where(ok, ang, 0.0))
            g = twist @ g
        glob[:, k] = g
    return glob


def _rotation_about(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    c, s, v = np.cos(angle), np.sin(angle), 1 - np.cos(angle)
    return np.stack([
        np.stack([c + x * x * v, x * y * v - z * s, x * z * v + y * s], -1),
        np.stack([y * x * v + z * s, c + y * y * v, y * z * v - x * s], -1),
        np.stack([z * x * v - y * s, z * y * v + x * s, c + z * z * v], -1)], -2)
