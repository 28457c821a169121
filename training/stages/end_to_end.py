"""The end-to-end objective on unlabelled video (paper, Section 5), which ``train``
(many videos) and ``refine`` (the target footage) optimize, and the footage it reads.

Generator side (encoder, keypoint head, uplift, renderer), per step:

* render loss on real frames: perceptual (Eq. 2) + image discriminator (Eq. 3) +
  discriminator feature matching (Eq. 4), the appearance taken from another frame of the
  same video;
* pose prior: the skeleton-image discriminator (Eq. 5) on the skeleton image drawn from
  the reprojected 3D pose (``prior_input: analytic``, the default) or on the predicted
  skeleton image y as in the paper (``prior_input: predicted``);
* L_rec_sk: the predicted skeleton image against the analytic ones made from the 2D
  keypoints and from the reprojected 3D pose;
* synthetic supervision at reduced weight: the L2 terms only (skeleton image, 2D, 3D,
  orientations), no image discriminator on synthetic images.

Discriminator side: the image discriminator (real frames vs reconstructions) and the
pose prior (skeleton images of unpaired poses vs the judged ones), their own optimizer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from core.checkpoint import load_checkpoint
from core.errors import InputError
from core.labels import read_labels
from core.video import check_footage
from training.config import TrainConfig
from training.data import FrameCache, LabelledFrames, VideoPairStream, find_footage
from training.losses import (
    PerceptualLoss,
    analytic_skeleton_image_loss,
    generator_adversarial_losses,
    keypoints_2d_l2,
    keypoints_3d_l2,
    rotations_l2,
    skeleton_image_loss,
    weighted_sum,
)
from training.prior import PosePriorStream
from training.stages.snapshots import snapshot_grid
from training.stages.supervision import synthetic_stream, synthetic_targets
from training.stages.trainer import Trainer

log = logging.getLogger(__name__)


def usable_footage(videos: Sequence[str | Path], input_size: Sequence[int]) -> list[Path]:
    """The footage under ``videos`` that passes the check prediction makes
    (:func:`core.video.check_footage`: it decodes, its frames are not smaller than the
    model input); the rest is skipped with a warning, and none left is an InputError
    that names each reason."""
    sources = find_footage(list(videos))
    if not sources:
        raise InputError(f"no video or image sequence found in {', '.join(map(str, videos))}")
    usable, reasons = [], []
    for src in sources:
        try:
            check_footage(src, tuple(input_size))
            usable.append(src)
        except InputError as err:
            reasons.append(str(err))
    for reason in reasons if usable else []:
        log.warning("skipping footage: %s", reason)
    if not usable:
        raise InputError("no usable footage: " + "; ".join(reasons))
    return usable


def model_input_size(cfg: TrainConfig, out: str | Path, init: str | Path | None,
                     resume: bool) -> tuple[int, int]:
    """The input size of the model a stage will train: its checkpoint's, else the
    config's."""
    path = Path(out) / "last.pt" if resume else init
    if path is None:
        return tuple(cfg.model.input_size)
    return tuple(load_checkpoint(path)["input_size"])


def build_frame_cache(cfg: TrainConfig, sources: Sequence[Path], out: Path) -> FrameCache:
    d = cfg.data
    return FrameCache.build(sources, d.cache_size, d.stride, d.max_frames_per_video,
                            cache_file=out / "frames.npy" if d.cache_on_disk else None)


def labelled_video(labels_path: Path, sources: Sequence[Path]) -> Path:
    """The footage a labels file belongs to: the one whose name starts its name
    (``clip_corrections.csv`` belongs to ``clip.mp4``), or the only one."""
    name = labels_path.name
    owners = sorted((src for src in sources if name.startswith(_stem(src) + "_")),
                    key=lambda src: -len(_stem(src)))
    if owners:  # the longest name that fits: walk_fast_... is walk_fast's, not walk's
        return owners[0]
    if len(sources) == 1:
        return sources[0]
    raise InputError(f"{labels_path}: cannot tell which of the {len(sources)} videos its "
                     "frames belong to; name it <video>_corrections.csv, as the review dock "
                     "saves it, or refine that video alone")


def _stem(source: Path) -> str:
    return source.stem if source.suffix else source.name  # a video, or a frames folder


def load_corrections(labels_path: str | Path, sources: Sequence[Path]):
    """(:class:`core.labels.Labels`, their video) for ``--labels``, checked before any
    run folder exists."""
    path = Path(labels_path)
    if not path.is_file():
        raise InputError(f"{path}: no such labels file (the tidy CSV the review dock saves)")
    return read_labels(path), labelled_video(path, sources)


def trainer_for(cfg: TrainConfig, videos: Sequence[str | Path], out: str | Path, stage: str,
                init: str | Path | None = None, resume: bool = False,
                stop: Callable[[], bool] | None = None, labels: str | Path | None = None
                ) -> tuple[Trainer, Callable, Callable]:
    """A trainer for ``stage`` with this objective on ``videos``, ready to run:
    ``(trainer, step, snapshot)`` for :meth:`Trainer.run_loop`. The footage and the
    labels are checked before a run folder is made; a failed start removes the folder
    it made."""
    sources = usable_footage(videos, model_input_size(cfg, out, init, resume))
    labelled = load_corrections(labels, sources) if labels is not None else None
    tr = Trainer(cfg, stage, out, init=init, resume=resume, stop=stop)
    with tr.starting():
        step, snapshot = setup(tr, tr.cfg, sources, labelled)
    return tr, step, snapshot


def setup(tr: Trainer, cfg: TrainConfig, sources: Sequence[Path], labelled=None):
    """The streams, losses, step and snapshot of the end-to-end objective on ``sources``
    (the trainer's state restored when it resumes); returns ``(step, snapshot)`` for
    :meth:`Trainer.run_loop`."""
    s, m = tr.scfg, tr.model
    cache = build_frame_cache(cfg, sources, tr.out)
    d = cfg.data
    seed = cfg.seed * 7919 + tr.dist.rank
    tr.streams["video"] = VideoPairStream(cache, s.batch_size, m.input_size[0], tr.device,
                                          d.gap, d.crop_scale, d.crop_offset, seed=seed)
    tr.streams["prior"] = PosePriorStream(m.skeleton, m.layout, m.input_size, s.batch_size,
                                          tr.device, cfg.prior, seed=seed + 1,
                                          gamma=m.config.gamma, fov_deg=m.config.fov_deg)
    if s.synthetic_batch_size > 0:
        tr.streams["synthetic"] = synthetic_stream(cfg, m, s.synthetic_batch_size, tr.device,
                                                   seed + 2)
    if labelled is not None:
        labels, video = labelled
        tr.streams["labels"] = LabelledFrames(
            labels, video, m.skeleton.keypoints, s.labels_batch_size, m.input_size[0],
            tr.device, d.cache_size, d.crop_scale, d.crop_offset, seed=seed + 3)
        log.info("%d frames corrected by hand in %s, %d of them in every step",
                 len(labels), video, s.labels_batch_size)
    perceptual = PerceptualLoss(cfg.perceptual).to(tr.device)
    net = tr.wrap(m)
    d_img = tr.wrap(tr.discriminators["image"])
    d_sk = tr.wrap(tr.discriminators["skeleton"])
    compare_skeleton_images = skeleton_image_loss(s.skeleton_image_loss)
    last: dict[str, torch.Tensor] = {}

    def step(tr: Trainer) -> dict[str, float]:
        real, appearance = next(tr.streams["video"])
        n = real.shape[0]
        syn = tr.streams["synthetic"].next() if "synthetic" in tr.streams else None
        image, app = real, appearance
        if syn is not None:
            image, app = torch.cat([real, syn.image]), torch.cat([appearance, syn.appearance])
        if "labels" in tr.streams:  # last in the batch; their reconstruction is not used
            fixed, fixed_kp, fixed_mask = next(tr.streams["labels"])
            image, app = torch.cat([image, fixed]), torch.cat([app, fixed.roll(1, 0)])
        n_syn = 0 if syn is None else syn.image.shape[0]
        with tr.autocast():
            out = net(image, app)
            y, recon = out.skeleton_image.float(), out.reconstruction.float()
            y3 = out.skeleton_image_3d.float()
            terms = {"perceptual": perceptual(real, recon[:n])}
            terms["image_gan"], terms["image_feature_matching"] = generator_adversarial_losses(
                d_img, real, recon[:n])
            judged = (y if s.prior_input == "predicted" else y3)[:n]
            terms["skeleton_gan"], _ = generator_adversarial_losses(d_sk, None, judged)
            terms["skeleton_image"] = analytic_skeleton_image_loss(
                y[:n], out.skeleton_image_2d[:n].float(), y3[:n])
            if syn is not None:
                t = synthetic_targets(m, syn)
                sy = slice(n, n + n_syn)
                terms["synthetic_skeleton_image"] = compare_skeleton_images(
                    y[sy], t["skeleton_image"])
                terms["synthetic_keypoints_2d"] = keypoints_2d_l2(out.keypoints[sy].float(),
                                                                  syn.keypoints_2d)
                terms["synthetic_keypoints_3d"] = keypoints_3d_l2(
                    out.keypoints_3d[sy].float(), syn.keypoints_3d)
                terms["synthetic_rotations"] = rotations_l2(out.rotations[sy].float(),
                                                            t["rotations"])
            if "labels" in tr.streams:
                terms["labels_keypoints_2d"] = keypoints_2d_l2(
                    out.keypoints[n + n_syn:].float(), fixed_kp, fixed_mask)
            loss_g = weighted_sum(terms, s.weights)
        tr.update(loss_g, tr.opt_g, m.parameters())
        prior = next(tr.streams["prior"])
        with tr.autocast():
            loss_img = tr.discriminator_step(d_img, real, recon[:n])
            loss_sk = tr.discriminator_step(d_sk, prior, judged)
        tr.update(loss_img + loss_sk, tr.opt_d, tr.discriminators.parameters())
        last.update(image=real, y=y[:n].detach(), y3=y3[:n].detach(),
                    recon=recon[:n].detach(), p2d=out.keypoints[:n].detach())
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses.update(image_disc=float(loss_img.detach()), skeleton_disc=float(loss_sk.detach()))
        return losses

    def snapshot(tr: Trainer):
        return snapshot_grid(m.skeleton, m.layout, last["image"], last["y"], last["y3"],
                             last["recon"], last["p2d"])

    tr.restore()
    return step, snapshot
