"""The analysis-by-synthesis model: its five components, the discriminators and the config.

    from core.models import AbsPoseModel, ModelConfig
    model = AbsPoseModel(ModelConfig())            # human, 5ch, 128 x 128
    out = model(image, appearance)                 # AbsPoseOutput, for training
    out = model.eval().predict(image)              # skeleton image, 2D/3D keypoints
"""

from core.models.abspose import AbsPoseModel, AbsPoseOutput, build_discriminators
from core.models.config import (
    DiscriminatorConfig,
    KeypointHeadConfig,
    ModelConfig,
    RendererConfig,
    UNetConfig,
    UpliftConfig,
)
from core.models.discriminator import MultiScaleDiscriminator, PatchDiscriminator
from core.models.encoder import SkeletonImageEncoder
from core.models.keypoints import KeypointHead, soft_argmax
from core.models.renderer import ImageRenderer
from core.models.uplift import Uplift, solve_translation

__all__ = [
    "AbsPoseModel",
    "AbsPoseOutput",
    "DiscriminatorConfig",
    "ImageRenderer",
    "KeypointHead",
    "KeypointHeadConfig",
    "ModelConfig",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "RendererConfig",
    "SkeletonImageEncoder",
    "UNetConfig",
    "Uplift",
    "UpliftConfig",
    "build_discriminators",
    "soft_argmax",
    "solve_translation",
]
