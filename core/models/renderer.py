"""The image renderer: skeleton image (B,C,H,W) + appearance image (B,3,H,W) -> image (B,3,H,W).

The appearance image is another frame of the same subject (same person, same place,
another pose). An appearance encoder turns it into features at H/2, H/4 and H/8 and a
global vector; a decoder goes from H/8 back to H, taking at every scale the appearance
features and the target skeleton image (area-downsampled to that scale). Two ways of
conditioning the decoder on the skeleton image, chosen by ``kind``:

* ``"concat"``: the skeleton image is concatenated to the decoder's input at every
  scale, as in KeypointGAN's conditional generator (Jakab et al. 2018, 2020);
* ``"spade"``: the skeleton image sets a per-pixel scale and shift of every
  normalization layer of residual decoder blocks (SPADE, Park et al. 2019).

Both see the same information; ``benchmarks/renderer_choice.py`` compares them on a
reconstruction task (docs/RESULTS.md) and the default follows that measurement.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError, ShapeError, check_shape
from core.models.encoder import IMAGE_MEAN, IMAGE_STD, conv_bn_relu


def resize_skeleton_image(skeleton_image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Area-downsample (B, C, H, W) to ``size``: thin bones fade but never vanish."""
    if tuple(skeleton_image.shape[-2:]) == tuple(size):
        return skeleton_image
    return F.interpolate(skeleton_image, size=tuple(size), mode="area")


class AppearanceEncoder(nn.Module):
    """image (B, 3, H, W) in [0, 1] -> features [(B, widths[k], H/2^(k+1), W/2^(k+1))]
    and a global vector (B, widths[-1])."""

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.levels = nn.ModuleList()
        prev = 3
        for c in widths:
            self.levels.append(nn.Sequential(conv_bn_relu(prev, c, stride=2),
                                              conv_bn_relu(c, c)))
            prev = c

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = (image - self.mean) / self.std
        feats = []
        for level in self.levels:
            x = level(x)
            feats.append(x)
        return feats, x.mean(dim=(2, 3))


class ConcatBlock(nn.Module):
    """Concatenate the skeleton image, then two 3x3 conv blocks."""

    def __init__(self, cin: int, cout: int, label_channels: int):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(cin + label_channels, cout),
                                   conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([x, resize_skeleton_image(label, x.shape[-2:])], dim=1))


class SPADE(nn.Module):
    """Parameter-free batch norm, then a per-pixel scale and shift from the label map."""

    def __init__(self, channels: int, label_channels: int, hidden: int = 32):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1),
                                    nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        a = self.shared(resize_skeleton_image(label, x.shape[-2:]))
        return self.norm(x) * (1.0 + self.gamma(a)) + self.beta(a)


class SPADEBlock(nn.Module):
    """SPADE residual block: (SPADE, leaky ReLU, conv) twice, learned 1x1 shortcut."""

    def __init__(self, cin: int, cout: int, label_channels: int):
        super().__init__()
        hidden = min(cin, cout)
        self.norm0 = SPADE(cin, label_channels)
        self.conv0 = nn.Conv2d(cin, hidden, 3, padding=1)
        self.norm1 = SPADE(hidden, label_channels)
        self.conv1 = nn.Conv2d(hidden, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.conv0(F.leaky_relu(self.norm0(x, label), 0.2))
        h = self.conv1(F.leaky_relu(self.norm1(h, label), 0.2))
        return self.shortcut(x) + h


BLOCKS = {"concat": ConcatBlock, "spade": SPADEBlock}


class ImageRenderer(nn.Module):
    """(skeleton image (B, C, H, W), appearance (B, 3, H, W)) -> image (B, 3, H, W) in [0, 1].

    Args:
        num_channels: C of the skeleton image.
        widths: appearance-encoder channels at H/2, H/4, ...; the decoder mirrors them.
        kind: ``"spade"`` or ``"concat"`` (module docstring).
    """

    def __init__(self, num_channels: int, widths: Sequence[int] = (48, 96, 192),
                 kind: str = "spade"):
        super().__init__()
        if kind not in BLOCKS:
            raise InputError(f"renderer kind must be one of {list(BLOCKS)}, got {kind!r}")
        widths = [int(c) for c in widths]
        block = BLOCKS[kind]
        self.kind = kind
        self.num_channels = c = int(num_channels)
        self.appearance = AppearanceEncoder(widths)
        # deepest scale: appearance features + the global vector everywhere
        self.bottom = block(2 * widths[-1], widths[-1], c)
        self.ups = nn.ModuleList(
            block(widths[k + 1] + widths[k], widths[k], c) for k in range(len(widths) - 2, -1, -1)
        )
        self.top = block(widths[0], widths[0], c)  # at full resolution
        self.to_rgb = nn.Conv2d(widths[0], 3, 3, padding=1)

    def forward(self, skeleton_image: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:
        check_shape("ImageRenderer skeleton_image", skeleton_image.shape,
                    ("B", self.num_channels, "H", "W"))
        check_shape("ImageRenderer appearance", appearance.shape, ("B", 3, "H", "W"))
        if skeleton_image.shape[-2:] != appearance.shape[-2:] or \
                skeleton_image.shape[0] != appearance.shape[0]:
            raise ShapeError(
                f"ImageRenderer: skeleton_image {tuple(skeleton_image.shape)} and appearance "
                f"{tuple(appearance.shape)} must have the same batch size and H, W"
            )
        feats, code = self.appearance(appearance)
        x = feats[-1]
        x = self.bottom(torch.cat([x, code[:, :, None, None].expand_as(x)], dim=1),
                        skeleton_image)
        for block, skip in zip(self.ups, reversed(feats[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1), skeleton_image)
        x = F.interpolate(x, size=appearance.shape[-2:], mode="bilinear", align_corners=False)
        x = self.top(x, skeleton_image)
        return torch.sigmoid(self.to_rgb(x))
