"""The pose sources of :mod:`training.poses`: random poses and continuous motion of a
skeleton with random limb lengths (:func:`sample_poses`, :func:`generate_sequence`),
their batches (:class:`PoseBatch`, :class:`PoseSequence`) and the objects that draw them
(:class:`ProceduralPoseSource`, :class:`PoseBank`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.camera import euler_to_matrix, forward_kinematics
from core.errors import InputError
from core.skeleton import Skeleton
from training.poses.activities import activities_for, activity_names, run_motion
from training.poses.motion import matrix_to_euler

# -- data -------------------------------------------------------------------------------


@dataclass
class PoseBatch:
    """B poses of one skeleton (shapes use the project glossary).

    Attributes:
        rotations: (B, J, 3, 3) local joint rotations; the root's is the global orientation.
        euler: (B, J, 3) the angles (radians, R = Rx Ry Rz) of ``rotations``; every joint
            but the root lies within ``skeleton.joint_limits``.
        bone_lengths: (B, J) metres, length of the bone from each keypoint's parent.
        joints: (B, J, 3) positions in the world frame (body-frame axes, floor at y = 0).
        activity: B activity names.
        seat: (B, 3) centre of a stool's seat in the world frame for seated poses,
            NaN where there is none (a renderer draws the stool).
    """

    rotations: torch.Tensor
    euler: torch.Tensor
    bone_lengths: torch.Tensor
    joints: torch.Tensor
    activity: list[str]
    seat: torch.Tensor

    def __len__(self) -> int:
        return self.rotations.shape[0]

    @property
    def root_position(self) -> torch.Tensor:
        """(B, 3) world position of the root keypoint (index 0)."""
        return self.joints[:, 0]

    def to(self, device: torch.device | str) -> PoseBatch:
        kw = {k: (v.to(device) if isinstance(v, torch.Tensor) else v)
              for k, v in self.__dict__.items()}
        return type(self)(**kw)

    def index(self, idx: Sequence[int] | torch.Tensor) -> PoseBatch:
        """A new batch made of the poses at ``idx`` (in that order)."""
        idx_t = torch.as_tensor(idx, dtype=torch.long)
        kw = {k: (v[idx_t.to(v.device)] if isinstance(v, torch.Tensor) else v)
              for k, v in self.__dict__.items()}
        kw["activity"] = [self.activity[i] for i in idx_t.tolist()]
        return type(self)(**kw)

    @staticmethod
    def cat(batches: Sequence[PoseBatch]) -> PoseBatch:
        """Concatenate batches along the first axis."""
        first = batches[0]
        kw = {}
        for k, v in first.__dict__.items():
            if isinstance(v, torch.Tensor):
                kw[k] = torch.cat([getattr(b, k) for b in batches])
            elif k == "activity":
                kw[k] = [a for b in batches for a in b.activity]
            else:
                kw[k] = v
        return type(first)(**kw)


@dataclass
class PoseSequence(PoseBatch):
    """T consecutive frames of one motion: the :class:`PoseBatch` fields with T for B,
    plus the frame rate."""

    fps: float = 25.0


@dataclass
class LimbLengths:
    """Random proportions (paper 5.2): every bone is scaled by ``overall * part * jitter``.

    ``overall`` is one factor per pose (body size), ``part`` one per bone shared by its
    left/right mirror (and by the rigid leaf groups such as the face), ``jitter`` a small
    independent factor per bone (some asymmetry). Ranges are (low, high) uniform factors.
    """

    overall: tuple[float, float] = (0.85, 1.12)
    part: tuple[float, float] = (0.88, 1.12)
    jitter: float = 0.02


# -- limb lengths -----------------------------------------------------------------------


def random_bone_lengths(skeleton: Skeleton, batch: int, limbs: LimbLengths | None = None,
                        generator: torch.Generator | None = None,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, J) random bone lengths in metres around the skeleton's rest lengths.

    Mirrored bones share their ``part`` factor, leaves hanging from the same parent
    (a face) share one, so bodies stay symmetric and rigid where they should.
    """
    limbs = limbs or LimbLengths()
    j = skeleton.num_keypoints
    group = np.arange(j)
    for a, b in skeleton.left_right:
        group[b] = group[a]
    kids = {}
    for k in range(j):
        if not skeleton.children(k) and skeleton.parents[k] >= 0:
            kids.setdefault(skeleton.parents[k], []).append(k)
    for leaves in kids.values():
        if len(leaves) > 1:
            group[leaves] = group[leaves[0]]
    rest = torch.as_tensor(skeleton.bone_lengths(), dtype=torch.float32)

    def uni(shape, lo_hi):
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    overall = uni((batch, 1), limbs.overall)
    part = uni((batch, j), limbs.part)[:, torch.as_tensor(group)]
    jitter = 1.0 + limbs.jitter * (2 * torch.rand(batch, j, generator=generator) - 1)
    return (rest[None] * overall * part * jitter).to(device)


# -- sampling ---------------------------------------------------------------------------


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    return g


def place_poses(skeleton: Skeleton, euler: torch.Tensor, bone_lengths: torch.Tensor,
                lift: torch.Tensor, seated: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pose M skeletons from Euler angles: forward kinematics, feet (or whatever is
    lowest) on the floor y = 0, root above the origin.

    Args:
        euler: (M, J, 3) radians, the root's entry is the global orientation.
        bone_lengths: (M, J) metres.
        lift: (M,) metres above the floor contact (jumps).
        seated: (M,) bool: put a stool under the pelvis.

    Returns:
        dict with ``rotations`` (M, J, 3, 3), ``joints`` (M, J, 3), ``seat`` (M, 3) (NaN
        where not seated).
    """
    acts = activities_for(skeleton)
    rot = euler_to_matrix(euler)
    pos, glob = forward_kinematics(skeleton, rot, bone_lengths)
    scale = bone_lengths.sum(-1, keepdim=True) / float(skeleton.bone_lengths().sum())
    clearance = torch.as_tensor(acts.clearance, dtype=pos.dtype, device=pos.device) * scale
    low = (pos[..., 1] + clearance).amax(-1)  # (M,)
    root = skeleton.parents.index(-1)
    shift = -pos[:, root].clone()
    shift[:, 1] = -low - lift
    pos = pos + shift[:, None]
    seat = torch.full_like(pos[:, 0], float("nan"))
    if bool(seated.any()) and acts.seat_height is not None:
        height = acts.seat_height(skeleton, bone_lengths)
        back = glob[:, root, :, 2] * torch.tensor([1.0, 0.0, 1.0], device=pos.device)
        back = torch.nn.functional.normalize(back, dim=-1)
        here = pos[:, root] + 0.04 * back
        here[:, 1] = -height
        seat = torch.where(seated[:, None], here, seat)
    return {"rotations": rot, "joints": pos, "seat": seat}


def sample_poses(skeleton: Skeleton, batch: int, seed: int | torch.Generator | None = None,
                 device: torch.device | str = "cpu", activities: Sequence[str] | None = None,
                 limbs: LimbLengths | None = None, noise: float = 1.0,
                 bone_lengths: torch.Tensor | None = None) -> PoseBatch:
    """B independent random plausible poses with random limb lengths.

    Every pose is a random moment of a random activity (from ``activities``, default all
    of the skeleton's) with random parameters, noise and global orientation.

    Args:
        skeleton: the body (HUMAN, QUADRUPED or any skeleton, see module docstring).
        batch: B.
        seed: an int, a ``torch.Generator`` (advanced in place) or None (random).
        device: where the returned tensors live.
        activities: names to draw from uniformly (see :func:`activity_names`).
        limbs: ranges of the random bone lengths.
        noise: scale of the smooth per-joint noise (0 = the bare activity).
        bone_lengths: optional (B, J) proportions to use instead of random ones (e.g. the
            same subject in another pose).

    Returns:
        :class:`PoseBatch` with rotations (B, J, 3, 3), euler (B, J, 3), bone_lengths
        (B, J), joints (B, J, 3), activity (B names), seat (B, 3).
    """
    if batch <= 0:
        raise InputError(f"batch must be positive, got {batch}")
    g = _generator(seed)
    names = _check_activities(skeleton, activities)
    choice = torch.randint(0, len(names), (batch,), generator=g)
    j = skeleton.num_keypoints
    euler = torch.zeros(batch, j, 3)
    lift = torch.zeros(batch)
    seated = torch.zeros(batch, dtype=torch.bool)
    for k, name in enumerate(names):
        idx = torch.nonzero(choice == k).flatten()
        if len(idx) == 0:
            continue
        out = run_motion(skeleton, name, 30.0 * torch.rand(len(idx), 1, generator=g), g, noise)
        euler[idx], lift[idx], seated[idx] = out["euler"][:, 0], out["lift"][:, 0], out["seated"]
    if bone_lengths is None:
        bone_lengths = random_bone_lengths(skeleton, batch, limbs, g)
    bone_lengths = bone_lengths.float().cpu()
    placed = place_poses(skeleton, euler, bone_lengths, lift, seated)
    return PoseBatch(placed["rotations"], euler, bone_lengths, placed["joints"],
                     [names[i] for i in choice.tolist()], placed["seat"]).to(device)


def _check_activities(skeleton: Skeleton, activities: Sequence[str] | None) -> list[str]:
    known = activity_names(skeleton, everyday=False)
    names = list(activities) if activities is not None else activity_names(skeleton)
    for name in names:
        if name not in known:
            raise InputError(f"unknown activity {name!r} for skeleton {skeleton.name!r}; "
                             f"known: {', '.join(known)}")
    if not names:
        raise InputError("no activities to draw from")
    return names


def generate_sequence(skeleton: Skeleton, activity: str, frames: int, fps: float = 25.0,
                      seed: int | torch.Generator | None = None,
                      device: torch.device | str = "cpu", limbs: LimbLengths | None = None,
                      bone_lengths: torch.Tensor | None = None,
                      noise: float = 1.0) -> PoseSequence:
    """T = ``frames`` frames of continuous motion of one activity at ``fps``.

    ``bone_lengths`` (J,) fixes the subject's proportions (else random from ``limbs``).
    The root starts above the origin and travels for walking activities; a stool, when
    seated, stays where the pelvis is lowest.

    Returns:
        :class:`PoseSequence` with rotations (T, J, 3, 3), euler (T, J, 3),
        bone_lengths (T, J), joints (T, J, 3), activity (T names), seat (T, 3), fps.
    """
    if frames <= 0 or fps <= 0:
        raise InputError(f"frames and fps must be positive, got {frames} and {fps}")
    _check_activities(skeleton, [activity])
    g = _generator(seed)
    t = (torch.arange(frames, dtype=torch.float32) / fps)[None] + 5.0 * torch.rand(
        1, 1, generator=g)
    out = run_motion(skeleton, activity, t, g, noise)
    if bone_lengths is None:
        lengths = random_bone_lengths(skeleton, 1, limbs, g)
    else:
        lengths = torch.as_tensor(bone_lengths, dtype=torch.float32).reshape(1, -1).cpu()
    lengths = lengths.expand(frames, -1).clone()
    placed = place_poses(skeleton, out["euler"][0], lengths, out["lift"][0],
                         out["seated"].expand(frames))
    yaw, speed = out["yaw"][0], out["speed"][0]
    heading = torch.stack([-torch.sin(yaw), torch.zeros_like(yaw), -torch.cos(yaw)], -1)
    travel = torch.cumsum(speed[:, None] * heading / fps, dim=0) - speed[0] * heading[0] / fps
    joints = placed["joints"] + travel[:, None]
    seat = placed["seat"] + travel
    if bool(out["seated"][0]):
        lowest = int(joints[:, skeleton.parents.index(-1), 1].argmax())
        seat = seat[lowest].expand(frames, 3).clone()
    return PoseSequence(placed["rotations"], out["euler"][0], lengths, joints,
                        [activity] * frames, seat, fps=float(fps)).to(device)


class ProceduralPoseSource:
    """The procedural activities as a pose source object (same interface as
    :class:`training.poses.bvh.BVHPoseSource`)."""

    def __init__(self, skeleton: Skeleton, activities: Sequence[str] | None = None,
                 limbs: LimbLengths | None = None, noise: float = 1.0):
        self.skeleton = skeleton
        self.activities = _check_activities(skeleton, activities)
        self.limbs = limbs
        self.noise = noise

    def sample(self, batch: int, seed: int | torch.Generator | None = None,
               device: torch.device | str = "cpu",
               bone_lengths: torch.Tensor | None = None) -> PoseBatch:
        """B random poses, see :func:`sample_poses`."""
        return sample_poses(self.skeleton, batch, seed, device, self.activities, self.limbs,
                            self.noise, bone_lengths)

    def sequence(self, frames: int, fps: float = 25.0, seed: int | torch.Generator | None = None,
                 activity: str | None = None, device: torch.device | str = "cpu",
                 bone_lengths: torch.Tensor | None = None) -> PoseSequence:
        """A continuous clip, see :func:`generate_sequence` (random activity if None)."""
        g = _generator(seed)
        if activity is None:
            activity = self.activities[int(torch.randint(len(self.activities), (1,),
                                                         generator=g))]
        return generate_sequence(self.skeleton, activity, frames, fps, g, device, self.limbs,
                                 bone_lengths, self.noise)


class PoseBank:
    """A fast pose source for data streams: a bank of procedural poses (``clips`` clips of
    ``frames`` frames per activity), drawn with fresh random limb lengths and extra
    heading, and renewed one activity at a time (``refresh`` activities per draw), so the
    cost of the activity functions is spread thin. Activities are drawn uniformly, or
    in proportion to ``weights`` (one per activity).

    Same ``sample`` interface as :class:`ProceduralPoseSource`.
    """

    def __init__(self, skeleton: Skeleton, activities: Sequence[str] | None = None,
                 limbs: LimbLengths | None = None, noise: float = 1.0, clips: int = 12,
                 frames: int = 32, refresh: int = 1,
                 seed: int | torch.Generator | None = None,
                 weights: Sequence[float] | None = None):
        self.skeleton = skeleton
        self.activities = _check_activities(skeleton, activities)
        if weights is not None and (len(weights) != len(self.activities)
                                    or min(weights) < 0 or sum(weights) <= 0):
            raise InputError(f"weights: expected {len(self.activities)} non-negative numbers "
                             f"with a positive sum, one per activity, got {list(weights)}")
        self.weights = None if weights is None else torch.tensor(weights, dtype=torch.float64)
        self.limbs, self.noise = limbs, noise
        self.clips, self.frames, self.refresh = clips, frames, refresh
        self.generator = _generator(seed)
        self._next = 0
        self.bank = [self._make(name) for name in self.activities]

    def _make(self, name: str) -> dict[str, torch.Tensor]:
        g = self.generator
        t = (torch.arange(self.frames, dtype=torch.float32) / 5.0)[None] + 30.0 * torch.rand(
            self.clips, 1, generator=g)
        out = run_motion(self.skeleton, name, t, g, self.noise)
        return {"euler": out["euler"].flatten(0, 1), "lift": out["lift"].flatten(),
                "seated": out["seated"][:, None].expand(-1, self.frames).flatten()}

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where this bank is (for resuming)."""
        return {"generator": self.generator.get_state(), "next": self._next,
                "bank": [{k: v.clone() for k, v in b.items()} for b in self.bank]}

    def load_state_dict(self, state: dict) -> None:
        if len(state["bank"]) != len(self.activities):
            raise InputError(f"pose bank state has {len(state['bank'])} activities, "
                             f"this bank {len(self.activities)}")
        self.generator.set_state(state["generator"])
        self._next = int(state["next"])
        self.bank = [{k: v.clone() for k, v in b.items()} for b in state["bank"]]

    def sample(self, batch: int, seed: int | torch.Generator | None = None,
               device: torch.device | str = "cpu",
               bone_lengths: torch.Tensor | None = None) -> PoseBatch:
        """B random poses from the bank (see :func:`sample_poses` for the fields)."""
        g = _generator(seed) if seed is not None else self.generator
        for _ in range(self.refresh):
            self.bank[self._next] = self._make(self.activities[self._next])
            self._next = (self._next + 1) % len(self.activities)
        act = (torch.randint(len(self.activities), (batch,), generator=g)
               if self.weights is None else
               torch.multinomial(self.weights, batch, replacement=True, generator=g))
        row = torch.randint(self.clips * self.frames, (batch,), generator=g)
        j = self.skeleton.num_keypoints
        euler, lift = torch.zeros(batch, j, 3), torch.zeros(batch)
        seated = torch.zeros(batch, dtype=torch.bool)
        for k in act.unique().tolist():
            idx = torch.nonzero(act == k).flatten()
            src = self.bank[k]
            euler[idx], lift[idx] = src["euler"][row[idx]], src["lift"][row[idx]]
            seated[idx] = src["seated"][row[idx]]
        # a fresh heading: rotate the root about the vertical
        root = self.skeleton.parents.index(-1)
        turn = 2 * torch.pi * torch.rand(batch, generator=g)
        zero = torch.zeros_like(turn)
        rot_root = euler_to_matrix(torch.stack([zero, turn, zero], -1)) @ euler_to_matrix(
            euler[:, root])
        euler[:, root] = matrix_to_euler(rot_root)
        if bone_lengths is None:
            bone_lengths = random_bone_lengths(self.skeleton, batch, self.limbs, g)
        bone_lengths = bone_lengths.float().cpu()
        placed = place_poses(self.skeleton, euler, bone_lengths, lift, seated)
        return PoseBatch(placed["rotations"], euler, bone_lengths, placed["joints"],
                         [self.activities[k] for k in act.tolist()], placed["seat"]).to(device)
