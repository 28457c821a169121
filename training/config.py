"""The training configuration: one typed dataclass, YAML presets, command-line overrides.

    cfg = load_config("cpu")                         # a preset: tiny, cpu, gpu, ...
    cfg = load_config("my.yaml", ["train.steps=500"])  # a file (on top of its ``base``)

The presets are YAML files in ``training/presets/``, each listing only what differs
from the defaults below. A YAML file may name a preset as ``base:`` and override only
what differs. Its ``model`` section may name a model preset (``core/models/presets/``:
default, small, imagenet, tiny) as ``base:``: the model then starts from that preset
instead of the model the file's ``base`` gives, e.g. ``model: {base: tiny}``. The three
stages share the model, data and synthetic settings and have their own section
(``pretrain``, ``train``, ``refine``) for steps, batch sizes, learning rates and loss
weights. Unknown keys are errors that name the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.config import apply_overrides, from_dict, load_preset, merge, to_dict
from core.config import preset_names as preset_names_in
from core.models.config import PRESET_DIR as MODEL_PRESET_DIR
from core.models.config import ModelConfig
from training.losses import LossWeights
from training.perceptual import PerceptualConfig
from training.prior import PriorConfig

PRESET_DIR = Path(__file__).with_name("presets")


@dataclass
class DataConfig:
    """Real footage: frames are letterboxed to ``cache_size`` squares once, then cropped
    to the model size with random size (``crop_scale``: crop side over the frame's) and
    offset (``crop_offset``, fraction of the crop). Pairs are ``gap`` frames apart."""

    cache_size: int = 160
    stride: int = 1
    max_frames_per_video: int | None = None
    gap: tuple[int, int] = (5, 60)
    crop_scale: tuple[float, float] = (0.75, 1.15)
    crop_offset: float = 0.1
    cache_on_disk: bool = False


@dataclass
class SyntheticConfig:
    """Synthetic data: ``style`` (randomized or target), an optional folder of
    background pictures, the share of people in free poses (``free_poses``: any pose
    the joints allow), the share of batches of capsule people beside the mesh people
    (``capsule_share``), the share of people turned towards the camera (``facing``) and
    the range of the share of the image a subject's box spans (``fill``: [low, high]);
    None keeps the style's."""

    style: str = "randomized"
    background_folder: str | None = None
    free_poses: float | None = None
    capsule_share: float | None = None
    facing: float | None = None
    fill: list[float] | None = None


@dataclass
class StageConfig:
    """One training stage.

    steps: optimizer steps. batch_size: real (or, in pretraining, synthetic) samples per
    step. synthetic_batch_size: synthetic samples per step for the supervision of the
    real-data stages (0 switches it off). labels_batch_size: frames corrected by hand
    per step when the stage is given labels (``refine --labels``). lr_g / lr_d: Adam
    learning rates of the generator side (encoder, keypoint head, uplift, renderer) and
    the discriminators; betas: Adam's. grad_clip: the largest gradient norm (0: none).
    uplift_noise: std of the noise added to the true 2D keypoints when pretraining the
    uplift alone (normalized units), so it learns to take a pose estimator's output.
    keypoints_input: what the keypoint head reads in pretraining: ``"analytic"`` (the
    skeleton image of the true keypoints: the components trained independently, as in
    the paper) or ``"encoder"`` (the encoder's skeleton image of the picture, so the
    keypoint loss trains the image-to-keypoints path end to end, which is what
    prediction runs).
    prior_input: what the pose-prior discriminator judges in the real-data stages:
    ``"analytic"`` (the skeleton image drawn from the reprojected 3D pose, the one the
    renderer reads) or ``"predicted"`` (the encoder's skeleton image y, as in the paper's
    Eq. 5).
    skeleton_image_loss: how the encoder's skeleton image is compared with the true one
    on synthetic samples (``synthetic_skeleton_image``): ``"l2"`` (the paper's) or
    ``"bce"`` (binary cross-entropy against the analytic image as soft target).
    freeze_batchnorm: (on in ``train`` and ``refine``, off in ``pretrain``) the
    batch-norm layers of the pose path (encoder, keypoint head, uplift) normalize with
    the running statistics they came with and do not update them, so the stage trains
    the pose path as prediction runs it. A stage started from random weights (no
    ``--from``) has no statistics to keep and uses batch statistics. The renderer's and
    the discriminators' normalization are not affected.
    freeze_renderer: (real-data stages) the image renderer's weights stay as they came,
    so the reconstruction loss trains only the pose path, through a renderer that
    learned from true poses. Off by default, as in the paper. The renderer's
    normalization still uses batch statistics.
    lr_final_fraction / lr_final_factor: the last ``lr_final_fraction`` of the steps run
    at both learning rates times ``lr_final_factor`` (0 switches it off; ``train``
    defaults to the last 10 % at a quarter).
    log_every / snapshot_every / checkpoint_every: steps between logged losses, snapshot
    pictures and checkpoints. weights: the stage's loss weights.

    What the choices above were measured to do: docs/RESULTS.md, "Training settings:
    what each choice was measured to do".
    """

    steps: int = 1000
    batch_size: int = 16
    synthetic_batch_size: int = 8
    labels_batch_size: int = 2
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    grad_clip: float = 10.0
    uplift_noise: float = 0.01
    keypoints_input: Literal["analytic", "encoder"] = "analytic"
    prior_input: Literal["analytic", "predicted"] = "analytic"
    skeleton_image_loss: Literal["l2", "bce"] = "l2"
    freeze_batchnorm: bool = False
    freeze_renderer: bool = False
    lr_final_fraction: float = 0.0
    lr_final_factor: float = 0.25
    log_every: int = 25
    snapshot_every: int = 250
    checkpoint_every: int = 500
    weights: LossWeights = field(default_factory=LossWeights)


def _pretrain() -> StageConfig:
    return StageConfig(steps=20000, batch_size=32, weights=LossWeights(
        skeleton_gan=0.0, skeleton_image=0.0, image_gan=0.1, image_feature_matching=1.0))


def _train() -> StageConfig:
    return StageConfig(steps=20000, freeze_batchnorm=True, lr_final_fraction=0.1,
                       weights=LossWeights(synthetic_skeleton_image=10.0,
                                           synthetic_keypoints_2d=10.0,
                                           synthetic_keypoints_3d=1.0,
                                           synthetic_rotations=0.1))


def _refine() -> StageConfig:
    return StageConfig(steps=200, lr_g=5e-5, lr_d=5e-5, log_every=10, snapshot_every=50,
                       checkpoint_every=100, freeze_batchnorm=True, weights=LossWeights(
                           synthetic_skeleton_image=10.0, synthetic_keypoints_2d=10.0,
                           synthetic_keypoints_3d=1.0, synthetic_rotations=0.1))


@dataclass
class TrainConfig:
    """Everything a training run reads; written resolved into the run folder."""

    model: ModelConfig = field(default_factory=ModelConfig)
    perceptual: PerceptualConfig = field(default_factory=PerceptualConfig)
    data: DataConfig = field(default_factory=DataConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    pretrain: StageConfig = field(default_factory=_pretrain)
    train: StageConfig = field(default_factory=_train)
    refine: StageConfig = field(default_factory=_refine)
    device: str = "auto"
    seed: int = 0
    amp: bool = True
    channels_last: bool = True
    threads: int | None = None


def preset_names() -> list[str]:
    """The training presets (the files in ``training/presets/``)."""
    return preset_names_in(PRESET_DIR)


def load_config(preset_or_file: str | Path = "cpu", overrides: list[str] | tuple = ()
                ) -> TrainConfig:
    """A preset name or a YAML file (with an optional ``base: PRESET``), then overrides."""
    data = merge(to_dict(TrainConfig()), load_preset(
        preset_or_file, PRESET_DIR, kind="config preset", sections={"model": MODEL_PRESET_DIR}))
    cfg = from_dict(TrainConfig, data)
    return apply_overrides(cfg, list(overrides)) if overrides else cfg
