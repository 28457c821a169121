"""Procedural quadruped activities for :mod:`training.poses`: stand, walk, trot, gallop,
sit, lie, sniff, look around, play bow, with head and tail motion in all of them.

Same conventions as :mod:`training.poses.human` (degrees, R = Rx Ry Rz, written for the
left side and mirrored): the animal faces -z at rest; shoulder / hip x < 0 swings a leg
forward, front elbow x > 0 folds the fore paw back, back knee x < 0 folds the hind paw
forward; root pitch < 0 raises the front.
"""

from __future__ import annotations

import numpy as np
import torch

from core.skeleton import Skeleton
from training.poses.human import TAU, hold
from training.poses.motion import Activities, Motion, MotionFrame

REQUIRED = ("spine_base", "spine_mid", "withers", "neck", "head", "tail_base", "tail_mid",
            "left_front_shoulder", "left_front_elbow", "right_front_shoulder",
            "right_front_elbow", "left_back_hip", "left_back_knee", "right_back_hip",
            "right_back_knee")
SIDES = ("left", "right")


def tail(m: Motion, t, rnd, energy: float = 1.0) -> None:
    """Wagging and carriage of the tail, and ear-free head sway."""
    wag = rnd(10, 45) * energy * torch.sin(TAU * rnd(1.5, 4.0) * t + rnd(0, TAU))
    m.set("tail_base", x=rnd(-40, 30), y=wag)
    m.set("tail_mid", x=rnd(-30, 30), y=0.5 * wag)


def look(m: Motion, t, rnd, amount: float = 1.0) -> None:
    m.set("neck", x=rnd(-20, 20), y=amount * rnd(-35, 35) * torch.sin(TAU * rnd(0.1, 0.4) * t))
    m.set("head", x=rnd(-20, 20), y=amount * rnd(-20, 20) * torch.sin(TAU * rnd(0.1, 0.4) * t))


def legs_still(m: Motion, rnd, pitch=0.0) -> None:
    for s in SIDES:
        m.side("front_shoulder", s, x=-torch.as_tensor(pitch) + rnd(-8, 8), z=-rnd(0, 5))
        m.side("front_elbow", s, x=rnd(-5, 10))
        m.side("back_hip", s, x=-torch.as_tensor(pitch) + rnd(-8, 8), z=-rnd(0, 5))
        m.side("back_knee", s, x=rnd(-10, 5))


def stand(m: Motion, t, rnd) -> MotionFrame:
    legs_still(m, rnd)
    look(m, t, rnd)
    tail(m, t, rnd)
    return MotionFrame(m.angles)


def _gait(m: Motion, t, rnd, freq, amp, phases, speed, flex=1.0) -> MotionFrame:
    phi = TAU * freq * t + rnd(0, TAU)
    legs = (("front", "left"), ("front", "right"), ("back", "left"), ("back", "right"))
    for (end, side), p in zip(legs, phases, strict=True):
        ph = phi + TAU * p
        upper = -amp * torch.sin(ph)
        swing = torch.relu(torch.cos(ph + 0.3)) ** 1.5
        if end == "front":
            m.side("front_shoulder", side, x=upper - 5, z=-rnd(0, 4))
            m.side("front_elbow", side, x=5 + 70 * flex * swing)
        else:
            m.side("back_hip", side, x=upper + 5, z=-rnd(0, 4))
            m.side("back_knee", side, x=-5 - 45 * flex * swing)
    m.set("spine_mid", x=4 * torch.sin(2 * phi), y=5 * torch.sin(phi))
    m.set("withers", y=-5 * torch.sin(phi))
    look(m, t, rnd, 0.5)
    tail(m, t, rnd)
    return MotionFrame(m.angles, yaw=rnd(-30, 30) * torch.sin(TAU * rnd(0.05, 0.15) * t),
                       speed=speed)


def walk(m: Motion, t, rnd) -> MotionFrame:
    f = rnd(0.8, 1.2)
    return _gait(m, t, rnd, f, rnd(18, 26), (0.25, 0.75, 0.0, 0.5), 0.9 * f)


def trot(m: Motion, t, rnd) -> MotionFrame:
    f = rnd(1.5, 2.2)
    return _gait(m, t, rnd, f, rnd(25, 35), (0.0, 0.5, 0.5, 0.0), 1.2 * f)


def gallop(m: Motion, t, rnd) -> MotionFrame:
    f = rnd(2.0, 2.6)
    frame = _gait(m, t, rnd, f, rnd(40, 55), (0.5, 0.6, 0.0, 0.1), 2.2 * f, flex=1.3)
    phi = TAU * f * t
    m.set("spine_mid", x=15 * torch.sin(phi))
    m.set("withers", x=-10 * torch.sin(phi))
    frame.lift = 0.08 * torch.relu(torch.sin(phi + 1.0))
    frame.pitch = 8 * torch.sin(phi)
    return frame


def sit(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(5, 9), rnd(0, 1))
    pitch = -rnd(35, 50) * s
    for side in SIDES:
        m.side("front_shoulder", side, x=-pitch + rnd(-5, 10), z=-rnd(0, 5))
        m.side("front_elbow", side, x=rnd(-5, 5))
        m.side("back_hip", side, x=-45 * s + rnd(-5, 5), z=-rnd(0, 10) * s)
        m.side("back_knee", side, x=-100 * s + rnd(-10, 0))
    m.set("neck", x=-pitch * 0.5 + rnd(-10, 10), y=rnd(-25, 25))
    tail(m, t, rnd, 0.5)
    return MotionFrame(m.angles, pitch=pitch)


def lie(m: Motion, t, rnd) -> MotionFrame:
    side_lying = rnd(0, 1) < 0.35
    s = hold(t, rnd(6, 10), rnd(0, 1)) * 0.3 + 0.7
    for side in SIDES:
        m.side("front_shoulder", side, x=-rnd(55, 70) * s, z=-rnd(0, 10))
        m.side("front_elbow", side, x=rnd(-10, 20))
        m.side("back_hip", side, x=-rnd(40, 60) * s, z=-rnd(5, 20))
        m.side("back_knee", side, x=-rnd(20, 60) * s)
    look(m, t, rnd, 1.0)
    m.set("neck", x=rnd(-10, 40), add=True)
    tail(m, t, rnd, 0.4)
    roll = torch.where(side_lying, torch.sign(rnd(-1, 1)) * 85, torch.zeros(()))
    return MotionFrame(m.angles, roll=roll)


def sniff(m: Motion, t, rnd) -> MotionFrame:
    frame = walk(m, t, rnd)
    m.set("neck", x=rnd(35, 45), y=rnd(-25, 25) * torch.sin(TAU * rnd(0.2, 0.5) * t))
    m.set("head", x=rnd(10, 40))
    frame.speed = frame.speed * 0.3
    return frame


def play_bow(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(2.5, 4.0), rnd(0, 1))
    pitch = rnd(20, 30) * s
    for side in SIDES:
        m.side("front_shoulder", side, x=-pitch - 60 * s, z=-rnd(0, 10))
        m.side("front_elbow", side, x=-10 * s + rnd(-5, 5))
        m.side("back_hip", side, x=-pitch + rnd(-5, 5))
        m.side("back_knee", side, x=rnd(-10, 5))
    m.set("neck", x=-pitch - rnd(0, 20))
    tail(m, t, rnd, 1.5)
    return MotionFrame(m.angles, pitch=pitch)


def look_around(m: Motion, t, rnd) -> MotionFrame:
    legs_still(m, rnd)
    look(m, t, rnd, 2.0)
    tail(m, t, rnd, 0.3)
    return MotionFrame(m.angles, yaw=rnd(-20, 20) * torch.sin(TAU * rnd(0.05, 0.1) * t))


FUNCTIONS = {
    "stand": stand,
    "walk": walk,
    "trot": trot,
    "gallop": gallop,
    "sit": sit,
    "lie": lie,
    "sniff": sniff,
    "play_bow": play_bow,
    "look_around": look_around,
}

_CLEARANCE = {"paw": 0.03, "elbow": 0.05, "knee": 0.05, "shoulder": 0.08, "hip": 0.08,
              "spine_base": 0.09, "spine_mid": 0.13, "withers": 0.12, "neck": 0.07,
              "head": 0.07, "nose": 0.03, "ear": 0.02, "tail_base": 0.04, "tail_mid": 0.03,
              "tail_tip": 0.02}


def activities(skeleton: Skeleton) -> Activities:
    clearance = np.array([
        next((v for k, v in _CLEARANCE.items() if name.endswith(k)), 0.04)
        for name in skeleton.keypoints
    ])
    return Activities(dict(FUNCTIONS), clearance, noise_deg=3.0)
