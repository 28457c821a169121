"""Procedural motion, the bottom of :mod:`training.poses`: what an activity returns
(:class:`MotionFrame`), the activity set of a kind of body (:class:`Activities`) and the
helper handed to activity functions (:class:`Motion`).

An activity is a function ``f(m, t, rnd) -> MotionFrame`` of time ``t`` (N, T) seconds
and random parameters ``rnd(lo, hi)`` (N, 1): one call makes N continuous clips of T
frames (``training/poses/activities.py`` runs it). The activities themselves live in
``training/poses/human.py`` and ``training/poses/quadruped.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from core.skeleton import Skeleton

# -- activities -------------------------------------------------------------------------


@dataclass
class MotionFrame:
    """What an activity returns for N sequences of T frames (degrees and metres).

    ``angles`` (N, T, J, 3) local Euler angles of every joint but the root; ``pitch``,
    ``yaw``, ``roll`` (N, T) the root's orientation (applied as Ry(yaw) Rx(pitch)
    Rz(roll)); ``speed`` (N, T) m/s forward along the heading; ``lift`` (N, T) metres
    above the floor contact (jumps); ``seated`` (N,) bool, a stool under the pelvis.
    """

    angles: torch.Tensor
    pitch: torch.Tensor | float = 0.0
    yaw: torch.Tensor | float = 0.0
    roll: torch.Tensor | float = 0.0
    speed: torch.Tensor | float = 0.0
    lift: torch.Tensor | float = 0.0
    seated: torch.Tensor | bool = False


@dataclass
class Activities:
    """The procedural activities of one kind of body.

    ``functions`` maps a name to ``f(motion, t, rnd) -> MotionFrame`` where ``t`` is
    (N, T) seconds and ``rnd(lo, hi)`` draws (N, 1) uniform parameters; ``clearance``
    (J,) metres between each keypoint and the floor when it is the lowest point
    (foot soles, knees, the back when lying); ``noise_deg`` the amplitude of the smooth
    per-joint noise added to every activity; ``names`` the activities drawn when none
    are named (default: all of ``functions``).
    """

    functions: dict[str, Callable]
    clearance: np.ndarray
    noise_deg: float = 4.0
    seat_height: Callable | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.names:
            self.names = list(self.functions)


class Motion:
    """Helper handed to activity functions: zero angles, named setters with mirroring."""

    def __init__(self, skeleton: Skeleton, n: int, t: int, generator: torch.Generator):
        self.skeleton = skeleton
        self.generator = generator
        self.angles = torch.zeros(n, t, skeleton.num_keypoints, 3)

    def set(self, joint: str, x=0.0, y=0.0, z=0.0, add: bool = False) -> None:
        """Set (or add to) the local angles of a joint, degrees, broadcast to (N, T)."""
        j = self.skeleton.index(joint)
        val = torch.stack(torch.broadcast_tensors(*(torch.as_tensor(v, dtype=torch.float32)
                                                      for v in (x, y, z))), -1)
        val = val.expand(*self.angles.shape[:2], 3)
        self.angles[:, :, j] = self.angles[:, :, j] + val if add else val

    def side(self, joint: str, side: str, x=0.0, y=0.0, z=0.0, add: bool = False) -> None:
        """Set ``{side}_{joint}`` with angles written for the left side: the right side
        gets the mirror image (x kept, y and z negated)."""
        s = 1.0 if side == "left" else -1.0
        self.set(f"{side}_{joint}", x, s * torch.as_tensor(y), s * torch.as_tensor(z), add)

    def aim(self, joint: str, side: str, direction: torch.Tensor, bend_toward: torch.Tensor,
            ) -> None:
        """Point a bone: the child offset of ``{side}_{joint}`` (rest direction +y) along
        ``direction`` (..., 3) in the parent's frame, with the next joint bending toward
        ``bend_toward``; both written for the left side and mirrored for the right."""
        y = torch.nn.functional.normalize(direction.float(), dim=-1)
        w = bend_toward.float()
        w = torch.nn.functional.normalize(w - (w * y).sum(-1, keepdim=True) * y, dim=-1)
        z = -w
        x = torch.cross(y, z, dim=-1)
        rot = torch.stack([x, y, z], dim=-1)
        if side == "right":
            m = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
            rot = m @ rot @ m
        ang = torch.rad2deg(matrix_to_euler(rot)).expand(*self.angles.shape[:2], 3)
        self.angles[:, :, self.skeleton.index(f"{side}_{joint}")] = ang


# -- rotations --------------------------------------------------------------------------


def matrix_to_euler(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) angles (radians) with ``R = Rx(a) Ry(b) Rz(c)``,
    b in [-pi/2, pi/2]; the inverse of :func:`core.camera.euler_to_matrix`."""
    r = matrix
    b = torch.asin(r[..., 0, 2].clamp(-1.0, 1.0))
    a = torch.atan2(-r[..., 1, 2], r[..., 2, 2])
    c = torch.atan2(-r[..., 0, 1], r[..., 0, 0])
    return torch.stack([a, b, c], dim=-1)


def smooth_noise(n: int, t: torch.Tensor, j: int, amp_deg: float,
                  g: torch.Generator) -> torch.Tensor:
    """(N, T, J, 3) sum of two slow random sinusoids per angle, amplitude ~amp_deg."""
    out = torch.zeros(n, t.shape[1], j, 3)
    for _ in range(2):
        f = 0.1 + 0.6 * torch.rand(n, 1, j, 3, generator=g)
        ph = 2 * math.pi * torch.rand(n, 1, j, 3, generator=g)
        a = amp_deg * 0.7 * torch.rand(n, 1, j, 3, generator=g)
        out += a * torch.sin(2 * math.pi * f * t[..., None, None] + ph)
    return out
