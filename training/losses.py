"""Every training objective of Section 5.1, one small function each, and their weights.

The functions return unweighted scalars; the weights live in :class:`LossWeights`
(part of the training config) and are applied by :func:`weighted_sum`::

    perceptual = PerceptualLoss(cfg.perceptual)    # training/perceptual.py
    terms = {"perceptual": perceptual(image, out.reconstruction),
             "image_gan": gan, "image_feature_matching": fm, ...}
    loss = weighted_sum(terms, cfg.weights)

Discriminator outputs are what :class:`core.models.MultiScaleDiscriminator` returns:
one list per scale of ``[feature_1, ..., feature_L, prediction]``.

LSGAN (Mao et al. 2017) with the usual targets: real -> 1, fake -> 0 for the
discriminator, fake -> 1 for the generator. The paper's Eq. 3 and 5 write the
discriminator's targets the other way round (real -> 0, fake -> 1); that is the same
game with the labels swapped and trains identically.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.camera import rotation_6d_to_matrix
from core.errors import ConfigError, ShapeError, check_shape
from training.perceptual import PerceptualConfig, PerceptualLoss

__all__ = [
    "LossWeights",
    "PerceptualConfig",
    "PerceptualLoss",
    "analytic_skeleton_image_loss",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_adversarial_losses",
    "keypoints_2d_l2",
    "keypoints_3d_l2",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "rotations_l2",
    "skeleton_image_bce",
    "skeleton_image_l2",
    "skeleton_image_loss",
    "weighted_sum",
]

DiscOutputs = list[list[torch.Tensor]]


@dataclass
class LossWeights:
    """Weight of every loss term (0 switches a term off). Starting values, to be tuned
    by the training; the paper's own are in its (unavailable) supplementary material.

    Render loss: ``perceptual`` (Eq. 2), ``image_gan`` (generator side of Eq. 3),
    ``image_feature_matching`` (Eq. 4). Pose prior: ``skeleton_gan`` (generator side of
    Eq. 5), ``skeleton_image`` (L2 between the predicted and the analytic skeleton images,
    from p2d and from the reprojected p3d). Synthetic supervision: ``synthetic_*``.
    Frames corrected by hand: ``labels_keypoints_2d``. The discriminators' own losses
    are unweighted (separate optimizers).
    """

    perceptual: float = 1.0
    image_gan: float = 1.0
    image_feature_matching: float = 10.0
    skeleton_gan: float = 1.0
    # 10, not 100: at 100 the consistency term collapsed the skeletons (docs/RESULTS.md)
    skeleton_image: float = 10.0
    synthetic_skeleton_image: float = 100.0
    synthetic_keypoints_2d: float = 100.0
    synthetic_keypoints_3d: float = 10.0
    synthetic_rotations: float = 1.0
    # frames corrected by hand (``refine --labels``): L2 on their labelled 2D keypoints
    labels_keypoints_2d: float = 100.0


def weighted_sum(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    """``sum(weights.<name> * terms[name])``; every name must be a LossWeights field."""
    known = {f.name for f in dataclasses.fields(weights)}
    unknown = sorted(set(terms) - known)
    if unknown:
        raise ConfigError(f"no weight for loss term(s) {unknown}; known: {sorted(known)}")
    if not terms:
        raise ConfigError("weighted_sum: no loss terms given")
    return sum(getattr(weights, name) * value for name, value in terms.items())


# -- adversarial --------------------------------------------------------------------------
def lsgan_discriminator_loss(real: DiscOutputs, fake: DiscOutputs) -> torch.Tensor:
    """Eq. 3 / 5: ``mean (D(real) - 1)^2 + mean D(fake)^2``, averaged over scales."""
    losses = [(r[-1] - 1.0).square().mean() + f[-1].square().mean()
              for r, f in zip(real, fake, strict=True)]
    return torch.stack(losses).mean()


def lsgan_generator_loss(fake: DiscOutputs) -> torch.Tensor:
    """The generator's side: ``mean (D(fake) - 1)^2``, averaged over scales."""
    return torch.stack([(f[-1] - 1.0).square().mean() for f in fake]).mean()


def feature_matching_loss(real: DiscOutputs, fake: DiscOutputs) -> torch.Tensor:
    """Eq. 4: L1 between the discriminator's intermediate features of real and fake,
    averaged over layers and scales. The real features are targets (detached)."""
    losses = [F.l1_loss(ff, rf.detach())
              for r, f in zip(real, fake, strict=True)
              for rf, ff in zip(r[:-1], f[:-1], strict=True)]
    return torch.stack(losses).mean()


def discriminator_loss(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator step: LSGAN on ``real`` and on ``fake.detach()``, so its
    backward pass never reaches the generator."""
    return lsgan_discriminator_loss(disc(real.detach()), disc(fake.detach()))


def generator_adversarial_losses(disc: nn.Module, real: torch.Tensor | None,
                                 fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The generator step: (LSGAN generator loss, feature matching loss or None when
    ``real`` is None). Gradients flow into ``fake`` (and the discriminator's parameters
    get some too: step only the generator's optimizer, zero the discriminator's grads)."""
    fake_out = disc(fake)
    gan = lsgan_generator_loss(fake_out)
    if real is None:
        return gan, None
    with torch.no_grad():
        real_out = disc(real)
    return gan, feature_matching_loss(real_out, fake_out)


# -- skeleton images -------------------------------------------------------------------
def skeleton_image_l2(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two (B, C, H, W) skeleton images (gradients reach both:
    against an analytic image that is the keypoints' and the uplift's signal)."""
    if predicted.shape != target.shape:
        raise ShapeError(f"skeleton_image_l2: shapes differ, {tuple(predicted.shape)} vs "
                         f"{tuple(target.shape)}")
    return F.mse_loss(predicted, target)


def skeleton_image_bce(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a predicted (B, C, H, W) skeleton image in [0, 1] (a
    sigmoid's output) against a target in [0, 1] taken as soft labels, minus the
    target's own entropy, so that a perfect prediction scores 0."""
    if predicted.shape != target.shape:
        raise ShapeError(f"skeleton_image_bce: shapes differ, {tuple(predicted.shape)} vs "
                         f"{tuple(target.shape)}")
    eps = 1e-6
    p = predicted.clamp(eps, 1 - eps)
    t = target.clamp(0.0, 1.0)
    entropy = -(t * t.clamp_min(eps).log() + (1 - t) * (1 - t).clamp_min(eps).log())
    return F.binary_cross_entropy(p, t) - entropy.mean()


def skeleton_image_loss(kind: str):
    """The comparison ``skeleton_image_loss`` names: ``"l2"`` or ``"bce"``."""
    if kind not in ("l2", "bce"):
        raise ConfigError(f"unknown skeleton_image_loss {kind!r}; choose l2 or bce")
    return skeleton_image_l2 if kind == "l2" else skeleton_image_bce


def analytic_skeleton_image_loss(skeleton_image: torch.Tensor, skeleton_image_2d: torch.Tensor,
                                 skeleton_image_3d: torch.Tensor) -> torch.Tensor:
    """L_rec_sk: the predicted skeleton image against the analytic ones from p2d and from
    the reprojected p3d, averaged."""
    return 0.5 * (skeleton_image_l2(skeleton_image, skeleton_image_2d)
                  + skeleton_image_l2(skeleton_image, skeleton_image_3d))


# -- synthetic supervision ---------------------------------------------------------------
def keypoints_2d_l2(predicted: torch.Tensor, target: torch.Tensor,
                    visible: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared distance (normalized units) of (B, J, 2) keypoints over the visible
    ones (``visible`` (B, J) bool or weights, default all)."""
    check_shape("keypoints_2d_l2 predicted", predicted.shape, ("B", "J", 2))
    check_shape("keypoints_2d_l2 target", target.shape, tuple(predicted.shape))
    d2 = (predicted - target).square().sum(-1)  # (B, J)
    if visible is None:
        return d2.mean()
    check_shape("keypoints_2d_l2 visible", visible.shape, tuple(predicted.shape[:2]))
    w = visible.to(d2.dtype)
    return (d2 * w).sum() / w.sum().clamp_min(1.0)


def keypoints_3d_l2(predicted: torch.Tensor, target: torch.Tensor, root: int | None = 0
                    ) -> torch.Tensor:
    """Mean squared distance (metres^2) of (B, J, 3) joints, relative to joint ``root``
    of each (the absolute depth of a monocular pose is ambiguous with its size; the 2D
    loss already places the body). ``root=None`` compares absolute positions."""
    check_shape("keypoints_3d_l2 predicted", predicted.shape, ("B", "J", 3))
    check_shape("keypoints_3d_l2 target", target.shape, tuple(predicted.shape))
    if root is not None:
        predicted = predicted - predicted[:, root: root + 1]
        target = target - target[:, root: root + 1]
    return (predicted - target).square().sum(-1).mean()


def rotations_l2(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared Frobenius distance between rotation matrices: (B, J, 6) predicted
    (made orthonormal first) against (B, J, 6) or (B, J, 3, 3) targets."""
    check_shape("rotations_l2 predicted", predicted.shape, ("B", "J", 6))
    r_pred = rotation_6d_to_matrix(predicted)
    r_true = rotation_6d_to_matrix(target) if target.shape[-1] == 6 else target
    check_shape("rotations_l2 target", r_true.shape, (*predicted.shape[:2], 3, 3))
    return (r_pred - r_true).square().sum((-2, -1)).mean()
