"""The 2D pose estimator: skeleton image (B,C,H,W) -> keypoints (B,J,2) and confidence (B,J).

A small UNet turns the skeleton image into one heatmap per keypoint at H/2; the
keypoint is the heatmap's expected position under a spatial softmax (soft-argmax,
differentiable, sub-pixel). The confidence in [0, 1] multiplies two checks:

* concentration: ``sigma^2 / (sigma^2 + variance)`` of the softmax distribution, so a
  single sharp peak gives ~1, a diffuse or two-peaked heatmap (e.g. unsure which wrist
  is the left one: the mean lands between the two) gives little;
* evidence: the skeleton image itself at the keypoint, the largest value among the
  channels holding a bone that ends at this keypoint. A keypoint placed where no
  matching bone is drawn (hidden, out of the image, or the encoder found no limb)
  gets little.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.camera import pixel_centers
from core.errors import check_shape
from core.models.encoder import UNet, conv_bn_relu
from core.skeleton import Skeleton


def soft_argmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected position and spread of a spatial softmax over each heatmap.

    Args:
        logits: (B, J, h, w) unnormalized heatmaps; pixel ``i`` of a ``w``-wide map has
            its centre at ``-1 + (2 i + 1) / w`` (normalized image coordinates).

    Returns:
        keypoints (B, J, 2) normalized (x, y) and variance (B, J): the expected squared
        distance from the mean, ``E|u - mean|^2``, in normalized units. Float32 for
        half-precision logits (a bfloat16 coordinate would be off by up to 0.1 px).
    """
    check_shape("soft_argmax logits", logits.shape, ("B", "J", "h", "w"))
    b, j, h, w = logits.shape
    work = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    prob = torch.softmax(work.reshape(b, j, h * w), dim=-1).view(b, j, h, w)
    xs, ys = pixel_centers((h, w), device=logits.device, dtype=prob.dtype)
    px = prob.sum(dim=2)  # (B, J, w): marginal over rows
    py = prob.sum(dim=3)  # (B, J, h)
    mx = (px * xs).sum(-1)
    my = (py * ys).sum(-1)
    var = (px * xs * xs).sum(-1) - mx * mx + (py * ys * ys).sum(-1) - my * my
    return torch.stack([mx, my], dim=-1), var.clamp_min(0.0)


def concentration(variance: torch.Tensor, sigma: float) -> torch.Tensor:
    """``sigma^2 / (sigma^2 + variance)``: 1 for a point mass, 0.5 at spread sigma."""
    s2 = float(sigma) ** 2
    return s2 / (s2 + variance)


def keypoint_channels(skeleton: Skeleton, layout: str) -> np.ndarray:
    """(J, C) boolean: channel c holds a bone that ends at keypoint j."""
    edge_ch = skeleton.edge_channel(layout)
    out = np.zeros((skeleton.num_keypoints, skeleton.num_channels(layout)), dtype=bool)
    for e, (a, b) in enumerate(skeleton.edges):
        out[a, edge_ch[e]] = out[b, edge_ch[e]] = True
    return out


def sample_evidence(skeleton_image: torch.Tensor, keypoints: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
    """The skeleton image at each keypoint, max over that keypoint's channels.

    Args:
        skeleton_image: (B, C, H, W) in [0, 1].
        keypoints: (B, J, 2) normalized (x, y); outside the image reads 0.
        mask: (J, C) boolean from :func:`keypoint_channels`.

    Returns:
        (B, J) in [0, 1].
    """
    grid = keypoints[:, :, None, :].to(skeleton_image.dtype)  # (B, J, 1, 2)
    values = F.grid_sample(skeleton_image, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)[..., 0]  # (B, C, J)
    values = values.transpose(1, 2)  # (B, J, C)
    return values.masked_fill(~mask, 0.0).amax(dim=-1).clamp(0.0, 1.0)


class KeypointHead(nn.Module):
    """skeleton image (B, C, H, W) -> keypoints (B, J, 2) normalized, confidence (B, J).

    Args:
        skeleton, layout: give J, C and which channels each keypoint belongs to.
        widths, blocks: the UNet, its first level at H/2.
        confidence_sigma: see :func:`concentration` (normalized units).
    """

    def __init__(self, skeleton: Skeleton, layout: str, widths: Sequence[int] = (32, 48, 64, 96),
                 blocks: int = 1, confidence_sigma: float = 0.05):
        super().__init__()
        self.num_keypoints = skeleton.num_keypoints
        self.num_channels = skeleton.num_channels(layout)
        self.confidence_sigma = float(confidence_sigma)
        self.stem = conv_bn_relu(self.num_channels, widths[0], stride=2)
        self.unet = UNet(widths[0], self.num_keypoints, widths, blocks)
        self.register_buffer("channel_mask",
                             torch.as_tensor(keypoint_channels(skeleton, layout)),
                             persistent=False)

    def heatmaps(self, skeleton_image: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, J, H/2, W/2) heatmap logits."""
        check_shape("KeypointHead skeleton_image", skeleton_image.shape,
                    ("B", self.num_channels, "H", "W"))
        return self.unet(self.stem(skeleton_image))

    def forward(self, skeleton_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keypoints, variance = soft_argmax(self.heatmaps(skeleton_image))
        evidence = sample_evidence(skeleton_image, keypoints, self.channel_mask)
        confidence = concentration(variance, self.confidence_sigma) * evidence
        return keypoints, confidence
