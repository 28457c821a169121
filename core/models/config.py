"""The model's configuration: one typed dataclass per component, YAML presets.

    cfg = ModelConfig()                          # the default: human, 5ch, 128 x 128
    cfg = ModelConfig.preset("tiny")             # a very small model for tests
    cfg = from_dict(ModelConfig, {"layout": "3ch", "encoder": {"widths": [16, 32]}})

Everything a checkpoint needs to rebuild the architecture is in here (the checkpoint
stores ``to_dict(config)``); unknown keys are errors (core.config.from_dict).

The presets are YAML files in ``core/models/presets/`` (``default``, ``small``,
``imagenet``, ``tiny``), each listing only what differs from the defaults below. A
training preset's ``model`` section names one as ``base:`` (training/config.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.config import from_dict, load_preset, to_dict
from core.errors import ConfigError

PRESET_DIR = Path(__file__).with_name("presets")
"""The model presets: ``NAME.yaml``, what differs from :class:`ModelConfig`'s defaults."""


@dataclass
class UNetConfig:
    """The skeleton image encoder: by default a small UNet (a stride-2 stem, then one
    level per width, each halving the size).

    widths: channels per level, from the stem's resolution (H/2) down; for the
        ``efficientnet_lite0`` backbone the decoder's channels at H/2, H/4, H/8.
    blocks: 3x3 conv blocks per level, on the way down and on the way up (UNet only).
    backbone: ``"unet"`` or ``"efficientnet_lite0"`` (ImageNet features).
    """

    widths: tuple[int, ...] = (32, 48, 64, 96)
    blocks: int = 1
    backbone: Literal["unet", "efficientnet_lite0"] = "unet"


@dataclass
class KeypointHeadConfig:
    """The 2D pose estimator: skeleton image -> J heatmaps at H/2 -> soft-argmax.

    confidence_sigma: spread (normalized units) at which the heatmap half of the
        confidence is 0.5: ``sigma^2 / (sigma^2 + variance)``.
    """

    widths: tuple[int, ...] = (32, 48, 64, 96)
    blocks: int = 1
    confidence_sigma: float = 0.05


@dataclass
class UpliftConfig:
    """Martinez et al. 2017: linear(hidden), batch norm, ReLU, dropout, residual blocks."""

    hidden: int = 1024
    blocks: int = 2
    dropout: float = 0.5
    min_depth: float = 0.1  # metres: every joint is kept at least this far in front


@dataclass
class RendererConfig:
    """The image renderer: appearance encoder + decoder conditioned on the skeleton image.

    kind: ``"spade"`` (skeleton image modulates the decoder's normalization) or
        ``"concat"`` (skeleton image concatenated at every scale, KeypointGAN style).
    widths: appearance-encoder channels at H/2, H/4, H/8 (the decoder mirrors them).
    render_from: which analytic skeleton image conditions it: from the reprojected
        3D pose (the paper) or from the 2D keypoints.
    """

    kind: Literal["spade", "concat"] = "spade"
    widths: tuple[int, ...] = (48, 96, 192)
    render_from: Literal["3d", "2d"] = "3d"


@dataclass
class DiscriminatorConfig:
    """pix2pixHD patch discriminators at scales 1, 1/2, 1/4 (num_scales of them)."""

    width: int = 64
    layers: int = 3
    num_scales: int = 3


@dataclass
class ModelConfig:
    """Everything that fixes the architecture of :class:`core.models.AbsPoseModel`.

    skeleton: a built-in name (``"human"``, ``"quadruped"``), a YAML path, or the
        skeleton as data (``Skeleton.to_dict()``).
    layout: channel layout of the skeleton image (``"1ch"``, ``"3ch"``, ``"5ch"``, ...).
    input_size: (H, W) of the images the model takes, and of its skeleton images.
    gamma: sharpness of the skeleton image, Eq. 1 (normalized units).
    fov_deg: horizontal field of view of the fixed perspective camera (paper: 62).
    """

    skeleton: str | dict[str, Any] = "human"
    layout: str = "5ch"
    input_size: tuple[int, int] = (128, 128)
    gamma: float = 250.0
    fov_deg: float = 62.0
    encoder: UNetConfig = field(default_factory=UNetConfig)
    keypoints: KeypointHeadConfig = field(default_factory=KeypointHeadConfig)
    uplift: UpliftConfig = field(default_factory=UpliftConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def __post_init__(self) -> None:
        h, w = self.input_size
        levels = max(len(self.encoder.widths), len(self.keypoints.widths),
                     len(self.renderer.widths))
        step = 2 ** levels
        if self.encoder.backbone == "efficientnet_lite0":
            step = max(step, 16)
        if h % step or w % step:
            raise ConfigError(
                f"input_size {tuple(self.input_size)} must be divisible by {step} "
                f"(2 to the number of levels, {levels}), e.g. (128, 128)"
            )
        for name, widths in (("encoder.widths", self.encoder.widths),
                             ("keypoints.widths", self.keypoints.widths),
                             ("renderer.widths", self.renderer.widths)):
            if not widths or any(int(c) <= 0 for c in widths):
                raise ConfigError(f"{name}: expected positive channel counts, got {widths}")

    @classmethod
    def preset(cls, name: str | Path, **overrides: Any) -> ModelConfig:
        """A model preset (``"default"``, ``"small"``, ``"imagenet"``, ``"tiny"``: the
        files in ``core/models/presets/``) or a YAML file in their format; keyword
        arguments replace top-level fields, e.g. ``preset("tiny", layout="3ch")``."""
        cfg = from_dict(cls, model_preset_data(name))
        return dataclasses.replace(cfg, **overrides) if overrides else cfg

    @classmethod
    def tiny(cls, **overrides: Any) -> ModelConfig:
        """A very small model for tests: forward + backward of B=2 at 64 x 64 in well
        under a second on a laptop CPU."""
        return cls.preset("tiny", **overrides)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def model_preset_data(name: str | Path) -> dict[str, Any]:
    """A model preset's settings as plain data: only what differs from the defaults."""
    return load_preset(name, PRESET_DIR, kind="model preset")
