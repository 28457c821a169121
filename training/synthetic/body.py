"""Body models for the synthetic renderer: which capsules make a body, how thick they are,
which clothing region covers them, and which keypoints each one carries.

A body is a list of *parts*, each a tapered capsule (a sphere swept along a segment,
radius going linearly from ``ra`` to ``rb``) between two anchors. An anchor is a
keypoint plus an offset (metres at rest size) in the global frame of a joint, so a foot
follows the ankle's rotation and a head the neck's. Parts are data: the built-in
:data:`~core.skeleton.HUMAN` and :data:`~core.skeleton.QUADRUPED` have hand-made bodies;
any other skeleton gets one capsule per edge.

Clothing regions (indices into the appearance tables of ``training/synthetic_textures``):
each part is covered by region ``first`` for ``t < split`` along it and by ``second``
beyond, where ``split`` is chosen per subject (sleeve and trouser length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.skeleton import Skeleton
from training.poses import human as human_poses
from training.poses import quadruped as quadruped_poses

REGIONS = ("skin", "hair", "top", "bottom", "shoes", "coat2", "prop")
SKIN, HAIR, TOP, BOTTOM, SHOES, COAT2, PROP = range(len(REGIONS))


@dataclass(frozen=True)
class Part:
    """One capsule: anchors ``(keypoint, frame joint, offset)``, radii (m), regions,
    the kind of split (``sleeve``, ``trousers``, ``fixed``), and the keypoints it owns."""

    name: str
    a: tuple[str, str, tuple[float, float, float]]
    b: tuple[str, str, tuple[float, float, float]]
    ra: float
    rb: float
    first: int
    second: int
    split: str
    owns: tuple[str, ...]
    girth: str = "limb"


def _at(kp: str, frame: str | None = None, off=(0.0, 0.0, 0.0)):
    return (kp, frame or kp, tuple(float(v) for v in off))


def _human_parts() -> list[Part]:
    parts = [
        Part("head", _at("neck", "neck", (0, -0.085, -0.02)), _at("neck", "neck", (0, -0.15, 0.0)),
             0.098, 0.094, SKIN, SKIN, "fixed",
             ("neck", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear"),
             "head"),
        Part("neck", _at("thorax"), _at("neck", "neck", (0, -0.04, 0.0)), 0.055, 0.05,
             SKIN, SKIN, "fixed", ("neck",), "head"),
        Part("chest", _at("left_shoulder", "thorax", (-0.03, 0.02, 0.0)),
             _at("right_shoulder", "thorax", (0.03, 0.02, 0.0)), 0.085, 0.085, TOP, TOP,
             "fixed", ("thorax", "left_shoulder", "right_shoulder"), "torso"),
        Part("belly", _at("spine", "spine", (0, -0.06, 0.0)), _at("thorax", "thorax", (0, 0.07, 0)),
             0.125, 0.13, TOP, TOP, "fixed", ("spine", "thorax"), "torso"),
        Part("waist", _at("pelvis", "pelvis", (0, -0.04, 0)), _at("spine", "spine", (0, -0.02, 0)),
             0.12, 0.12, BOTTOM, TOP, "waist", ("pelvis", "spine"), "torso"),
        Part("hips", _at("left_hip", "pelvis", (-0.02, 0, 0.0)),
             _at("right_hip", "pelvis", (0.02, 0, 0.0)), 0.11, 0.11, BOTTOM, BOTTOM, "fixed",
             ("pelvis", "left_hip", "right_hip"), "torso"),
    ]
    for s in ("left", "right"):
        parts += [
            Part(f"{s}_upper_arm", _at(f"{s}_shoulder"), _at(f"{s}_elbow"), 0.052, 0.042,
                 TOP, SKIN, "upper_sleeve", (f"{s}_shoulder", f"{s}_elbow")),
            Part(f"{s}_forearm", _at(f"{s}_elbow"), _at(f"{s}_wrist"), 0.042, 0.032,
                 TOP, SKIN, "lower_sleeve", (f"{s}_elbow", f"{s}_wrist")),
            Part(f"{s}_hand", _at(f"{s}_wrist", f"{s}_wrist", (0, 0.025, 0)),
                 _at(f"{s}_wrist", f"{s}_wrist", (0, 0.085, 0.0)), 0.038, 0.034, SKIN, SKIN,
                 "fixed", (f"{s}_wrist",), "hand"),
            Part(f"{s}_thigh", _at(f"{s}_hip"), _at(f"{s}_knee"), 0.085, 0.058,
                 BOTTOM, SKIN, "upper_leg", (f"{s}_hip", f"{s}_knee")),
            Part(f"{s}_shin", _at(f"{s}_knee"), _at(f"{s}_ankle"), 0.056, 0.04,
                 BOTTOM, SKIN, "lower_leg", (f"{s}_knee", f"{s}_ankle")),
            Part(f"{s}_foot", _at(f"{s}_ankle", f"{s}_ankle", (0, 0.045, 0.03)),
                 _at(f"{s}_ankle", f"{s}_ankle", (0, 0.055, -0.14)), 0.042, 0.038, SHOES,
                 SHOES, "fixed", (f"{s}_ankle",), "hand"),
        ]
    return parts


def _quadruped_parts() -> list[Part]:
    c = COAT2
    parts = [
        Part("rump", _at("spine_base", "spine_base", (0, -0.01, 0.03)), _at("spine_mid"),
             0.11, 0.115, TOP, TOP, "fixed", ("spine_base", "spine_mid"), "torso"),
        Part("chest", _at("spine_mid"), _at("withers", "withers", (0, 0.03, -0.02)), 0.115,
             0.125, TOP, TOP, "fixed", ("spine_mid", "withers"), "torso"),
        Part("neck", _at("withers", "withers", (0, 0.0, -0.03)), _at("neck"), 0.08, 0.065,
             TOP, TOP, "fixed", ("withers", "neck"), "torso"),
        Part("head", _at("neck", "head", (0, -0.03, 0.0)), _at("head", "head", (0, 0.0, -0.02)),
             0.075, 0.078, TOP, TOP, "fixed", ("neck", "head", "left_ear", "right_ear"),
             "head"),
        Part("muzzle", _at("head", "head", (0, 0.01, -0.03)), _at("nose", "head", (0, 0, 0.01)),
             0.05, 0.032, c, c, "fixed", ("head", "nose"), "head"),
        Part("tail_base", _at("tail_base"), _at("tail_mid"), 0.03, 0.022, TOP, TOP, "fixed",
             ("tail_base", "tail_mid"), "tail"),
        Part("tail_tip", _at("tail_mid"), _at("tail_tip"), 0.022, 0.014, TOP, c, "tail_split",
             ("tail_mid", "tail_tip"), "tail"),
    ]
    for s in ("left", "right"):
        parts += [
            Part(f"{s}_ear", _at("head", "head", (0.035 if s == "left" else -0.035, -0.03, 0)),
                 _at(f"{s}_ear"), 0.028, 0.012, c, c, "fixed", (f"{s}_ear",), "head"),
            Part(f"{s}_front_upper", _at(f"{s}_front_shoulder"), _at(f"{s}_front_elbow"),
                 0.055, 0.038, TOP, TOP, "fixed", (f"{s}_front_shoulder", f"{s}_front_elbow")),
            Part(f"{s}_front_lower", _at(f"{s}_front_elbow"), _at(f"{s}_front_paw"), 0.034,
                 0.026, TOP, c, "lower_leg", (f"{s}_front_elbow", f"{s}_front_paw")),
            Part(f"{s}_front_paw", _at(f"{s}_front_paw", f"{s}_front_paw", (0, 0.0, 0.0)),
                 _at(f"{s}_front_paw", "withers", (0, 0.005, -0.045)), 0.03, 0.027, c, c,
                 "fixed", (f"{s}_front_paw",), "hand"),
            Part(f"{s}_back_upper", _at(f"{s}_back_hip"), _at(f"{s}_back_knee"), 0.07, 0.042,
                 TOP, TOP, "fixed", (f"{s}_back_hip", f"{s}_back_knee")),
            Part(f"{s}_back_lower", _at(f"{s}_back_knee"), _at(f"{s}_back_paw"), 0.036, 0.026,
                 TOP, c, "lower_leg", (f"{s}_back_knee", f"{s}_back_paw")),
            Part(f"{s}_back_paw", _at(f"{s}_back_paw", f"{s}_back_paw", (0, 0.0, 0.0)),
                 _at(f"{s}_back_paw", "spine_base", (0, 0.005, -0.045)), 0.03, 0.027, c, c,
                 "fixed", (f"{s}_back_paw",), "hand"),
        ]
    return parts


class BodyModel:
    """Index tables of a body's parts for one skeleton, ready for batched evaluation.

    Attributes:
        parts: the P parts; ``names`` their names.
        owners: (J, P) bool, part p carries keypoint j (visibility needs one of them
            on top at the keypoint's pixel).
        kind: ``"human"``, ``"quadruped"`` or ``"generic"``.
    """

    def __init__(self, skeleton: Skeleton, parts: list[Part], kind: str):
        self.skeleton = skeleton
        self.parts = parts
        self.kind = kind
        self.names = [p.name for p in parts]
        idx = skeleton.index
        self.a_kp = torch.tensor([idx(p.a[0]) for p in parts])
        self.a_frame = torch.tensor([idx(p.a[1]) for p in parts])
        self.a_off = torch.tensor([p.a[2] for p in parts], dtype=torch.float32)
        self.b_kp = torch.tensor([idx(p.b[0]) for p in parts])
        self.b_frame = torch.tensor([idx(p.b[1]) for p in parts])
        self.b_off = torch.tensor([p.b[2] for p in parts], dtype=torch.float32)
        self.radii = torch.tensor([[p.ra, p.rb] for p in parts], dtype=torch.float32)
        self.first = torch.tensor([p.first for p in parts])
        self.second = torch.tensor([p.second for p in parts])
        self.split_kind = [p.split for p in parts]
        self.girth_groups = sorted({p.girth for p in parts})
        self.girth = torch.tensor([self.girth_groups.index(p.girth) for p in parts])
        owners = np.zeros((skeleton.num_keypoints, len(parts)), dtype=bool)
        for k, p in enumerate(parts):
            for name in p.owns:
                owners[idx(name), k] = True
        self.owners = torch.as_tensor(owners)
        self.head_part = self.names.index("head") if "head" in self.names else -1

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    def endpoints(self, joints: torch.Tensor, glob: torch.Tensor,
                  scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Capsule end points.

        Args:
            joints: (B, J, 3) keypoints; glob: (B, J, 3, 3) global joint rotations in the
                same frame; scale: (B,) body size factor applied to the anchor offsets.

        Returns:
            a, b: (B, P, 3) in the frame of ``joints``.
        """
        dev = joints.device

        def anchor(kp, frame, off):
            rot = glob[:, frame.to(dev)]  # (B, P, 3, 3)
            o = (rot @ off.to(dev)[None, :, :, None])[..., 0] * scale[:, None, None]
            return joints[:, kp.to(dev)] + o

        return (anchor(self.a_kp, self.a_frame, self.a_off),
                anchor(self.b_kp, self.b_frame, self.b_off))


def _generic_parts(skeleton: Skeleton) -> list[Part]:
    lengths = skeleton.bone_lengths()
    span = float(np.ptp(skeleton.rest_offsets, axis=0).max()) if lengths.any() else 1.0
    parts = []
    for i, j in skeleton.edges:
        child = j if skeleton.parents[j] == i else i
        r = max(0.12 * float(lengths[child]), 0.02 * span, 1e-3)
        names = (skeleton.keypoints[i], skeleton.keypoints[j])
        parts.append(Part(f"{names[0]}-{names[1]}", _at(names[0]), _at(names[1]), r, 0.8 * r,
                          TOP, TOP, "fixed", names))
    return parts


def _human_extras() -> list[Part]:
    """Parts only the ``target`` style uses (a real domain gap): long hair down the back
    and a skirt; a subject without them gets zero radius."""
    return [
        Part("hair_back", _at("neck", "neck", (0, -0.13, 0.06)),
             _at("neck", "neck", (0, 0.03, 0.08)), 0.075, 0.06, HAIR, HAIR, "fixed", (), "extra"),
        Part("skirt", _at("pelvis", "pelvis", (0, -0.06, 0.0)),
             _at("pelvis", "pelvis", (0, 0.33, 0.0)), 0.14, 0.2, BOTTOM, BOTTOM, "fixed",
             ("pelvis", "left_hip", "right_hip"), "extra"),
    ]


def body_model(skeleton: Skeleton, extras: bool = False) -> BodyModel:
    """The body of a skeleton: hand-made for HUMAN and QUADRUPED, capsules per edge else.
    ``extras`` adds the target style's long hair and skirt to a human."""
    names = set(skeleton.keypoints)
    human = set(human_poses.REQUIRED) | {"head_top", "nose", "left_eye", "right_eye",
                                         "left_ear", "right_ear"}
    quad = set(quadruped_poses.REQUIRED) | {"nose", "tail_tip", "left_ear", "right_ear",
                                            "left_front_paw", "right_front_paw",
                                            "left_back_paw", "right_back_paw"}
    if human <= names:
        return BodyModel(skeleton, _human_parts() + (_human_extras() if extras else []), "human")
    if quad <= names:
        return BodyModel(skeleton, _quadruped_parts(), "quadruped")
    return BodyModel(skeleton, _generic_parts(skeleton), "generic")
