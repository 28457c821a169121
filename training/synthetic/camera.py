"""Where the synthetic camera stands: world -> camera poses (:class:`CameraPose`), the
rotation from viewing angles, and framing a subject so it fills a share of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.camera import euler_to_matrix


@dataclass
class CameraPose:
    """World -> camera for B images: ``p_c = rot @ (p_w - target) + shift`` (metres);
    ``shift`` is (x, y, distance)."""

    rot: torch.Tensor
    target: torch.Tensor
    shift: torch.Tensor

    def index(self, idx) -> CameraPose:
        return CameraPose(self.rot[idx], self.target[idx], self.shift[idx])

    def to(self, device) -> CameraPose:
        return CameraPose(self.rot.to(device), self.target.to(device), self.shift.to(device))

    def to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """World points (B, N, 3) in the camera frame."""
        return torch.baddbmm(self.shift[:, None], points - self.target[:, None],
                             self.rot.transpose(1, 2))

    @property
    def trans(self) -> torch.Tensor:
        """(B, 3) so that ``p_c = rot @ p_w + trans``."""
        return self.shift - (self.rot @ self.target[..., None])[..., 0]


def camera_rotation(azimuth: torch.Tensor, elevation: torch.Tensor,
                    roll: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) world -> camera rotation ``Rz(roll) Rx(elevation) Ry(azimuth)`` (radians):
    elevation > 0 looks down on the subject (world y is down, as in the camera)."""
    z = torch.zeros_like(azimuth)
    rz = euler_to_matrix(torch.stack([z, z, roll], -1))
    rx = euler_to_matrix(torch.stack([elevation, z, z], -1))
    ry = euler_to_matrix(torch.stack([z, azimuth, z], -1))
    return rz @ rx @ ry


def frame_subject(joints: torch.Tensor, rot: torch.Tensor, focal: float, size: tuple[int, int],
                  fill: torch.Tensor, offset: torch.Tensor, pad: float = 0.25,
                  projected: bool = False) -> CameraPose:
    """Place the camera so the subject's extent covers ``fill`` (B,) of the image and its
    centre is shifted by ``offset`` (B, 2) in units of the free half-margin. ``joints``
    (B, N, 3) are the points that span the subject (keypoints, or a mesh's vertices),
    ``pad`` metres added to their extent (the body's thickness around keypoints).

    By default the extent is the points' span in the camera's axes, met at the subject's
    nearest depth, so the subject's box in the image is somewhat smaller than ``fill``
    (the far points are further away). ``projected=True`` measures the box in the image
    instead: the distance is refined (a few fixed-point steps; the span of a projection
    falls as one over the distance) until the points' projected box, ``pad`` included,
    spans ``fill`` of the image, as a person's box crop is framed."""
    h, w = size
    q = (rot[:, None] @ joints[..., None])[..., 0]  # (B, J, 3) rotated, not yet shifted
    lo, hi = q.amin(1), q.amax(1)
    centre_r = (lo + hi) / 2
    extent = (hi - lo)[:, :2].amax(-1) + pad
    dist = focal * extent / (fill * min(h, w)) + (hi - lo)[:, 2] / 2
    if projected:
        c = q - centre_r[:, None]
        want = fill * min(h, w)
        for _ in range(6):
            z = (c[..., 2] + dist[:, None]).clamp_min(1e-3)
            uv = c[..., :2] / z[..., None]
            span = focal * ((uv.amax(1) - uv.amin(1)).amax(-1) + pad / dist)
            dist = dist * span / want
    margin = (1.0 - fill).clamp_min(0.0)[:, None] * torch.tensor([w, h]).to(fill) / 2
    shift_px = offset * margin + offset.sign() * 0.02 * fill[:, None] * min(h, w)
    shift = torch.cat([shift_px * dist[:, None] / focal, dist[:, None]], -1)
    target = (rot.transpose(1, 2) @ centre_r[..., None])[..., 0]
    return CameraPose(rot, target, shift)
