"""Stage 1 (paper, Section 5): supervised pretraining on synthetic data, each component
on its own ("pretrain the individual components independently").

* encoder: image -> skeleton image, L2 against the analytic skeleton image of the true
  keypoints;
* keypoint head: the *analytic* skeleton image -> 2D keypoints, L2;
* uplift: the true 2D keypoints (plus a little noise) -> 3D joints (root-relative L2) and
  joint orientations (L2 on rotation matrices);
* renderer: the analytic skeleton image + the appearance partner -> the image, with the
  perceptual loss and the image discriminator (adversarial + feature matching).

The components only meet in the next stage, end to end on real footage.

A component whose loss weights are all zero is not run at all, so the pose components
and the renderer can be pretrained in separate runs (on a CPU the renderer costs four
times the rest of a step)::

    abspose pretrain --set pretrain.weights.perceptual=0 --set pretrain.weights.image_gan=0 \
        --set pretrain.weights.image_feature_matching=0 --out pose
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from core.errors import ConfigError
from core.models import AbsPoseModel
from training.config import TrainConfig
from training.losses import (
    PerceptualLoss,
    generator_adversarial_losses,
    keypoints_2d_l2,
    keypoints_3d_l2,
    rotations_l2,
    skeleton_image_loss,
    weighted_sum,
)
from training.stages.snapshots import snapshot_grid
from training.stages.supervision import synthetic_stream, synthetic_targets
from training.stages.trainer import Progress, Trainer

COMPONENT_WEIGHTS = {
    "encoder": ("synthetic_skeleton_image",),
    "keypoints": ("synthetic_keypoints_2d",),
    "uplift": ("synthetic_keypoints_3d", "synthetic_rotations"),
    "renderer": ("perceptual", "image_gan", "image_feature_matching"),
}


def active_components(weights) -> tuple[str, ...]:
    """The components with at least one non-zero loss weight."""
    active = tuple(name for name, terms in COMPONENT_WEIGHTS.items()
                   if any(getattr(weights, t) for t in terms))
    if not active:
        raise ConfigError("pretrain: every loss weight is zero, nothing would be trained; "
                          "set at least one of " + ", ".join(
                              t for terms in COMPONENT_WEIGHTS.values() for t in terms))
    return active


class ComponentNet(nn.Module):
    """The active components run on their own inputs in one forward pass (so that
    DistributedDataParallel sees one call per step); the others return None."""

    def __init__(self, model: AbsPoseModel, components: tuple[str, ...],
                 keypoints_from_encoder: bool = False):
        super().__init__()
        self.model = model
        self.components = components
        self.keypoints_from_encoder = keypoints_from_encoder

    def forward(self, image, appearance, skeleton_image, keypoints_in):
        m, on = self.model, self.components
        y = m.encoder(image) if "encoder" in on or self.keypoints_from_encoder else None
        kp_in = y if self.keypoints_from_encoder else skeleton_image
        p2d = m.keypoint_head(kp_in)[0] if "keypoints" in on else None
        p3d, rot = m.uplift(keypoints_in) if "uplift" in on else (None, None)
        x_hat = m.renderer(skeleton_image, appearance) if "renderer" in on else None
        return y, p2d, p3d, rot, x_hat


def pretrain_iter(cfg: TrainConfig, out: str | Path, init: str | Path | None = None,
                  resume: bool = False, stop: Callable[[], bool] | None = None
                  ) -> Iterator[Progress]:
    """Run the pretraining stage, yielding :class:`Progress` after every step."""
    components = active_components(cfg.pretrain.weights)  # before a run folder is made
    tr = Trainer(cfg, "pretrain", out, init=init, resume=resume, stop=stop)
    s = tr.scfg
    renderer_on = "renderer" in components
    images = components != ("uplift",)  # the uplift alone needs poses, not pictures
    with tr.starting():  # a bad synthetic setting removes the run folder it made
        tr.streams["synthetic"] = synthetic_stream(cfg, tr.model, s.batch_size, tr.device,
                                                   cfg.seed * 7919 + tr.dist.rank,
                                                   with_appearance=renderer_on,
                                                   images=images)
        perceptual = PerceptualLoss(cfg.perceptual).to(tr.device) if renderer_on else None
        from_encoder = s.keypoints_input == "encoder" and "keypoints" in components
        net = tr.wrap(ComponentNet(tr.model, components, from_encoder),
                      find_unused_parameters=len(components) < len(COMPONENT_WEIGHTS))
        d_img = tr.wrap(tr.discriminators["image"])
    gan_on = renderer_on and bool(s.weights.image_gan or s.weights.image_feature_matching)
    compare_skeleton_images = skeleton_image_loss(s.skeleton_image_loss)
    last: dict[str, torch.Tensor] = {}

    def step(tr: Trainer) -> dict[str, float]:
        b = tr.streams["synthetic"].next()
        t = synthetic_targets(tr.model, b, skeleton_image=images)
        noisy = b.keypoints_2d + s.uplift_noise * torch.randn_like(b.keypoints_2d)
        with tr.autocast():
            y, p2d, p3d, rot, x_hat = net(b.image, b.appearance, t.get("skeleton_image"), noisy)
            terms = {}
            if y is not None:
                terms["synthetic_skeleton_image"] = compare_skeleton_images(
                    y.float(), t["skeleton_image"])
            if p2d is not None:
                terms["synthetic_keypoints_2d"] = keypoints_2d_l2(p2d.float(), b.keypoints_2d)
            if p3d is not None:
                terms["synthetic_keypoints_3d"] = keypoints_3d_l2(p3d.float(), b.keypoints_3d)
                terms["synthetic_rotations"] = rotations_l2(rot.float(), t["rotations"])
            if x_hat is not None:
                terms["perceptual"] = perceptual(b.image, x_hat.float())
            if gan_on:
                gan, fm = generator_adversarial_losses(d_img, b.image, x_hat)
                terms["image_gan"], terms["image_feature_matching"] = gan, fm
            loss_g = weighted_sum(terms, s.weights)
        tr.update(loss_g, tr.opt_g, tr.model.parameters())
        losses = {k: float(v.detach()) for k, v in terms.items()}
        if gan_on:
            with tr.autocast():
                loss_d = tr.discriminator_step(d_img, b.image, x_hat)
            tr.update(loss_d, tr.opt_d, tr.discriminators.parameters())
            losses["image_disc"] = float(loss_d.detach())
        if images:
            last.update(image=b.image, y_true=t["skeleton_image"],
                        y=(y if y is not None else t["skeleton_image"]).detach(),
                        x_hat=x_hat.detach() if x_hat is not None else None,
                        p2d=(p2d if p2d is not None else b.keypoints_2d).detach())
        return losses

    def snapshot(tr: Trainer):
        if not images:
            return None  # nothing to picture: the uplift alone sees no images
        m = tr.model
        return snapshot_grid(m.skeleton, m.layout, last["image"], last["y"], last["y_true"],
                             last["x_hat"], last["p2d"])

    tr.restore()
    yield from tr.run_loop(step, snapshot)
