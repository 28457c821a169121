"""The synthetic supervision every stage uses: the stream of synthetic samples a
configuration asks for, and what the supervised losses compare to (the analytic
skeleton image of the true keypoints, the joints' orientations).
"""

from __future__ import annotations

import torch

from core.camera import forward_kinematics, matrix_to_rotation_6d
from core.errors import InputError
from core.models import AbsPoseModel
from core.skeleton_image import render_skeleton_image
from training.config import TrainConfig
from training.synthetic import SyntheticBatch, SyntheticStream, style_config


def synthetic_targets(model: AbsPoseModel, batch: SyntheticBatch, skeleton_image: bool = True
                      ) -> dict[str, torch.Tensor]:
    """What the supervised losses compare to: the analytic skeleton image of the true
    keypoints (unless ``skeleton_image`` is False), and the true joints' global
    orientations in the camera frame (6D)."""
    _, glob = forward_kinematics(model.skeleton, batch.rotations, batch.bone_lengths)
    out = {"rotations": matrix_to_rotation_6d(glob)}
    if skeleton_image:
        out["skeleton_image"] = render_skeleton_image(batch.keypoints_2d, model.skeleton,
                                                      model.layout, model.input_size,
                                                      model.config.gamma)
    return out


def synthetic_stream(cfg: TrainConfig, model: AbsPoseModel, batch_size: int, device,
                     seed: int, with_appearance: bool = True, images: bool = True
                     ) -> SyntheticStream:
    c = cfg.synthetic
    fill = None
    if c.fill is not None:
        if len(c.fill) != 2 or not 0.0 < c.fill[0] <= c.fill[1] <= 1.5:
            raise InputError(f"synthetic.fill must be [low, high] with 0 < low <= high "
                             f"<= 1.5, got {c.fill}")
        fill = (float(c.fill[0]), float(c.fill[1]))
    changes = {k: v for k, v in (("background_folder", c.background_folder),
                                 ("free_poses", c.free_poses), ("fill", fill),
                                 ("capsule_share", c.capsule_share),
                                 ("facing", c.facing))
               if v is not None}
    style = style_config(c.style, **changes) if changes else c.style
    return SyntheticStream(style, model.skeleton, batch_size, model.input_size, device,
                           seed=seed, fov_deg=model.config.fov_deg,
                           with_appearance=with_appearance, images=images)
