"""Procedural human activities for :mod:`training.poses`, in the spirit of Human3.6M's.

Every activity is a function ``f(m, t, rnd) -> MotionFrame`` of time ``t`` (N, T) in
seconds and random parameters ``rnd(lo, hi)`` (N, 1), so one call makes N continuous
clips of T frames (or N random moments when T = 1). Angles are degrees in the joint
frames of :data:`core.skeleton.HUMAN` (R = Rx Ry Rz, body frame x = the subject's left,
y down, z backwards). Sign conventions used throughout:

* x: positive swings a bone that points down backwards and one that points up forwards:
  hip x < 0 lifts the thigh forward, knee x > 0 bends the knee, spine x > 0 bends the
  trunk forward, neck x > 0 nods, shoulder x < 0 raises the arm forward, elbow x < 0
  bends the elbow; ankle x > 0 points the toes down.
* Written for the left side; :meth:`Motion.side` mirrors to the right (y, z negated):
  left shoulder z < 0 raises the arm sideways, left hip z < 0 spreads the leg.
* Sagittal chains (:func:`legs`) are given as global segment angles: trunk pitch P,
  thigh T, shin S, foot F; the joint angles are their differences.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.skeleton import Skeleton
from training.poses.motion import Activities, Motion, MotionFrame

REQUIRED = ("pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee",
            "right_ankle", "spine", "thorax", "neck", "left_shoulder", "left_elbow",
            "left_wrist", "right_shoulder", "right_elbow", "right_wrist")
SIDES = ("left", "right")
TAU = 2 * math.pi


def _v(*xyz) -> torch.Tensor:
    """A direction (..., 3) from components broadcast together."""
    return torch.stack(torch.broadcast_tensors(*(torch.as_tensor(c, dtype=torch.float32)
                                                 for c in xyz)), -1)


def hold(t: torch.Tensor, period, phase, low: float = 0.2, high: float = 0.8) -> torch.Tensor:
    """(N, T) in [0, 1]: rests at 0, rises smoothly, rests at 1, falls, every ``period``."""
    u = torch.remainder(t / period + phase, 1.0)
    tri = 1.0 - (2.0 * u - 1.0).abs()
    x = ((tri - low) / (high - low)).clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def legs(m: Motion, side: str, thigh, shin, foot=0.0, pitch=0.0, spread=0.0) -> None:
    """One leg from global sagittal angles: thigh T (< 0 forward), shin S (> 0 back),
    foot F (> 0 toes down), given the trunk pitch P; ``spread`` abducts the hip."""
    thigh, shin, foot, pitch = (torch.as_tensor(v, dtype=torch.float32)
                                for v in (thigh, shin, foot, pitch))
    m.side("hip", side, x=thigh - pitch, z=-torch.as_tensor(spread))
    m.side("knee", side, x=shin - thigh)
    m.side("ankle", side, x=foot - shin)


def relaxed_arms(m: Motion, rnd, pitch=0.0) -> None:
    """Arms hanging under gravity (compensating the trunk pitch), slightly bent."""
    for s in SIDES:
        m.side("shoulder", s, x=-torch.as_tensor(pitch) + rnd(-10, 10), z=-rnd(3, 15))
        m.side("elbow", s, x=-rnd(5, 30))


def stand(m: Motion, rnd, pitch=0.0) -> None:
    for s in SIDES:
        legs(m, s, rnd(-8, 4), rnd(-2, 6), 0.0, pitch, spread=rnd(0, 8))
    relaxed_arms(m, rnd, pitch)
    m.set("neck", x=rnd(-10, 15), y=rnd(-20, 20))


# -- locomotion --------------------------------------------------------------------------


def walk(m: Motion, t, rnd, turn: bool = False) -> MotionFrame:
    f = rnd(0.75, 1.05)  # gait cycles per second
    phi = TAU * f * t + rnd(0, TAU)
    stride = rnd(0.6, 1.15)
    lean = rnd(-2, 8)
    for s, off in zip(SIDES, (0.0, math.pi), strict=True):
        ph = phi + off
        thigh = -4 - 22 * stride * torch.sin(ph)
        shin = thigh + 5 + 55 * stride * torch.relu(torch.cos(ph + 0.35)) ** 1.5
        legs(m, s, thigh, shin, 0.3 * shin.clamp(max=30), lean, spread=rnd(0, 4))
        m.side("shoulder", s, x=18 * stride * torch.sin(ph) - lean, z=-rnd(5, 12))
        m.side("elbow", s, x=-10 - 20 * torch.relu(-torch.sin(ph)) - rnd(0, 20))
    m.set("spine", x=rnd(-2, 4), y=5 * torch.sin(phi))
    m.set("thorax", y=4 * torch.sin(phi))
    m.set("neck", x=rnd(-10, 15), y=rnd(-25, 25))
    yaw = -6 * torch.sin(phi)
    if turn:
        yaw = yaw + rnd(20, 60) * torch.sign(rnd(-1, 1)) * t + rnd(30, 90) * torch.sin(
            TAU * rnd(0.05, 0.15) * t)
    return MotionFrame(m.angles, pitch=lean, yaw=yaw, speed=1.45 * stride * f)


def run(m: Motion, t, rnd) -> MotionFrame:
    f = rnd(1.25, 1.55)
    phi = TAU * f * t + rnd(0, TAU)
    stride = rnd(0.8, 1.1)
    lean = rnd(6, 15)
    for s, off in zip(SIDES, (0.0, math.pi), strict=True):
        ph = phi + off
        thigh = -18 - 38 * stride * torch.sin(ph)
        shin = thigh + 15 + 85 * stride * torch.relu(torch.cos(ph + 0.4)) ** 1.2
        legs(m, s, thigh, shin, 0.2 * shin.clamp(max=40), lean, spread=rnd(0, 4))
        m.side("shoulder", s, x=35 * torch.sin(ph) - lean, z=-rnd(8, 18))
        m.side("elbow", s, x=-rnd(75, 105) - 10 * torch.sin(ph))
    m.set("spine", x=rnd(0, 6), y=8 * torch.sin(phi))
    m.set("neck", x=-lean + rnd(-5, 10))
    lift = 0.07 * stride * torch.relu(torch.sin(2 * phi + 0.5))
    return MotionFrame(m.angles, pitch=lean, yaw=-8 * torch.sin(phi), lift=lift,
                       speed=2.6 * stride * f)


def crawl(m: Motion, t, rnd) -> MotionFrame:
    f = rnd(0.4, 0.7)
    phi = TAU * f * t + rnd(0, TAU)
    pitch = rnd(80, 95)
    for s, off in zip(SIDES, (0.0, math.pi), strict=True):
        ph = phi + off
        thigh = 0 - 18 * torch.sin(ph)
        legs(m, s, thigh, thigh + 90 + 10 * torch.relu(torch.cos(ph)), 90, pitch, rnd(2, 10))
        # arms vertical under the shoulders, diagonal to the opposite leg
        m.side("shoulder", s, x=-pitch - 18 * torch.sin(ph + math.pi), z=-rnd(0, 10))
        m.side("elbow", s, x=-rnd(0, 15))
    m.set("neck", x=-rnd(30, 50), y=rnd(-20, 20))
    m.set("spine", y=6 * torch.sin(phi))
    return MotionFrame(m.angles, pitch=pitch, speed=0.35 * f)


# -- transitions -------------------------------------------------------------------------


def _seated_legs(m: Motion, rnd, s, pitch) -> None:
    for side in SIDES:
        legs(m, side, -88 * s + rnd(-8, 8) * s, rnd(-15, 20) * s, 0.0, pitch,
             spread=rnd(0, 15))


def sit_down(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(5, 9), rnd(0, 1))
    lean = 3 * s + rnd(25, 40) * torch.sin(math.pi * s)
    _seated_legs(m, rnd, s, lean)
    for side in SIDES:
        m.side("shoulder", side, x=-lean - rnd(10, 40) * s, z=-rnd(5, 15))
        m.side("elbow", side, x=-rnd(10, 70) * s)
    m.set("neck", x=-0.4 * lean + rnd(-5, 15))
    return MotionFrame(m.angles, pitch=lean, seated=True)


def sitting(m: Motion, t, rnd) -> MotionFrame:
    lean = rnd(-12, 25) + 6 * torch.sin(TAU * rnd(0.05, 0.2) * t)
    _seated_legs(m, rnd, torch.ones(()), lean)
    m.set("spine", y=rnd(-20, 20), x=rnd(-5, 10))
    # upper body: typing, eating, or arms on the legs
    work = TAU * rnd(0.3, 1.0) * t
    for k, side in enumerate(SIDES):
        lift = 0.5 + 0.5 * torch.sin(work + k * math.pi)
        m.side("shoulder", side, x=-lean - rnd(20, 60) - 20 * lift, z=-rnd(5, 20))
        m.side("elbow", side, x=-rnd(40, 90) - 30 * lift)
    m.set("neck", x=rnd(-5, 30), y=rnd(-30, 30) * torch.sin(TAU * rnd(0.05, 0.2) * t))
    return MotionFrame(m.angles, pitch=lean, seated=True)


def squat(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(2.5, 5), rnd(0, 1))
    depth = rnd(0.6, 1.0) * s
    lean = 28 * depth
    for side in SIDES:
        legs(m, side, -100 * depth, 32 * depth, 0.0, lean, spread=rnd(5, 20))
        m.side("shoulder", side, x=-lean - rnd(40, 90) * depth, z=-rnd(5, 15))
        m.side("elbow", side, x=-rnd(5, 40))
    m.set("neck", x=-0.5 * lean)
    return MotionFrame(m.angles, pitch=lean)


def pick_up(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(3, 6), rnd(0, 1))
    knees = rnd(0, 1)  # 0: bend from the hips, 1: squat down
    lean = (75 - 35 * knees) * s
    m.set("spine", x=(15 - 5 * knees) * s, y=rnd(-15, 15) * s)
    m.set("thorax", x=8 * s)
    trunk = lean + (23 - 5 * knees) * s
    for k, side in enumerate(SIDES):
        legs(m, side, (-10 - 70 * knees) * s, (10 + 25 * knees) * s, 0.0, lean, rnd(0, 12))
        reach = (k == (rnd(0, 1) > 0.5).float()).float()
        m.side("shoulder", side, x=-trunk - (10 + 25 * reach) * s, z=-rnd(5, 20))
        m.side("elbow", side, x=-rnd(5, 25) - 30 * (1 - reach) * s)
    m.set("neck", x=-0.5 * trunk)
    return MotionFrame(m.angles, pitch=lean)


def jump(m: Motion, t, rnd) -> MotionFrame:
    period = rnd(1.6, 2.6)
    u = torch.remainder(t / period + rnd(0, 1), 1.0)
    crouch = torch.exp(-((u - 0.25) / 0.1) ** 2) + 0.8 * torch.exp(-((u - 0.8) / 0.08) ** 2)
    air = ((u - 0.38) / 0.32).clamp(0, 1)
    height = rnd(0.2, 0.45) * 4 * air * (1 - air)
    lean = 25 * crouch
    tuck = rnd(0, 1) * torch.sin(math.pi * air)
    for side in SIDES:
        legs(m, side, -95 * crouch - 60 * tuck, 30 * crouch + 30 * tuck, 25 * (air > 0).float(),
             lean, spread=rnd(0, 10))
        swing = -lean + 50 * crouch - rnd(120, 170) * torch.sin(math.pi * air)
        m.side("shoulder", side, x=swing, z=-rnd(5, 25))
        m.side("elbow", side, x=-rnd(10, 40))
    return MotionFrame(m.angles, pitch=lean, lift=height)


def kick(m: Motion, t, rnd) -> MotionFrame:
    period = rnd(1.4, 2.4)
    u = torch.remainder(t / period + rnd(0, 1), 1.0)
    left_kicks = rnd(0, 1) > 0.5
    back = torch.exp(-((u - 0.3) / 0.1) ** 2)
    fwd = torch.exp(-((u - 0.55) / 0.08) ** 2)
    height = rnd(50, 95)
    lean = -12 * fwd + 8 * back
    for side in SIDES:
        kicks = left_kicks if side == "left" else ~left_kicks
        kicks = kicks.float()
        thigh = kicks * (25 * back - height * fwd) + (1 - kicks) * rnd(-8, 2)
        shin = thigh + kicks * (90 * back + 10 * fwd) + (1 - kicks) * rnd(0, 10)
        legs(m, side, thigh, shin, kicks * 30 * fwd, lean, rnd(0, 8))
        m.side("shoulder", side, x=-lean + 30 * (fwd - back) * (2 * kicks - 1), z=-rnd(15, 45))
        m.side("elbow", side, x=-rnd(20, 80))
    return MotionFrame(m.angles, pitch=lean)


# -- arm gestures (standing) ---------------------------------------------------------------


def wave(m: Motion, t, rnd) -> MotionFrame:
    stand(m, rnd)
    both = rnd(0, 1) < 0.3
    left = rnd(0, 1) < 0.5
    w = torch.sin(TAU * rnd(1.2, 2.5) * t)
    for side in SIDES:
        on = (both | (left if side == "left" else ~left)).float()[..., None]
        up = rnd(-0.2, 0.5)[..., None]
        d = _v(1.0, -up[..., 0], rnd(-0.6, 0.1)) * on + _v(0.15, 1.0, 0.0) * (1 - on)
        m.aim("shoulder", side, d, _v(0.0, -1.0, 0.0) * on + _v(0.0, 0.0, -1.0) * (1 - on))
        m.side("elbow", side, x=on[..., 0] * (-rnd(70, 110) + 30 * w) - (1 - on[..., 0]) * 10)
    m.set("neck", y=rnd(-30, 30))
    return MotionFrame(m.angles)


def reach(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(2.5, 4.5), rnd(0, 1))
    lean = rnd(-5, 20) * s
    stand(m, rnd, lean)
    left = rnd(0, 1) < 0.5
    for side in SIDES:
        on = (left if side == "left" else ~left).float()
        d = _v(rnd(-0.3, 0.8), rnd(-1.0, 0.3), rnd(-1.0, -0.3))
        rest = _v(0.15, 1.0, 0.0)
        dd = rest + (d - rest) * (on * s)[..., None]
        m.aim("shoulder", side, dd, _v(0.0, 0.0, -1.0))
        m.side("elbow", side, x=-rnd(5, 30) * on - (1 - on) * rnd(5, 30))
    m.set("spine", y=rnd(-20, 20) * s, z=rnd(-10, 10) * s)
    m.set("neck", x=rnd(-30, 10) * s)
    for side in SIDES:  # on the toes when reaching up
        m.side("ankle", side, x=rnd(0, 25) * s, add=True)
    return MotionFrame(m.angles, pitch=lean)


def phone(m: Motion, t, rnd) -> MotionFrame:
    walking = rnd(0, 1) < 0.4
    frame = walk(m, t, rnd)
    still = Motion(m.skeleton, *m.angles.shape[:2], m.generator)
    stand(still, rnd)
    m.angles = torch.where(walking[..., None, None], m.angles, still.angles)
    left = rnd(0, 1) < 0.5
    for side in SIDES:
        on = (left if side == "left" else ~left)[..., None].float()
        d = _v(0.35, 0.75, -0.35) * on + _v(0.1, 1.0, -0.05) * (1 - on)
        m.aim("shoulder", side, d, _v(0.0, -1.0, -0.3))
        m.side("elbow", side, x=-on[..., 0] * rnd(135, 150) - (1 - on[..., 0]) * rnd(10, 90))
    m.set("neck", x=rnd(0, 25), z=rnd(-15, 15))
    speed = frame.speed * walking.float() * 0.7
    return MotionFrame(m.angles, yaw=frame.yaw * walking.float(), speed=speed)


def eat(m: Motion, t, rnd) -> MotionFrame:
    seated = rnd(0, 1) < 0.5
    frame = sitting(m, t, rnd)
    still = Motion(m.skeleton, *m.angles.shape[:2], m.generator)
    stand(still, rnd)
    m.angles = torch.where(seated[..., None, None], m.angles, still.angles)
    bite = hold(t, rnd(2, 4), rnd(0, 1))
    left = rnd(0, 1) < 0.5
    for side in SIDES:
        on = (left if side == "left" else ~left).float()
        b = (bite * on)[..., None]
        d = _v(0.25, 1.0, -0.6) * (1 - b) + _v(0.3, 0.6, -0.7) * b
        m.aim("shoulder", side, d, _v(0.0, -1.0, -0.5))
        m.side("elbow", side, x=-rnd(50, 80) - 80 * b[..., 0])
    pitch = torch.where(seated, torch.as_tensor(frame.pitch), torch.zeros(()))
    m.set("neck", x=rnd(5, 25))
    return MotionFrame(m.angles, pitch=pitch, seated=seated[:, 0])


def greet(m: Motion, t, rnd) -> MotionFrame:
    kind = rnd(0, 3).floor()  # 0 handshake, 1 bow, 2 open arms
    s = hold(t, rnd(2.5, 4.5), rnd(0, 1))
    bow = (kind == 1).float() * s * rnd(20, 45)
    stand(m, rnd, bow)
    shake = (kind == 0).float() * s
    hug = (kind == 2).float() * s
    for k, side in enumerate(SIDES):
        right = float(k)
        d_rest = _v(0.12, 1.0, 0.0)
        d = (d_rest + (_v(0.2, 0.6, -0.8) - d_rest) * (shake * right)[..., None]
             + (_v(1.0, 0.1, -0.6) - d_rest) * hug[..., None])
        m.aim("shoulder", side, d, _v(0.0, -0.3, -1.0))
        osc = 8 * torch.sin(TAU * 2.5 * t) * shake * right
        m.side("elbow", side, x=-rnd(10, 25) - 35 * shake * right - 20 * hug + osc)
    m.set("neck", x=bow * 0.3 + rnd(-5, 10))
    return MotionFrame(m.angles, pitch=bow)


def discuss(m: Motion, t, rnd) -> MotionFrame:
    stand(m, rnd)
    for side in SIDES:
        g1 = torch.sin(TAU * rnd(0.2, 0.8) * t + rnd(0, TAU))
        g2 = torch.sin(TAU * rnd(0.2, 0.8) * t + rnd(0, TAU))
        d = _v(0.3 + 0.3 * g1, 0.8 + 0.2 * g2, -0.5 - 0.3 * g1)
        m.aim("shoulder", side, d, _v(0.0, -1.0, -0.6))
        m.side("elbow", side, x=-rnd(50, 100) + 25 * g2)
    m.set("neck", y=rnd(-20, 20) + 20 * torch.sin(TAU * 0.2 * t + rnd(0, TAU)), x=rnd(-10, 10))
    m.set("spine", y=8 * torch.sin(TAU * rnd(0.1, 0.3) * t))
    return MotionFrame(m.angles, yaw=rnd(-10, 10) * torch.sin(TAU * 0.1 * t))


def photo(m: Motion, t, rnd) -> MotionFrame:
    s = hold(t, rnd(3, 6), rnd(0, 1))
    stand(m, rnd)
    for side in SIDES:
        d = _v(0.15, 1.0, 0.0) + (_v(0.35, 0.55, -0.75) - _v(0.15, 1.0, 0.0)) * s[..., None]
        m.aim("shoulder", side, d, _v(-0.3, -1.0, -0.2))
        m.side("elbow", side, x=-10 - 125 * s)
    m.set("neck", x=rnd(-10, 10), y=rnd(-15, 15))
    return MotionFrame(m.angles)


def free(m: Motion, t, rnd) -> MotionFrame:
    """Any pose the joints allow: every limb, the trunk and the neck swing slowly between
    random angles across their whole range, independently of each other. Not an everyday
    activity (see :data:`EVERYDAY`): the poses of sport, dance and play that the other
    activities never reach, for what must recognise people in any pose."""
    lim = torch.rad2deg(torch.as_tensor(m.skeleton.joint_limits, dtype=torch.float32))
    lo, hi = lim[..., 0], lim[..., 1]
    n, g = t.shape[0], m.generator
    reach = torch.zeros(m.skeleton.num_keypoints, 1)
    for name, share in _FREE_REACH.items():
        for j, kp in enumerate(m.skeleton.keypoints):
            if kp.endswith(name):
                reach[j] = share
    amp = torch.rand(n, 1, *lo.shape, generator=g) * reach
    centre = lo + (hi - lo) * torch.rand(n, 1, *lo.shape, generator=g)
    freq = 0.05 + 0.25 * torch.rand(n, 1, *lo.shape, generator=g)
    phase = TAU * torch.rand(n, 1, *lo.shape, generator=g)
    ang = centre + (hi - lo) / 2 * amp * torch.sin(TAU * freq * t[..., None, None] + phase)
    ang = torch.maximum(torch.minimum(ang, hi), lo)
    keep = reach[..., 0] > 0
    m.angles[..., keep, :] = ang[..., keep, :]
    return MotionFrame(m.angles, yaw=rnd(-180, 180), pitch=rnd(-15, 35), roll=rnd(-10, 10))


# which joints :func:`free` moves, and how far each swings about its random centre (a
# share of its range)
_FREE_REACH = {"shoulder": 0.5, "elbow": 0.5, "hip": 0.4, "knee": 0.4, "ankle": 0.3,
               "spine": 0.3, "thorax": 0.3, "neck": 0.3}


def lie(m: Motion, t, rnd) -> MotionFrame:
    kind = rnd(0, 3).floor()  # 0 on the back, 1 on the side, 2 on the front
    roll = torch.where(kind == 1, torch.sign(rnd(-1, 1)) * 90, torch.zeros(()))
    pitch = torch.where(kind == 2, torch.full_like(kind, 90.0), torch.full_like(kind, -90.0))
    pitch = torch.where(kind == 1, torch.zeros(()), pitch)
    knees = hold(t, rnd(4, 8), rnd(0, 1)) * rnd(0, 1)
    for side in SIDES:
        legs(m, side, -70 * knees + rnd(-10, 5), 30 * knees + rnd(0, 15), rnd(0, 30), 0.0,
             rnd(0, 15))
        m.side("shoulder", side, x=rnd(-170, 20), z=-rnd(5, 90))
        m.side("elbow", side, x=-rnd(0, 100))
    m.set("neck", x=rnd(-20, 30), y=rnd(-50, 50))
    m.set("spine", x=rnd(-10, 10), z=rnd(-10, 10))
    return MotionFrame(m.angles, pitch=pitch, roll=roll)


FUNCTIONS = {
    "walk": walk,
    "walk_turn": lambda m, t, rnd: walk(m, t, rnd, turn=True),
    "run": run,
    "sit_down": sit_down,
    "sitting": sitting,
    "squat": squat,
    "pick_up": pick_up,
    "wave": wave,
    "reach": reach,
    "kick": kick,
    "jump": jump,
    "phone": phone,
    "eat": eat,
    "greet": greet,
    "discuss": discuss,
    "photo": photo,
    "crawl": crawl,
    "lie": lie,
    "free": free,
}
# what is drawn when no activity is named: everything but ``free``
EVERYDAY = [name for name in FUNCTIONS if name != "free"]

# floor clearance per keypoint when it is the lowest point, metres at rest size
_CLEARANCE = {"ankle": 0.085, "knee": 0.06, "hip": 0.10, "pelvis": 0.11, "spine": 0.11,
              "thorax": 0.10, "neck": 0.07, "head_top": 0.05, "shoulder": 0.06, "elbow": 0.05,
              "wrist": 0.04, "nose": 0.02, "eye": 0.03, "ear": 0.03}


def _seat_height(skeleton: Skeleton, bone_lengths: torch.Tensor) -> torch.Tensor:
    """(N,) stool height: the shin plus the ankle above the floor, metres."""
    shin = bone_lengths[:, skeleton.index("left_ankle")]
    scale = shin / float(skeleton.bone_lengths()[skeleton.index("left_ankle")])
    return shin + 0.09 * scale - 0.02


def activities(skeleton: Skeleton) -> Activities:
    clearance = np.array([
        next((v for k, v in _CLEARANCE.items() if name.endswith(k)), 0.05)
        for name in skeleton.keypoints
    ])
    return Activities(dict(FUNCTIONS), clearance, noise_deg=4.0, seat_height=_seat_height,
                      names=list(EVERYDAY))
