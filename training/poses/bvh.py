"""BVH motion capture as a pose source: parse a ``.bvh`` file, map its joints onto
:data:`~core.skeleton.HUMAN` by name, and serve its frames like the procedural
activities (``sample`` / ``sequence``), e.g. for the pose prior::

    source = BVHPoseSource("walk_120hz.bvh")          # default mapping (CMU-style names)
    poses = source.sample(64, seed=0)                 # random frames, random proportions
    clip = source.sequence(100, fps=25)               # resampled continuous clip

The mapping is YAML the user can edit (:data:`DEFAULT_MAPPING`, written out with
``abspose synth --print-bvh-map``): which BVH joint gives each keypoint's position
(a joint name, ``Joint/end`` for its end site, or a list to average), which BVH
joints give the orientation of the head, hands and feet, the BVH axes of the subject's
left, up and forward at rest, and the units. Retargeting: positions fix every joint
with children (Kabsch on several children, a swing plus the knee / elbow bending plane
for a chain), the listed orientations fix the rest relative to the BVH rest pose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from core.camera import euler_to_matrix
from core.errors import InputError
from core.skeleton import HUMAN, Skeleton
from training.poses.bvh_retarget import positions_to_globals
from training.poses.sources import (
    LimbLengths,
    PoseBatch,
    PoseSequence,
    _generator,
    matrix_to_euler,
    place_poses,
    random_bone_lengths,
)

DEFAULT_MAPPING = """\
# BVH -> HUMAN mapping (edit the joint names for your mocap).
# keypoints: HUMAN keypoint -> BVH joint ("Joint/end" = its end site; a list = average).
# orientation: HUMAN joint -> BVH joint whose rotation orients it (head, hands, feet).
# axes: the BVH directions of the subject's own left, up and forward in the rest pose.
# units: metres per BVH unit, or "auto" (from the hip-to-ankle length).
units: auto
axes: {left: +x, up: +y, forward: +z}
keypoints:
  pelvis: Hips
  right_hip: RightUpLeg
  right_knee: RightLeg
  right_ankle: RightFoot
  left_hip: LeftUpLeg
  left_knee: LeftLeg
  left_ankle: LeftFoot
  spine: Spine
  thorax: [LeftShoulder, RightShoulder]
  neck: Head
  head_top: Head/end
  left_shoulder: LeftArm
  left_elbow: LeftForeArm
  left_wrist: LeftHand
  right_shoulder: RightArm
  right_elbow: RightForeArm
  right_wrist: RightHand
orientation:
  neck: Head
  left_wrist: LeftHand
  right_wrist: RightHand
  left_ankle: LeftFoot
  right_ankle: RightFoot
"""

_AXES = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0),
         "+z": (0, 0, 1), "-z": (0, 0, -1)}


@dataclass
class BVH:
    """A parsed BVH file: joint ``names`` (parents before children), ``parents``,
    ``offsets`` (N, 3), ``channels`` per joint, ``ends`` (joint -> end-site offset),
    ``motion`` (T, C) channel values, ``frame_time`` seconds."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    ends: dict[int, np.ndarray]
    motion: np.ndarray
    frame_time: float

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def rest(self) -> BVH:
        """The rest pose as a one-frame BVH: every channel zero."""
        return BVH(self.names, self.parents, self.offsets, self.channels, self.ends,
                   np.zeros((1, self.motion.shape[1])), self.frame_time)

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Positions (T, N, 3), global rotations (T, N, 3, 3) and end-site positions
        {joint: (T, 3)}, in BVH units and axes."""
        t = self.motion.shape[0]
        n = len(self.names)
        pos = np.zeros((t, n, 3))
        rot = np.zeros((t, n, 3, 3))
        col = 0
        for j in range(n):
            chans = self.channels[j]
            vals = self.motion[:, col:col + len(chans)]
            col += len(chans)
            local = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
            offset = np.broadcast_to(self.offsets[j], (t, 3)).copy()
            for c, name in enumerate(chans):
                axis = "xyz".index(name[0].lower())
                if name.lower().endswith("position"):
                    offset[:, axis] = vals[:, c]
                else:
                    local = local @ _axis_rotation(axis, np.radians(vals[:, c]))
            p = self.parents[j]
            if p < 0:
                rot[:, j], pos[:, j] = local, offset
            else:
                rot[:, j] = rot[:, p] @ local
                pos[:, j] = pos[:, p] + (rot[:, p] @ offset[..., None])[..., 0]
        ends = {j: pos[:, j] + (rot[:, j] @ off)[..., :] for j, off in self.ends.items()}
        return pos, rot, ends


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*angle.shape, 3, 3))
    i, k = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., i, k], out[..., k, i], out[..., k, k] = c, -s, s, c
    return out


def load_bvh(path: str | Path) -> BVH:
    """Parse a BVH file (HIERARCHY and MOTION sections)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"BVH file {path} does not exist")
    tokens = re.findall(r"[^\s{}]+|[{}]", path.read_text(errors="replace"))
    names, parents, offsets, channels, ends = [], [], [], [], {}
    stack: list[int] = []
    i, last = 0, -1
    try:
        while tokens[i].upper() != "MOTION":
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append(np.zeros(3))
                channels.append([])
                last = len(names) - 1
                i += 2
            elif tok == "End":
                block = tokens.index("}", i)
                k = tokens.index("OFFSET", i)
                ends[stack[-1]] = np.array([float(v) for v in tokens[k + 1:k + 4]])
                i = block + 1
            elif tok == "{":
                stack.append(last)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[last] = np.array([float(v) for v in tokens[i + 1:i + 4]])
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                channels[last] = tokens[i + 2:i + 2 + n]
                i += 2 + n
            else:
                i += 1
        frames = int(tokens[tokens.index("Frames:", i) + 1])
        k = tokens.index("Time:", i)
        frame_time = float(tokens[k + 1])
        values = np.array([float(v) for v in tokens[k + 2:]], dtype=np.float64)
    except (ValueError, IndexError) as err:
        raise InputError(f"{path}: not a valid BVH file ({err})") from None
    width = sum(len(c) for c in channels)
    if not names or width == 0 or values.size < frames * width:
        raise InputError(f"{path}: expected {frames} frames of {width} channels, "
                         f"got {values.size} values")
    return BVH(names, parents, np.array(offsets), channels, ends,
               values[:frames * width].reshape(frames, width), frame_time)


def load_mapping(source: str | Path | dict | None = None) -> dict[str, Any]:
    """The BVH -> HUMAN mapping from a YAML file, a dict, or :data:`DEFAULT_MAPPING`."""
    if source is None:
        data = yaml.safe_load(DEFAULT_MAPPING)
    elif isinstance(source, dict):
        data = source
    else:
        data = yaml.safe_load(Path(source).read_text())
    unknown = set(data) - {"units", "axes", "keypoints", "orientation"}
    if unknown:
        raise InputError(f"BVH mapping: unknown key(s) {sorted(unknown)}; "
                         "allowed: units, axes, keypoints, orientation")
    if not data.get("keypoints"):
        raise InputError("BVH mapping: 'keypoints' is required")
    return data


def retarget(bvh: BVH, skeleton: Skeleton = HUMAN,
             mapping: dict | str | Path | None = None) -> dict[str, np.ndarray]:
    """Local rotations of ``skeleton`` that follow the mocap.

    Returns numpy arrays: ``rotations`` (T, J, 3, 3) local (root = global orientation in
    the skeleton's body-frame axes), ``bone_lengths`` (J,) metres (mean over frames of
    the mapped bones, rest lengths scaled alike for the others), ``root`` (T, 3) root
    trajectory in metres, and ``fps``. Rotations are not clamped to the joint limits.
    """
    m = load_mapping(mapping)
    axes = m.get("axes") or {"left": "+x", "up": "+y", "forward": "+z"}
    try:
        left, up, fwd = (np.array(_AXES[str(axes[k])], float) for k in ("left", "up", "forward"))
    except KeyError as err:
        raise InputError(f"BVH mapping: axes need left, up, forward, each one of "
                         f"{list(_AXES)}; problem with {err}") from None
    conv = np.stack([left, -up, -fwd])  # BVH vector -> body frame (x left, y down, z back)
    for k in m["keypoints"]:
        skeleton.index(k)  # unknown keypoint names raise
    pos, rot, ends = bvh.forward_kinematics()
    kp = _mapped(m["keypoints"], bvh.names, pos, ends, conv)
    rpos, _, rends = bvh.rest().forward_kinematics()
    kp_rest = _mapped(m["keypoints"], bvh.names, rpos, rends, conv)
    rest = skeleton.bone_lengths()
    units = m.get("units", "auto")
    if units == "auto":
        leg = [("left_hip", "left_knee"), ("left_knee", "left_ankle")]
        if not all(a in kp and b in kp for a, b in leg):
            raise InputError("BVH mapping: units 'auto' needs left_hip, left_knee, left_ankle")
        bvh_leg = sum(float(np.linalg.norm(kp[b] - kp[a], axis=-1).mean()) for a, b in leg)
        units = float(rest[skeleton.index("left_knee")] + rest[skeleton.index("left_ankle")])
        units /= max(bvh_leg, 1e-9)
    kp = {k: v * float(units) for k, v in kp.items()}
    kp_rest = {k: v * float(units) for k, v in kp_rest.items()}

    offsets = skeleton.rest_offsets
    glob = positions_to_globals(skeleton, kp, offsets)
    rest_glob = positions_to_globals(skeleton, kp_rest, offsets)[0]
    index = {n: k for k, n in enumerate(bvh.names)}
    for name, joint in (m.get("orientation") or {}).items():
        if joint not in index:
            raise InputError(f"BVH mapping: no joint {joint!r} in the file")
        k = skeleton.index(name)
        glob[:, k] = conv @ rot[:, index[joint]] @ conv.T @ rest_glob[k]
    local = glob.copy()
    for k in range(skeleton.num_keypoints):
        p = skeleton.parents[k]
        if p >= 0:
            local[:, k] = np.swapaxes(glob[:, p], 1, 2) @ glob[:, k]
    lengths, scale = rest.copy(), []
    for k, p in enumerate(skeleton.parents):
        a, b = skeleton.keypoints[k], skeleton.keypoints[max(p, 0)]
        if p >= 0 and a in kp and b in kp:
            lengths[k] = float(np.linalg.norm(kp[a] - kp[b], axis=-1).mean())
            scale.append(lengths[k] / max(rest[k], 1e-9))
    s = float(np.median(scale)) if scale else 1.0
    for k, p in enumerate(skeleton.parents):
        if p >= 0 and not (skeleton.keypoints[k] in kp and skeleton.keypoints[p] in kp):
            lengths[k] = rest[k] * s
    root = skeleton.keypoints[skeleton.parents.index(-1)]
    if root not in kp:
        raise InputError(f"BVH mapping: the root keypoint {root!r} must be mapped")
    return {"rotations": local, "bone_lengths": lengths, "root": kp[root], "fps": bvh.fps}


def _mapped(keypoints: dict, names: list[str], pos: np.ndarray, ends: dict,
            conv: np.ndarray) -> dict[str, np.ndarray]:
    """{keypoint: (T, 3)} positions of the mapped BVH joints in body-frame axes."""
    index = {n: k for k, n in enumerate(names)}
    out = {}
    for key, spec in keypoints.items():
        got = []
        for s in spec if isinstance(spec, list) else [spec]:
            name, _, end = str(s).partition("/")
            if name not in index:
                raise InputError(f"BVH mapping: no joint {name!r} in the file; joints: "
                                 f"{', '.join(names)}")
            j = index[name]
            if end and j not in ends:
                raise InputError(f"BVH mapping: joint {name!r} has no end site")
            got.append(ends[j] if end else pos[:, j])
        out[key] = np.mean(got, axis=0) @ conv.T
    return out


class BVHPoseSource:
    """Motion capture as a pose source, with the interface of
    :class:`training.poses.ProceduralPoseSource` (``sample``, ``sequence``).

    Args:
        paths: one BVH file or several.
        skeleton: the target skeleton (HUMAN by default).
        mapping: YAML path, dict or None (:data:`DEFAULT_MAPPING`).
        limbs: random proportions for ``sample`` (paper 5.2); ``sequence`` keeps the
            mocap's own unless given ``bone_lengths``.
    """

    def __init__(self, paths: str | Path | list, skeleton: Skeleton = HUMAN,
                 mapping: dict | str | Path | None = None, limbs: LimbLengths | None = None):
        paths = [paths] if isinstance(paths, str | Path) else list(paths)
        if not paths:
            raise InputError("BVHPoseSource: no BVH files given")
        self.skeleton, self.limbs = skeleton, limbs
        self.clips = []
        for path in paths:
            out = retarget(load_bvh(path), skeleton, mapping)
            rot = torch.as_tensor(out["rotations"], dtype=torch.float32)
            self.clips.append({"name": Path(path).stem, "euler": matrix_to_euler(rot),
                               "lengths": torch.as_tensor(out["bone_lengths"],
                                                          dtype=torch.float32),
                               "root": torch.as_tensor(out["root"], dtype=torch.float32),
                               "fps": float(out["fps"])})
        self.activities = [c["name"] for c in self.clips]
        self._sizes = torch.tensor([len(c["euler"]) for c in self.clips])

    @property
    def num_frames(self) -> int:
        return int(self._sizes.sum())

    def sample(self, batch: int, seed: int | torch.Generator | None = None,
               device: torch.device | str = "cpu",
               bone_lengths: torch.Tensor | None = None) -> PoseBatch:
        """B random mocap frames, random heading and random proportions (see
        :func:`training.poses.sample_poses` for the fields)."""
        g = _generator(seed)
        clip = torch.multinomial(self._sizes.float(), batch, replacement=True, generator=g)
        euler = torch.zeros(batch, self.skeleton.num_keypoints, 3)
        for k in clip.unique().tolist():
            idx = torch.nonzero(clip == k).flatten()
            frames = torch.randint(int(self._sizes[k]), (len(idx),), generator=g)
            euler[idx] = self.clips[k]["euler"][frames]
        euler = self._turn(euler, 2 * torch.pi * torch.rand(batch, generator=g))
        if bone_lengths is None:
            bone_lengths = random_bone_lengths(self.skeleton, batch, self.limbs, g)
        placed = place_poses(self.skeleton, euler, bone_lengths.float().cpu(),
                             torch.zeros(batch), torch.zeros(batch, dtype=torch.bool))
        return PoseBatch(placed["rotations"], euler, bone_lengths.float().cpu(),
                         placed["joints"], [self.activities[k] for k in clip.tolist()],
                         placed["seat"]).to(device)

    def _turn(self, euler: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
        root = self.skeleton.parents.index(-1)
        zero = torch.zeros_like(yaw)
        r = euler_to_matrix(torch.stack([zero, yaw, zero], -1)) @ euler_to_matrix(euler[:, root])
        euler = euler.clone()
        euler[:, root] = matrix_to_euler(r)
        return euler

    def sequence(self, frames: int, fps: float = 25.0, seed: int | torch.Generator | None = None,
                 activity: str | None = None, device: torch.device | str = "cpu",
                 bone_lengths: torch.Tensor | None = None) -> PoseSequence:
        """T frames resampled at ``fps`` from a clip (``activity`` = file stem, else random),
        from a random start, looping; the root follows the mocap trajectory."""
        g = _generator(seed)
        k = (self.activities.index(activity) if activity is not None
             else int(torch.randint(len(self.clips), (1,), generator=g)))
        clip = self.clips[k]
        n = len(clip["euler"])
        start = float(torch.rand(1, generator=g)) * n
        src = (start + torch.arange(frames) * clip["fps"] / fps).long() % n
        lengths = clip["lengths"] if bone_lengths is None else torch.as_tensor(
            bone_lengths, dtype=torch.float32).reshape(-1)
        lengths = lengths[None].expand(frames, -1).clone()
        euler = clip["euler"][src]
        placed = place_poses(self.skeleton, euler, lengths, torch.zeros(frames),
                             torch.zeros(frames, dtype=torch.bool))
        travel = clip["root"][src] - clip["root"][src[0]]
        travel[:, 1] = 0.0
        return PoseSequence(placed["rotations"], euler, lengths, placed["joints"] + travel[:, None],
                            [clip["name"]] * frames, placed["seat"], fps=float(fps)).to(device)
