"""The analysis-by-synthesis pose model (paper, Figure 1 and Section 4), read top to bottom:

    x (B,3,H,W) --SkeletonImageEncoder--> y (B,C,H,W)           multi-channel skeleton image
    y --KeypointHead--> p2d (B,J,2), confidence (B,J)            soft-argmax, normalized coords
    p2d --Uplift--> p3d (B,J,3) camera frame, rotations (B,J,6)  Martinez MLP + solved depth
    p3d --PerspectiveCamera(fov 62)--> p2d_reproj (B,J,2)
    p2d, p2d_reproj --render_skeleton_image--> y_2d, y_3d        Eq. 1, analytic
    (y_3d, appearance) --ImageRenderer--> x_hat (B,3,H,W)         appearance: another frame

Images are RGB floats in [0, 1] of exactly ``config.input_size``; the model normalizes
them itself. The discriminators are not part of the model (the training builds them
with :func:`build_discriminators`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from core.camera import PerspectiveCamera
from core.errors import InputError, check_shape
from core.models.config import ModelConfig
from core.models.discriminator import MultiScaleDiscriminator
from core.models.encoder import build_encoder
from core.models.keypoints import KeypointHead
from core.models.renderer import ImageRenderer
from core.models.uplift import Uplift
from core.skeleton import load_skeleton
from core.skeleton_image import SkeletonImage


@dataclass
class AbsPoseOutput:
    """Named outputs of :class:`AbsPoseModel`; :meth:`AbsPoseModel.predict` fills only
    the first five (the others are None).

    Attributes:
        skeleton_image: (B, C, H, W) predicted skeleton image y, in [0, 1].
        keypoints: (B, J, 2) 2D keypoints, normalized [-1, 1] (x right, y down).
        confidence: (B, J) in [0, 1], see :mod:`core.models.keypoints`.
        keypoints_3d: (B, J, 3) joint positions in the camera frame (OpenCV axes), metres.
        rotations: (B, J, 6) global joint orientations in the camera frame, 6D.
        skeleton_image_2d: (B, C, H, W) analytic skeleton image of ``keypoints``.
        skeleton_image_3d: (B, C, H, W) analytic skeleton image of the reprojected
            ``keypoints_3d``.
        reconstruction: (B, 3, H, W) the re-rendered input image, RGB in [0, 1].
    """

    skeleton_image: torch.Tensor
    keypoints: torch.Tensor
    confidence: torch.Tensor
    keypoints_3d: torch.Tensor
    rotations: torch.Tensor
    skeleton_image_2d: torch.Tensor | None = None
    skeleton_image_3d: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None

    def detach(self) -> AbsPoseOutput:
        """A copy with every tensor detached."""
        return AbsPoseOutput(**{f.name: None if getattr(self, f.name) is None
                                else getattr(self, f.name).detach() for f in fields(self)})


class AbsPoseModel(nn.Module):
    """The five components of the paper's Figure 1, composed.

    Attributes:
        config: the :class:`ModelConfig` it was built from.
        skeleton: the :class:`core.skeleton.Skeleton`.
        layout: the skeleton image's channel layout, e.g. ``"5ch"``.
        input_size: (H, W) of the images it takes and the skeleton images it makes.
        camera: the fixed perspective camera of the reprojection.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        config = ModelConfig() if config is None else config
        self.config = config
        self.skeleton = load_skeleton(config.skeleton)
        self.layout = config.layout
        num_channels = self.skeleton.num_channels(self.layout)  # checks the layout exists
        self.input_size = (int(config.input_size[0]), int(config.input_size[1]))
        self.camera = PerspectiveCamera(self.input_size, config.fov_deg)

        self.encoder = build_encoder(num_channels, config.encoder.backbone,
                                     config.encoder.widths, config.encoder.blocks)
        kp = config.keypoints
        self.keypoint_head = KeypointHead(self.skeleton, self.layout, kp.widths, kp.blocks,
                                          kp.confidence_sigma)
        up = config.uplift
        self.uplift = Uplift(self.skeleton, self.camera, up.hidden, up.blocks, up.dropout,
                             up.min_depth)
        self.skeleton_image = SkeletonImage(self.skeleton, self.layout, self.input_size,
                                            config.gamma)
        self.renderer = ImageRenderer(num_channels, config.renderer.widths,
                                      config.renderer.kind)

    def load_pretrained(self) -> None:
        """Load what a fresh model starts from besides random weights: the ImageNet
        features of an ``efficientnet_lite0`` encoder (nothing for the UNet)."""
        if hasattr(self.encoder, "load_pretrained"):
            self.encoder.load_pretrained()

    @property
    def num_channels(self) -> int:
        return self.skeleton_image.num_channels

    def check_image(self, image: torch.Tensor, name: str = "image") -> None:
        """Raise unless ``image`` is a float (B, 3, H, W) tensor of the input size."""
        if not isinstance(image, torch.Tensor) or not image.is_floating_point():
            kind = image.dtype if isinstance(image, torch.Tensor) else type(image).__name__
            raise InputError(f"{name}: expected a float tensor, RGB in [0, 1], got {kind}")
        check_shape(name, image.shape, ("B", 3, *self.input_size))

    def reproject(self, keypoints_3d: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) camera-frame positions -> (B, J, 2) normalized image coordinates."""
        return self.camera.project_normalized(keypoints_3d)

    def _pose(self, image: torch.Tensor) -> AbsPoseOutput:
        self.check_image(image)
        y = self.encoder(image)  # (B, C, H, W)
        p2d, confidence = self.keypoint_head(y)  # (B, J, 2), (B, J)
        p3d, rotations = self.uplift(p2d)  # (B, J, 3), (B, J, 6)
        return AbsPoseOutput(y, p2d, confidence, p3d, rotations)

    def forward(self, image: torch.Tensor, appearance: torch.Tensor) -> AbsPoseOutput:
        """Everything, for training: image and appearance (B, 3, H, W) RGB in [0, 1]."""
        self.check_image(appearance, "appearance")
        out = self._pose(image)
        out.skeleton_image_2d = self.skeleton_image(out.keypoints)
        out.skeleton_image_3d = self.skeleton_image(self.reproject(out.keypoints_3d))
        condition = (out.skeleton_image_3d if self.config.renderer.render_from == "3d"
                     else out.skeleton_image_2d)
        out.reconstruction = self.renderer(condition, appearance)
        return out

    def predict(self, image: torch.Tensor) -> AbsPoseOutput:
        """Only what inference needs (encoder, keypoint head, uplift), without autograd.

        Uses the model's current mode: call ``model.eval()`` first (``load_model``
        returns models in eval mode).
        """
        with torch.inference_mode():
            return self._pose(image)


def build_discriminators(config: ModelConfig) -> dict[str, MultiScaleDiscriminator]:
    """The two discriminators of the training: ``"image"`` (3 channels) and
    ``"skeleton"`` (the pose prior, C channels of the config's layout)."""
    d = config.discriminator
    channels = load_skeleton(config.skeleton).num_channels(config.layout)
    return {
        "image": MultiScaleDiscriminator(3, d.width, d.layers, d.num_scales),
        "skeleton": MultiScaleDiscriminator(channels, d.width, d.layers, d.num_scales),
    }
