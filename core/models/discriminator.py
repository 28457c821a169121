"""Multi-scale patch discriminators (pix2pixHD, Wang et al. 2018) for the LSGAN losses.

One is trained on images (real frames vs reconstructions), one on skeleton images
(analytic skeleton images of unpaired poses vs the encoder's predictions: the pose
prior). Each returns, for every scale, the intermediate features (for the feature
matching loss) followed by the patch predictions.
"""

from __future__ import annotations

import torch
from torch import nn

from core.errors import check_shape


class PatchDiscriminator(nn.Module):
    """pix2pixHD's N-layer patch discriminator with its intermediate features.

    4x4 convs: ``layers`` with stride 2 (channels width, 2 width, ... up to 512), one
    with stride 1, then a 1-channel prediction map; leaky ReLU 0.2 and instance norm
    (not on the first layer).

    Args:
        in_channels: 3 for images, C for skeleton images.
        width: channels of the first layer.
        layers: number of stride-2 layers.
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        blocks = [nn.Sequential(nn.Conv2d(in_channels, width, 4, stride=2, padding=2),
                                nn.LeakyReLU(0.2, inplace=True))]
        prev = width
        for n in range(1, layers + 1):
            c = min(width * 2 ** n, 512)
            stride = 2 if n < layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(prev, c, 4, stride=stride, padding=2),
                                        nn.InstanceNorm2d(c), nn.LeakyReLU(0.2, inplace=True)))
            prev = c
        blocks.append(nn.Sequential(nn.Conv2d(prev, 1, 4, stride=1, padding=2)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, in, H, W) -> [features of each block ..., prediction (B, 1, h, w)]."""
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


class MultiScaleDiscriminator(nn.Module):
    """Patch discriminators at scales 1, 1/2, 1/4 (``num_scales`` of them).

    ``forward(x)`` returns one list per scale (finest first) of
    ``[feature_1, ..., feature_L, prediction]``, as
    :func:`training.losses.lsgan_generator_loss` and
    :func:`training.losses.feature_matching_loss` expect.
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, num_scales: int = 3):
        super().__init__()
        self.in_channels = int(in_channels)
        self.scales = nn.ModuleList(PatchDiscriminator(in_channels, width, layers)
                                    for _ in range(num_scales))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        check_shape("MultiScaleDiscriminator input", x.shape, ("B", self.in_channels, "H", "W"))
        outputs = []
        for k, disc in enumerate(self.scales):
            if k > 0:
                x = self.downsample(x)
            outputs.append(disc(x))
        return outputs
