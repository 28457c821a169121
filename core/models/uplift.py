"""3D uplift: keypoints 2D (B,J,2) -> joint positions (B,J,3) in the camera frame, metres,
and joint orientations (B,J,6).

The network is the residual MLP of Martinez et al. 2017 (linear 1024, batch norm, ReLU,
dropout, two residual blocks of two such layers). It sees the 2D pose normalized for
position and size (centred on the mean keypoint, divided by the RMS distance to it),
plus that centre and the log of that size, and predicts the body's *shape*: joint
positions relative to their mean, in metres, with the camera's axes, as an offset from
the skeleton's rest pose facing the camera; and each joint's global orientation in the
camera frame (6D, Zhou et al. 2019; the first two columns of the rotation matrix that
maps the body frame of the rest pose to the camera frame, the global rotations of
:func:`core.camera.forward_kinematics`), as an offset from the identity.

Where the body is, is solved in closed form rather than predicted: given the shape P
and the 2D keypoints (u, v), the translation t that makes the perspective projection
of P + t land on (u, v) is the solution of a 3 x 3 linear least-squares problem
(:func:`solve_translation`). Why solve rather than predict: the absolute depth is not
observable from a crop of unknown scale except through the body's size, and the
closed form gives the depth that best overlaps the image for the predicted body by
construction, for any crop size or offset (augmentation randomizes both), with no
parameters to learn, exact gradients and no failure mode where a learned translation
drifts off the image. The network only has to get the shape right; the reprojection
then overlaps the 2D keypoints as well as that shape allows.
"""

from __future__ import annotations

import torch
from torch import nn

from core.camera import PerspectiveCamera, forward_kinematics
from core.errors import check_shape
from core.skeleton import Skeleton

IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def normalize_keypoints_2d(keypoints: torch.Tensor, eps: float = 1e-3
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre and scale a 2D pose.

    Args:
        keypoints: (B, J, 2) normalized image coordinates.

    Returns:
        shape (B, J, 2) = (keypoints - centre) / scale, centre (B, 2) the mean keypoint,
        scale (B,) the RMS distance of the keypoints to the centre (at least ``eps``).
    """
    check_shape("normalize_keypoints_2d keypoints", keypoints.shape, ("B", "J", 2))
    centre = keypoints.mean(dim=1)
    scale = (keypoints - centre[:, None]).square().sum(-1).mean(-1).sqrt().clamp_min(eps)
    return (keypoints - centre[:, None]) / scale[:, None, None], centre, scale


def solve_translation(points: torch.Tensor, keypoints: torch.Tensor, focal: tuple[float, float],
                      weights: torch.Tensor | None = None, min_depth: float = 0.1,
                      damping: float = 1e-6) -> torch.Tensor:
    """The translation t for which the projection of ``points + t`` fits ``keypoints``.

    With normalized focal lengths (fx, fy) and the principal point at 0, a point
    (X, Y, Z) + t projects to u = fx (X + tx) / (Z + tz), v = fy (Y + ty) / (Z + tz).
    Multiplying out gives two equations linear in t per keypoint::

        fx tx - u tz = u Z - fx X
        fy ty - v tz = v Z - fy Y

    solved in the (weighted) least-squares sense through the 3 x 3 normal equations:
    exact when the shape fits, differentiable everywhere. tz is then raised where
    needed so every joint is at least ``min_depth`` in front of the camera.

    Args:
        points: (B, J, 3) body shape, metres, camera axes, any origin.
        keypoints: (B, J, 2) target normalized coordinates.
        focal: (fx, fy) in normalized units: ``2 f / W`` and ``2 f / H`` for a focal
            length f in pixels.
        weights: optional (B, J) non-negative weight per keypoint.

    Returns:
        t (B, 3), metres.
    """
    check_shape("solve_translation points", points.shape, ("B", "J", 3))
    check_shape("solve_translation keypoints", keypoints.shape, (*points.shape[:2], 2))
    dtype = points.dtype
    if dtype not in (torch.float32, torch.float64):  # half precision: solve in float32
        points, keypoints = points.float(), keypoints.float()
        weights = None if weights is None else weights.float()
    with torch.autocast(device_type=points.device.type, enabled=False):
        t = _solve(points, keypoints.to(points.dtype), focal, weights, min_depth, damping)
    return t.to(dtype)


def _solve(points, keypoints, focal, weights, min_depth, damping):
    fx, fy = focal
    x, y, z = points.unbind(-1)
    u, v = keypoints.unbind(-1)
    w = torch.ones_like(u) if weights is None else weights
    zero = torch.zeros_like(u)
    rows_x = torch.stack([zero + fx, zero, -u], dim=-1)  # (B, J, 3)
    rows_y = torch.stack([zero, zero + fy, -v], dim=-1)
    a = torch.cat([rows_x, rows_y], dim=1)  # (B, 2J, 3)
    rhs = torch.cat([u * z - fx * x, v * z - fy * y], dim=1)  # (B, 2J)
    ww = torch.cat([w, w], dim=1)[..., None]  # (B, 2J, 1)
    ata = a.transpose(1, 2) @ (ww * a)  # (B, 3, 3)
    ata = ata + damping * torch.eye(3, dtype=a.dtype, device=a.device)
    atb = a.transpose(1, 2) @ (ww[..., 0] * rhs)[..., None]  # (B, 3, 1)
    t = torch.linalg.solve(ata, atb)[..., 0]
    tz = torch.maximum(t[:, 2], min_depth - z.amin(dim=1))
    return torch.cat([t[:, :2], tz[:, None]], dim=1)


def rest_shape(skeleton: Skeleton) -> torch.Tensor:
    """(J, 3) rest pose, facing the camera (identity rotations), centred on its mean."""
    eye = torch.eye(3, dtype=torch.float64).expand(1, skeleton.num_keypoints, 3, 3)
    pos, _ = forward_kinematics(skeleton, eye)
    pos = pos[0]
    return (pos - pos.mean(0)).float()


class ResidualBlock(nn.Module):
    """Two (linear, batch norm, ReLU, dropout) layers and a skip connection."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class Uplift(nn.Module):
    """keypoints (B, J, 2) normalized -> positions (B, J, 3) camera frame, metres, and
    global joint orientations (B, J, 6) in the camera frame.

    Args:
        skeleton: gives J and the rest pose the predictions start from.
        camera: the fixed camera the reprojection uses (its focal length).
        hidden, blocks, dropout: the Martinez MLP.
        min_depth: every joint is placed at least this far in front of the camera.
    """

    def __init__(self, skeleton: Skeleton, camera: PerspectiveCamera, hidden: int = 1024,
                 blocks: int = 2, dropout: float = 0.5, min_depth: float = 0.1):
        super().__init__()
        self.num_keypoints = j = skeleton.num_keypoints
        h, w = camera.size
        self.focal = (2.0 * camera.focal / w, 2.0 * camera.focal / h)
        self.min_depth = float(min_depth)
        self.inp = nn.Sequential(
            nn.Linear(2 * j + 3, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(hidden, dropout) for _ in range(blocks)])
        self.out = nn.Linear(hidden, j * 9)
        # Start at the rest pose facing the camera: small output weights, zero bias.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("rest", rest_shape(skeleton), persistent=False)
        self.register_buffer("identity_6d", torch.tensor(IDENTITY_6D), persistent=False)

    def shape(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Body shape (B, J, 3) centred on its mean, and orientations (B, J, 6)."""
        check_shape("Uplift keypoints", keypoints.shape, ("B", self.num_keypoints, 2))
        b, j = keypoints.shape[:2]
        normed, centre, scale = normalize_keypoints_2d(keypoints)
        x = torch.cat([normed.reshape(b, 2 * j), centre, scale.log()[:, None]], dim=1)
        out = self.out(self.blocks(self.inp(x)))  # (B, 9 J)
        positions = self.rest + out[:, : 3 * j].reshape(b, j, 3)
        rotations = self.identity_6d + out[:, 3 * j:].reshape(b, j, 6)
        return positions, rotations

    def forward(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions, rotations = self.shape(keypoints)
        t = solve_translation(positions, keypoints, self.focal, min_depth=self.min_depth)
        return positions + t[:, None], rotations
