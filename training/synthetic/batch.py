"""What the synthetic renderers return: :class:`RenderOutput` (one render) and
:class:`SyntheticBatch` (a render's images with every label), and :func:`to_batch`
between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from core.camera import (
    PerspectiveCamera,
    matrix_to_rotation_6d,
    pixel_to_normalized,
)
from core.skeleton import Skeleton
from training.poses import PoseBatch


@dataclass
class SyntheticBatch:
    """One batch of synthetic samples (B images of H x W) and their labels.

    ``image`` (B, 3, H, W) RGB in [0, 1]; ``appearance`` (B, 3, H, W) the same subject in
    the same environment, another pose (``partner_*`` its labels); ``keypoints_2d``
    (B, J, 2) normalized [-1, 1]; ``keypoints_px`` (B, J, 2) pixels; ``visibility`` (B, J)
    bool; ``keypoints_3d`` (B, J, 3) camera frame, metres; ``rotations`` (B, J, 3, 3)
    local joint rotations, the root's in the camera frame (forward kinematics of these
    with ``bone_lengths`` (B, J) from ``keypoints_3d[:, root]`` gives ``keypoints_3d``);
    ``rotations_6d`` (B, J, 6) the same as 6D; ``intrinsics`` (B, 3, 3); ``activity``
    B names; ``subject`` / ``environment`` (B,) int64 ids (``target``: index into the
    stream's subjects and into ``ENVIRONMENTS``; ``randomized``: a running number, each
    sample being its own subject and place); ``part_mask`` (B, H, W) int16 index into
    ``part_names``, -1 on background and props.
    """

    image: torch.Tensor
    keypoints_2d: torch.Tensor
    keypoints_px: torch.Tensor
    visibility: torch.Tensor
    keypoints_3d: torch.Tensor
    rotations: torch.Tensor
    rotations_6d: torch.Tensor
    bone_lengths: torch.Tensor
    intrinsics: torch.Tensor
    activity: list[str]
    subject: torch.Tensor
    environment: torch.Tensor
    part_mask: torch.Tensor
    part_names: list[str]
    appearance: torch.Tensor | None = None
    partner_keypoints_2d: torch.Tensor | None = None
    partner_keypoints_px: torch.Tensor | None = None
    partner_visibility: torch.Tensor | None = None
    partner_keypoints_3d: torch.Tensor | None = None
    partner_activity: list[str] | None = None

    def __len__(self) -> int:
        return self.image.shape[0]

    def to(self, device: torch.device | str) -> SyntheticBatch:
        return SyntheticBatch(**{f.name: (getattr(self, f.name).to(device)
                                          if isinstance(getattr(self, f.name), torch.Tensor)
                                          else getattr(self, f.name)) for f in fields(self)})


@dataclass
class RenderOutput:
    """What the renderers return (:func:`~training.synthetic.render_capsules.render`,
    :func:`~training.synthetic.render_mesh.render_mesh`): ``image`` (B, 3, H, W),
    ``keypoints_3d`` (B, J, 3), ``keypoints_px`` (B, J, 2), ``visibility`` (B, J),
    ``part_mask`` (B, H, W), ``root_rotation`` (B, 3, 3) the root's rotation in the
    camera frame."""

    image: torch.Tensor
    keypoints_3d: torch.Tensor
    keypoints_px: torch.Tensor
    visibility: torch.Tensor
    part_mask: torch.Tensor
    root_rotation: torch.Tensor


def to_batch(skeleton: Skeleton, camera: PerspectiveCamera, poses: PoseBatch,
             out: RenderOutput, subject: torch.Tensor, environment: torch.Tensor,
             part_names: list[str]) -> SyntheticBatch:
    """Labels of a render as a :class:`SyntheticBatch` (no partner)."""
    bsz = len(poses)
    dev = out.image.device
    rot = poses.rotations.clone()
    root = skeleton.parents.index(-1)
    rot[:, root] = out.root_rotation
    k = torch.as_tensor(camera.intrinsics, dtype=torch.float32, device=dev).expand(bsz, 3, 3)
    return SyntheticBatch(
        image=out.image, keypoints_2d=pixel_to_normalized(out.keypoints_px, camera.size),
        keypoints_px=out.keypoints_px, visibility=out.visibility, keypoints_3d=out.keypoints_3d,
        rotations=rot, rotations_6d=matrix_to_rotation_6d(rot), bone_lengths=poses.bone_lengths,
        intrinsics=k.clone(), activity=list(poses.activity), subject=subject.to(dev),
        environment=environment.to(dev), part_mask=out.part_mask, part_names=part_names)
