"""The perceptual loss of Eq. 2: VGG19 features of the image and of its reconstruction.

    loss = PerceptualLoss(PerceptualConfig())      # finds the VGG19 weights or falls back
    value = loss(image, reconstruction)            # (B, 3, H, W) RGB in [0, 1] -> scalar

The weights are the standard torchvision VGG19 checkpoint (``vgg19-dcbb9e9d.pth``),
read as a plain state dict with ``torch.load(weights_only=True)``: torchvision is never
imported and nothing is ever downloaded. They are looked for at
``PerceptualConfig.vgg19_path`` when given, else in the torch hub cache
(``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``). Where they
are absent, a fallback is used with a logged warning; which fallback is the default was
decided by measurement on the reconstruction task (``benchmarks/renderer_choice.py
--losses``, docs/RESULTS.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CheckpointError, ConfigError
from core.models.efficientnet import EfficientNetLite0
from core.models.encoder import IMAGE_MEAN, IMAGE_STD

log = logging.getLogger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's vgg19 "features": channels per conv, "M" for a 2x2 max pool
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
DEFAULT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
FALLBACKS = ("efficientnet", "random_vgg", "pyramid_l1", "l1_ssim", "l1")


def vgg19_layer_indices() -> dict[str, int]:
    """Name (``relu3_1``, ``conv4_2``, ``pool2``) -> index in torchvision's ``features``."""
    names, block, conv, index = {}, 1, 1, 0
    for item in _VGG19_CFG:
        if item == "M":
            names[f"pool{block}"] = index
            index += 1
            block, conv = block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return names


@dataclass
class PerceptualConfig:
    """Where the VGG19 weights are, which layers to compare, and the fallback.

    vgg19_path: the torchvision ``vgg19-dcbb9e9d.pth`` file; None: look in the torch hub
        cache. A path that does not exist is an error (not a silent fallback).
    layers: VGG19 layers whose features are compared (Eq. 2), averaged.
    fallback: used when no weights are found: ``efficientnet`` (ImageNet features of
        EfficientNet-Lite0, which its package ships, at strides 2, 4, 8 and 16, compared
        as Eq. 2 compares VGG19's; as good as ``l1_ssim`` for the pose in the
        measurement, worse images, slower), ``random_vgg`` (the same network with
        fixed random weights), ``pyramid_l1`` (L1 over a Laplacian pyramid), ``l1_ssim``
        (0.16 L1 + 0.84 (1 - SSIM), Zhao et al. 2017, the default: it gave the pose the
        most useful gradient and the best SSIM in the measurement) or ``l1``.
    """

    vgg19_path: str | None = None
    layers: tuple[str, ...] = DEFAULT_LAYERS
    fallback: Literal["random_vgg", "pyramid_l1", "l1_ssim", "l1"] = "l1_ssim"


class EfficientNetFeatures(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> EfficientNet-Lite0's ImageNet features at strides
    2, 4, 8 and 16 (its first 11 blocks), fixed."""

    def __init__(self):
        super().__init__()

        self.net = EfficientNetLite0(pretrained=True, num_blocks=11)
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return self.net.features(image, upto=10)


class VGG19Features(nn.Module):
    """(B, 3, H, W) RGB in [0, 1] -> [features at each requested layer].

    The module keeps torchvision's ``features.N`` parameter names, so torchvision's
    state dict loads into it directly (up to the deepest requested layer).
    """

    def __init__(self, layers: tuple[str, ...] = DEFAULT_LAYERS):
        super().__init__()
        index = vgg19_layer_indices()
        unknown = [name for name in layers if name not in index]
        if unknown or not layers:
            raise ConfigError(f"unknown VGG19 layer(s) {unknown}; known: {', '.join(index)}")
        self.taps = sorted(index[name] for name in layers)
        modules: list[nn.Module] = []
        cin = 3
        for item in _VGG19_CFG:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU(inplace=False)]
                cin = item
        self.features = nn.Sequential(*modules[: self.taps[-1] + 1])
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def load_torchvision(self, path: str | Path) -> None:
        """Load torchvision's VGG19 checkpoint (only the layers this module has)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(f"cannot read VGG19 weights {path}: {err}") from None
        own = self.state_dict()
        wanted = {k: v for k, v in state.items() if k in own}
        missing = sorted(set(own) - set(wanted))
        if missing:
            raise CheckpointError(
                f"{path} is not torchvision's VGG19 checkpoint: no {missing[0]} "
                f"({len(missing)} weights missing)"
            )
        self.load_state_dict(wanted)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean) / self.std
        out = []
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self.taps:
                out.append(x)
        return out


def find_vgg19_weights(path: str | Path | None = None) -> Path | None:
    """The VGG19 weights file: ``path`` (must exist), else the torch hub cache, else None."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"perceptual.vgg19_path: {path} does not exist")
        return path
    candidate = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    return candidate if candidate.is_file() else None


def feature_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Eq. 2: mean squared difference per layer, averaged over layers."""
    return torch.stack([F.mse_loss(f, r) for r, f in zip(real, fake, strict=True)]).mean()


def laplacian_pyramid(image: torch.Tensor, levels: int = 4) -> list[torch.Tensor]:
    """Band-pass levels (finest first) and the low-pass residual of a (B, C, H, W) image."""
    out, x = [], image
    for _ in range(levels - 1):
        low = F.avg_pool2d(x, 2, ceil_mode=True)
        up = F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
        out.append(x - up)
        x = low
    out.append(x)
    return out


def pyramid_l1(x: torch.Tensor, y: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """L1 between Laplacian pyramids, level k weighted by 2^k (Bojanowski et al. 2018)."""
    px, py = laplacian_pyramid(x, levels), laplacian_pyramid(y, levels)
    return sum(2.0 ** k * F.l1_loss(a, b) for k, (a, b) in enumerate(zip(px, py, strict=True)))


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Mean structural similarity of images in [0, 1] (box window, per channel)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, [pad] * 4, mode="reflect"), window, stride=1)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def l1_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.16 L1 + 0.84 (1 - SSIM), the mix of Zhao et al. 2017 (single scale here)."""
    return 0.16 * F.l1_loss(x, y) + 0.84 * (1.0 - ssim(x, y))


class PerceptualLoss(nn.Module):
    """``loss(image, reconstruction)`` -> scalar: Eq. 2 with VGG19 when its weights are
    found, else ``config.fallback`` (logged as a warning). ``kind`` says which."""

    def __init__(self, config: PerceptualConfig | None = None):
        super().__init__()
        config = config or PerceptualConfig()
        if config.fallback not in FALLBACKS:
            raise ConfigError(f"perceptual.fallback: expected one of {FALLBACKS}, "
                              f"got {config.fallback!r}")
        self.vgg: VGG19Features | EfficientNetFeatures | None = None
        weights = find_vgg19_weights(config.vgg19_path)
        if weights is not None:
            self.vgg = VGG19Features(tuple(config.layers))
            self.vgg.load_torchvision(weights)
            self.kind = "vgg19"
            log.info("perceptual loss: VGG19 features %s from %s", list(config.layers), weights)
        else:
            self.kind = config.fallback
            log.warning(
                "perceptual loss: no VGG19 weights (set perceptual.vgg19_path, or put %s in "
                "%s); using the %r fallback instead", VGG19_FILE,
                Path(torch.hub.get_dir()) / "checkpoints", config.fallback)
            if config.fallback == "efficientnet":
                self.vgg = EfficientNetFeatures()
            if config.fallback == "random_vgg":
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)  # the same fixed network in every run
                    self.vgg = VGG19Features(tuple(config.layers))
                    for m in self.vgg.modules():
                        if isinstance(m, nn.Conv2d):  # torchvision's VGG initialization
                            nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                                    nonlinearity="relu")
                            nn.init.zeros_(m.bias)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)  # a fixed loss network: always in eval mode

    def forward(self, image: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        if self.vgg is not None:
            with torch.no_grad():
                real = self.vgg(image)
            return feature_loss(real, self.vgg(reconstruction))
        if self.kind == "pyramid_l1":
            return pyramid_l1(reconstruction, image)
        if self.kind == "l1_ssim":
            return l1_ssim(reconstruction, image)
        return F.l1_loss(reconstruction, image)
