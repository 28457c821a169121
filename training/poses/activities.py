"""Which activities a skeleton has, and running one: the registry of the procedural
activities (``training/poses/human.py``, ``training/poses/quadruped.py``, generic smooth
motion for any other skeleton) and :func:`run_motion`, which turns an activity into
clamped Euler angles (within the skeleton's joint limits, smooth per-joint noise added)
and the root's motion.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from core.camera import euler_to_matrix
from core.errors import InputError
from core.skeleton import Skeleton
from training.poses import human, quadruped
from training.poses.motion import Activities, Motion, MotionFrame, matrix_to_euler, smooth_noise


@functools.lru_cache(maxsize=16)
def activities_for(skeleton: Skeleton) -> Activities:
    """The activity set of a skeleton: procedural HUMAN / QUADRUPED activities when the
    skeleton has their keypoints, else generic smooth motion within the joint limits."""
    names = set(skeleton.keypoints)
    if set(human.REQUIRED) <= names:
        return human.activities(skeleton)
    if set(quadruped.REQUIRED) <= names:
        return quadruped.activities(skeleton)
    return _generic_activities(skeleton)


def activity_names(skeleton: Skeleton, everyday: bool = True) -> list[str]:
    """Names of the procedural activities of ``skeleton``: those drawn when none are
    named, or (``everyday=False``) every one that can be named (HUMAN adds ``free``)."""
    acts = activities_for(skeleton)
    return list(acts.names if everyday else acts.functions)


def _generic_activities(skeleton: Skeleton) -> Activities:
    lim = torch.as_tensor(skeleton.joint_limits, dtype=torch.float32)
    lo = torch.rad2deg(lim[..., 0]).clamp(-60, 60)
    hi = torch.rad2deg(lim[..., 1]).clamp(-60, 60)

    def move(m: Motion, t: torch.Tensor, rnd) -> MotionFrame:
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        g = m.generator
        amp = torch.rand(t.shape[0], 1, *lo.shape, generator=g) * 0.6
        freq = 0.1 + torch.rand(t.shape[0], 1, *lo.shape, generator=g) * 0.5
        phase = torch.rand(t.shape[0], 1, *lo.shape, generator=g) * 2 * math.pi
        ang = mid + half * amp * torch.sin(2 * math.pi * freq * t[..., None, None] + phase)
        return MotionFrame(angles=ang, yaw=rnd(-180, 180))

    return Activities({"move": move}, np.full(skeleton.num_keypoints, 0.03), noise_deg=2.0)


def run_motion(skeleton: Skeleton, name: str, t: torch.Tensor, g: torch.Generator,
               noise: float = 1.0) -> dict[str, torch.Tensor]:
    """N clips of T frames of one activity.

    Returns a dict: ``euler`` (N, T, J, 3) radians (R = Rx Ry Rz; the root's entry is
    its global orientation, every other joint within its limits), ``lift`` (N, T)
    metres above the floor contact, ``speed`` (N, T) m/s, ``yaw`` (N, T) heading
    radians, ``seated`` (N,) bool.
    """
    acts = activities_for(skeleton)
    if name not in acts.functions:
        raise InputError(f"unknown activity {name!r} for skeleton {skeleton.name!r}; "
                         f"known: {', '.join(acts.functions)}")
    n, steps = t.shape
    j = skeleton.num_keypoints
    motion = Motion(skeleton, n, steps, g)

    def rnd(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, 1, generator=g)

    frame = acts.functions[name](motion, t, rnd)
    ang = frame.angles + smooth_noise(n, t, j, acts.noise_deg * noise, g)
    lim = torch.rad2deg(torch.as_tensor(skeleton.joint_limits, dtype=torch.float32))
    ang = torch.maximum(torch.minimum(ang, lim[..., 1]), lim[..., 0])
    euler = torch.deg2rad(ang)

    def full(v) -> torch.Tensor:
        return torch.as_tensor(v, dtype=torch.float32).expand(n, steps).clone()

    yaw = torch.deg2rad(full(frame.yaw) + rnd(-180, 180))
    pitch, roll = torch.deg2rad(full(frame.pitch)), torch.deg2rad(full(frame.roll))
    zero = torch.zeros_like(yaw)
    root = (euler_to_matrix(torch.stack([zero, yaw, zero], -1))
            @ euler_to_matrix(torch.stack([pitch, zero, zero], -1))
            @ euler_to_matrix(torch.stack([zero, zero, roll], -1)))
    euler[:, :, skeleton.parents.index(-1)] = matrix_to_euler(root)
    return {"euler": euler, "lift": full(frame.lift), "speed": full(frame.speed), "yaw": yaw,
            "seated": torch.as_tensor(frame.seated).expand(n).clone()}
