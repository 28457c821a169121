"""Geometry: the perspective camera, pixel <-> normalized coordinates, 6D rotations and
forward kinematics.

Conventions (one glossary for the whole project: B batch, T frames, J keypoints,
E edges, C channels, H, W image size):

* Image coordinates are (x, y), x to the right, y down. Pixel ``i`` covers
  ``[i - 0.5, i + 0.5]``, so its centre is at ``i`` in pixels and at
  ``-1 + (2 i + 1) / W`` in normalized coordinates (the ``align_corners=False``
  convention of :func:`torch.nn.functional.grid_sample`). The image spans [-1, 1].
* Camera frame: OpenCV's, x right, y down, z forward, metres.
* Rotation matrices act on column vectors: ``p_world = R @ p_local``.
* 6D rotations (Zhou et al. 2019) are the first two columns of the matrix,
  concatenated: ``(R[:, 0], R[:, 1])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from core.errors import InputError, ShapeError, check_shape
from core.skeleton import Skeleton

DEFAULT_FOV_DEG = 62.0
MIN_DEPTH = 1e-3  # metres; points closer than this (or behind) are projected as if here


# -- pixel <-> normalized ---------------------------------------------------------------
def pixel_to_normalized(points: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Pixel coordinates (x, y) -> normalized [-1, 1]: ``n = (2 p + 1) / W - 1``.

    Args:
        points: (..., 2) pixel coordinates, pixel centres at integers.
        size: (H, W) of the image.
    """
    _check_xy(points, "pixel_to_normalized")
    h, w = size
    scale = points.new_tensor([w, h])
    return (2.0 * points + 1.0) / scale - 1.0


def normalized_to_pixel(points: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Normalized [-1, 1] (x, y) -> pixel coordinates: ``p = ((n + 1) W - 1) / 2``."""
    _check_xy(points, "normalized_to_pixel")
    h, w = size
    scale = points.new_tensor([w, h])
    return ((points + 1.0) * scale - 1.0) / 2.0


def pixel_centers(size: Sequence[int], device=None, dtype=torch.float32) -> tuple[torch.Tensor,
                                                                                  torch.Tensor]:
    """Normalized coordinates of the pixel centres: (W,) for x and (H,) for y."""
    h, w = size
    xs = (2.0 * torch.arange(w, device=device, dtype=dtype) + 1.0) / w - 1.0
    ys = (2.0 * torch.arange(h, device=device, dtype=dtype) + 1.0) / h - 1.0
    return xs, ys


def _check_xy(points: torch.Tensor, name: str) -> None:
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ShapeError(f"{name}: expected points of shape (..., 2), got {tuple(points.shape)}")


# -- the camera -------------------------------------------------------------------------
def focal_length(fov_deg: float, width: int) -> float:
    """Focal length in pixels for a horizontal field of view across ``width`` pixels."""
    if not 0.0 < fov_deg < 180.0:
        raise InputError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    return (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)


class PerspectiveCamera:
    """A pinhole camera with square pixels and the principal point at the image centre.

    Args:
        size: (H, W) of the image in pixels.
        fov_deg: horizontal field of view (across the width), 62 degrees as in the paper.
    """

    def __init__(self, size: Sequence[int] = (128, 128), fov_deg: float = DEFAULT_FOV_DEG):
        h, w = (int(s) for s in size)
        if h <= 0 or w <= 0:
            raise InputError(f"image size must be positive, got {tuple(size)}")
        self.size = (h, w)
        self.fov_deg = float(fov_deg)
        self.focal = focal_length(fov_deg, w)
        self.cx = (w - 1) / 2.0
        self.cy = (h - 1) / 2.0

    def __repr__(self) -> str:
        return f"PerspectiveCamera(size={self.size}, fov_deg={self.fov_deg})"

    @property
    def intrinsics(self) -> np.ndarray:
        """(3, 3) OpenCV camera matrix K (pixel centres at integers)."""
        return np.array(
            [[self.focal, 0.0, self.cx], [0.0, self.focal, self.cy], [0.0, 0.0, 1.0]],
            dtype=np.float64,
        )

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) camera-frame points, metres -> (B, J, 2) pixels.

        Depths below ``MIN_DEPTH`` are clamped, so points at or behind the camera give
        large but finite coordinates instead of inf or a mirrored image.
        """
        _check_xyz(points, "project")
        z = points[..., 2:3].clamp_min(MIN_DEPTH)
        xy = points[..., :2] / z * self.focal
        return xy + xy.new_tensor([self.cx, self.cy])

    def project_normalized(self, points: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) camera-frame points -> (B, J, 2) normalized [-1, 1] coordinates."""
        return pixel_to_normalized(self.project(points), self.size)

    def backproject(self, pixels: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) pixels and (B, J) depths (z, metres) -> (B, J, 3) camera-frame points."""
        _check_xy(pixels, "backproject")
        if depth.shape != pixels.shape[:-1]:
            raise ShapeError(
                f"backproject: expected depth of shape {tuple(pixels.shape[:-1])}, "
                f"got {tuple(depth.shape)}"
            )
        xy = (pixels - pixels.new_tensor([self.cx, self.cy])) / self.focal * depth[..., None]
        return torch.cat([xy, depth[..., None]], dim=-1)

    def backproject_normalized(self, points: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) normalized coordinates and (B, J) depths -> (B, J, 3) points."""
        return self.backproject(normalized_to_pixel(points, self.size), depth)


def _check_xyz(points: torch.Tensor, name: str) -> None:
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ShapeError(f"{name}: expected points of shape (..., 3), got {tuple(points.shape)}")


# -- rotations ----------------------------------------------------------------------------
def rotation_6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns (Zhou et al. 2019)."""
    if r6.ndim < 1 or r6.shape[-1] != 6:
        raise ShapeError(f"rotation_6d_to_matrix: expected (..., 6), got {tuple(r6.shape)}")
    a1, a2 = r6[..., :3], r6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = torch.nn.functional.normalize(b2, dim=-1, eps=1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)  # columns


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    if matrix.ndim < 2 or matrix.shape[-2:] != (3, 3):
        raise ShapeError(f"matrix_to_rotation_6d: expected (..., 3, 3), got {tuple(matrix.shape)}")
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors (axis * angle, radians) -> (..., 3, 3), Rodrigues."""
    if axis_angle.ndim < 1 or axis_angle.shape[-1] != 3:
        raise ShapeError(f"axis_angle_to_matrix: expected (..., 3), got {tuple(axis_angle.shape)}")
    theta = axis_angle.norm(dim=-1, keepdim=True)
    k = axis_angle / theta.clamp_min(1e-12)
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    kmat = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=-1)
    kmat = kmat.reshape(*axis_angle.shape[:-1], 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + s * kmat + (1.0 - c) * (kmat @ kmat)


def euler_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) intrinsic rotations about x, then y, then z (radians) -> (..., 3, 3):
    ``R = Rx(a) @ Ry(b) @ Rz(c)``. The convention of :attr:`Skeleton.joint_limits`."""
    if angles.ndim < 1 or angles.shape[-1] != 3:
        raise ShapeError(f"euler_to_matrix: expected (..., 3), got {tuple(angles.shape)}")
    one, zero = torch.ones_like(angles[..., 0]), torch.zeros_like(angles[..., 0])
    a, b, c = angles.unbind(-1)
    ca, sa, cb, sb, cc, sc = a.cos(), a.sin(), b.cos(), b.sin(), c.cos(), c.sin()
    shape = (*angles.shape[:-1], 3, 3)
    rx = torch.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], -1).reshape(shape)
    ry = torch.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], -1).reshape(shape)
    rz = torch.stack([cc, -sc, zero, sc, cc, zero, zero, zero, one], -1).reshape(shape)
    return rx @ ry @ rz


# -- forward kinematics -----------------------------------------------------------------
def forward_kinematics(
    skeleton: Skeleton,
    rotations: torch.Tensor,
    bone_lengths: torch.Tensor | None = None,
    root_position: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint positions from local joint rotations.

    Each keypoint j sits at ``pos[parent] + G[parent] @ (offset_j * scale_j)`` where
    ``G[k] = G[parent(k)] @ rotations[k]`` is the global rotation of joint k and
    ``offset_j`` is the rest-pose offset. The root's rotation orients the whole body.

    Args:
        skeleton: provides parents and rest offsets.
        rotations: (B, J, 3, 3) local rotation of every joint (leaves are ignored).
        bone_lengths: optional (B, J) length of the bone from each keypoint's parent, metres;
            defaults to the rest lengths. A zero rest offset keeps its zero length.
        root_position: optional (B, 3) position of the root in the output frame.

    Returns:
        positions (B, J, 3) and global rotations (B, J, 3, 3).
    """
    j = skeleton.num_keypoints
    check_shape("forward_kinematics rotations", rotations.shape, ("B", j, 3, 3))
    b = rotations.shape[0]
    offsets = torch.as_tensor(skeleton.rest_offsets, dtype=rotations.dtype,
                              device=rotations.device)
    if bone_lengths is not None:
        check_shape("forward_kinematics bone_lengths", bone_lengths.shape, (b, j))
        rest = offsets.norm(dim=-1)
        direction = offsets / rest.clamp_min(1e-12)[:, None]
        offsets = direction[None] * bone_lengths[..., None]  # (B, J, 3)
    else:
        offsets = offsets[None].expand(b, j, 3)
    if root_position is not None:
        check_shape("forward_kinematics root_position", root_position.shape, (b, 3))
    glob: list[torch.Tensor] = [None] * j  # type: ignore[list-item]
    pos: list[torch.Tensor] = [None] * j  # type: ignore[list-item]
    for k in skeleton.topological_order:
        p = skeleton.parents[k]
        if p < 0:
            glob[k] = rotations[:, k]
            pos[k] = (root_position if root_position is not None
                      else rotations.new_zeros(b, 3))
        else:
            glob[k] = glob[p] @ rotations[:, k]
            pos[k] = pos[p] + (glob[p] @ offsets[:, k, :, None])[..., 0]
    return torch.stack(pos, dim=1), torch.stack(glob, dim=1)
