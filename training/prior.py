"""The pose prior's real samples (paper, Section 5.1): skeleton images of unpaired poses.

Poses come from a pose source (the procedural activities, or motion capture through
:class:`training.poses.bvh.BVHPoseSource`), with random limb lengths (5.2), seen by random
cameras and framed at random sizes and offsets like the crops of the real footage, then
drawn with Eq. 1 in the training layout. The pose-prior discriminator learns that these
are what skeleton images look like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from core.camera import PerspectiveCamera
from core.errors import InputError
from core.skeleton import Skeleton
from core.skeleton_image import render_skeleton_image
from training.data import SeededStream
from training.poses import ProceduralPoseSource
from training.poses.bvh import BVHPoseSource
from training.synthetic import camera_rotation, frame_subject


@dataclass
class PriorConfig:
    """How prior poses are seen.

    bvh: motion-capture files used as the pose source (empty: procedural activities).
    bvh_mapping: a joint-name mapping YAML for the BVH files (None: the built-in one).
    fill: fraction of the image the subject's extent covers, uniform (low, high).
    offset: shift of the subject's centre, as a fraction of the free margin.
    elevation_deg: camera elevation, uniform; azimuth is uniform over the full circle.
    roll_deg: standard deviation of the camera roll.
    """

    bvh: tuple[str, ...] = ()
    bvh_mapping: str | None = None
    fill: tuple[float, float] = (0.35, 0.95)
    offset: float = 0.6
    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    roll_deg: float = 4.0


def pose_source(skeleton: Skeleton, config: PriorConfig) -> Any:
    """The configured source: BVH files when given, else the procedural activities."""
    if config.bvh:
        return BVHPoseSource(list(config.bvh), skeleton, mapping=config.bvh_mapping)
    return ProceduralPoseSource(skeleton)


class PosePriorStream(SeededStream):
    """Endless batches of prior skeleton images (B, C, H, W) and their keypoints.

    Args:
        skeleton, layout, size, gamma: as the model's skeleton image.
        batch_size: B.
        device: where the images are made.
        config: how poses are seen (:class:`PriorConfig`).
        seed: fixes the stream.
        fov_deg: the camera's field of view (the model's).
    """

    def __init__(self, skeleton: Skeleton, layout: str, size: tuple[int, int], batch_size: int,
                 device: torch.device | str = "cpu", config: PriorConfig | None = None,
                 seed: int = 0, gamma: float = 250.0, fov_deg: float = 62.0):
        if batch_size <= 0:
            raise InputError(f"batch_size must be positive, got {batch_size}")
        self.skeleton = skeleton
        self.layout = layout
        self.size = (int(size[0]), int(size[1]))
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.config = config or PriorConfig()
        self.gamma = gamma
        self.camera = PerspectiveCamera(self.size, fov_deg)
        self.source = pose_source(skeleton, self.config)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __next__(self) -> torch.Tensor:
        return self.sample()[0]

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(skeleton images (B, C, H, W), keypoints (B, J, 2) normalized)."""
        b, g, cfg = self.batch_size, self.generator, self.config
        poses = self.source.sample(b, g)
        u = torch.rand(b, 6, generator=g)
        azimuth = u[:, 0] * 2 * math.pi
        lo, hi = (math.radians(v) for v in cfg.elevation_deg)
        elevation = lo + (hi - lo) * u[:, 1]
        roll = torch.randn(b, generator=g) * math.radians(cfg.roll_deg)
        rot = camera_rotation(azimuth, elevation, roll)
        fill = cfg.fill[0] + (cfg.fill[1] - cfg.fill[0]) * u[:, 2]
        offset = (u[:, 3:5] * 2 - 1) * cfg.offset
        cam = frame_subject(poses.joints, rot, self.camera.focal, self.size, fill, offset)
        points = (cam.rot[:, None] @ poses.joints[..., None])[..., 0] + cam.trans[:, None]
        keypoints = self.camera.project_normalized(points).to(self.device)
        image = render_skeleton_image(keypoints, self.skeleton, self.layout, self.size,
                                      self.gamma)
        return image, keypoints
