"""Does the image renderer's reconstruction loss point to the true pose?

    python benchmarks/render_landscape.py CHECKPOINT LABELLED_FOLDER [--per-clip 4]
        [--steps 200] [--lr 3e-3] [--threads 1] [--paths 2d,3d]

Analysis-by-synthesis trains the pose by the reconstruction loss of the image renderer:
the pose is right when the renderer, given that pose and another frame of the video for
the appearance, redraws the frame best. This checks that premise for a trained model on
labelled clips (``abspose synth`` folders; any model, CHECKPOINT ``default`` for the
shipped one), in two ways, with the renderer, encoder and uplift fixed:

1. **Points.** The reconstruction loss at the true pose and at alternatives: the model's
   own prediction, the left/right mirror of the truth, the truth with the limbs pulled
   towards the body's vertical axis (x scaled by 0.6 about the pelvis), shifted by 4 %
   of the frame, and the pose of another frame of the clip. For each, the fraction of
   images where the truth's loss is the lower.
2. **Descent.** Starting from the model's prediction, Adam on the pose alone, minimizing
   the reconstruction loss as training does: on the 2D keypoints directly (``2d``) and on
   the uplift's 2D input, the renderer then reading the skeleton image of the reprojected
   3D pose (``3d``: the path of ``abspose train``). Printed every 25 steps: the loss and
   the 2D error against the truth (pixels at 128 x 128). If the renderer's optimum were the
   true pose the error would fall; if the loss falls below the truth's while the error
   grows, the reconstruction loss pulls poses away from the truth.

The loss is the training's reconstruction loss (``perceptual``: VGG19 features when the
weights are found, else its fallback; the first line says which).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from core import load_model
from core.crop import crop_frames, letterbox_transform
from core.errors import InputError
from core.video import VideoReader
from training.evaluate import METRIC_SIZE, find_labelled_clips, load_labels
from training.perceptual import PerceptualConfig, PerceptualLoss

METRIC_HALF = METRIC_SIZE / 2  # normalized units -> pixels at the evaluation's 128 x 128


def load_samples(folder: Path, model, per_clip: int, seed: int = 0):
    """Images, appearance frames (another frame of the same clip, 20 to 60 apart) and
    the true 2D keypoints (normalized, the model's input frame) of ``per_clip`` frames of
    every labelled clip."""
    rng = np.random.default_rng(seed)
    images, appearances, truths = [], [], []
    for video, npz in find_labelled_clips(folder):
        labels = load_labels(npz, model.skeleton)
        if labels.missing:
            raise InputError(f"{npz}: lacks keypoints {labels.missing}; this check needs "
                             "every keypoint of the model's skeleton labelled")
        frames = np.stack(list(VideoReader(video)))
        t_len = min(len(frames), len(labels.keypoints_2d))
        if t_len < 2 * per_clip:
            raise InputError(f"{video}: {t_len} frames, need at least {2 * per_clip}")
        tf = letterbox_transform(frames.shape[1:3], model.input_size)
        t = rng.choice(t_len, per_clip, replace=False)
        a = (t + rng.integers(20, 60, per_clip)) % t_len

        images.append(_to_tensor(crop_frames(frames[t], tf)))
        appearances.append(_to_tensor(crop_frames(frames[a], tf)))
        truths.append(torch.as_tensor(tf.original_to_normalized(labels.keypoints_2d[t]),
                                      dtype=torch.float32))
    return torch.cat(images), torch.cat(appearances), torch.cat(truths)


def _to_tensor(frames) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float in [0, 1]."""
    return torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def alternatives(model, image: torch.Tensor, truth: torch.Tensor, per_clip: int
                 ) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        pred = model.predict(image).keypoints
    root = truth[:, :1]
    squeezed = truth.clone()
    squeezed[..., 0] = root[..., 0] + 0.6 * (truth[..., 0] - root[..., 0])
    # another frame's pose of the same clip: the samples of a clip are consecutive
    clip = torch.arange(len(truth)) // per_clip
    other = clip * per_clip + (torch.arange(len(truth)) % per_clip + 1) % per_clip
    return {"prediction": pred, "mirror": truth[:, torch.as_tensor(
        model.skeleton.mirror_permutation)], "limbs squeezed x0.6": squeezed,
        "shifted 4%": truth + torch.tensor([0.08, 0.0]), "another frame": truth[other]}


def per_image_loss(loss_fn, model, keypoints, image, appearance) -> torch.Tensor:
    with torch.no_grad():
        rec = model.renderer(model.skeleton_image(keypoints), appearance)
        return torch.stack([loss_fn(image[i:i + 1], rec[i:i + 1]) for i in range(len(image))])


def error_px(keypoints: torch.Tensor, truth: torch.Tensor) -> float:
    return float((keypoints - truth).norm(dim=-1).mean() * METRIC_HALF)


def descend(loss_fn, model, start, truth, image, appearance, path: str, steps: int,
            lr: float) -> list[tuple[int, float, float]]:
    """Adam on the pose alone; returns (step, loss, error px) every 25 steps."""
    param = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([param], lr=lr)
    trace = []

    def keypoints_of(p):
        return p if path == "2d" else model.reproject(model.uplift(p)[0])

    for step in range(steps + 1):
        kp = keypoints_of(param)
        loss = loss_fn(image, model.renderer(model.skeleton_image(kp), appearance))
        if step % 25 == 0 or step == steps:
            trace.append((step, float(loss.detach()), error_px(kp.detach(), truth)))
        if step == steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return trace


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a model checkpoint, or 'default'")
    ap.add_argument("labelled", type=Path, help="a folder of labelled clips (abspose synth)")
    ap.add_argument("--per-clip", type=int, default=4)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--paths", default="2d,3d",
                    help="which descents to run, comma-separated: 2d, 3d (default both)")
    args = ap.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p]
    if not paths or set(paths) - {"2d", "3d"}:
        ap.error(f"--paths takes 2d, 3d or both, comma-separated; got {args.paths!r}")
    if args.per_clip < 2:
        ap.error("--per-clip must be at least 2 (one alternative is another frame of the clip)")
    sys.stdout.reconfigure(line_buffering=True)  # each table row as it is measured
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_model(None if args.checkpoint == "default" else args.checkpoint,
                       device="cpu")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    loss_fn = PerceptualLoss(PerceptualConfig())
    image, appearance, truth = load_samples(args.labelled, model, args.per_clip)
    print(f"# {args.checkpoint} on {args.labelled}: {len(image)} images at "
          f"{model.input_size[0]}x{model.input_size[1]}, reconstruction loss "
          f"{loss_fn.kind}; {platform.machine()}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")

    at_truth = per_image_loss(loss_fn, model, truth, image, appearance)
    print("\n| pose | reconstruction loss | truth's loss lower in | 2D error (px) |")
    print("|---|---:|---:|---:|")
    print(f"| truth | {at_truth.mean():.4f} | | 0.00 |")
    alts = alternatives(model, image, truth, args.per_clip)
    for name, kp in alts.items():
        v = per_image_loss(loss_fn, model, kp, image, appearance)
        print(f"| {name} | {v.mean():.4f} | {(at_truth < v).float().mean():.2f} | "
              f"{error_px(kp, truth):.2f} |")

    for path in paths:
        t0 = time.perf_counter()
        trace = descend(loss_fn, model, alts["prediction"], truth, image, appearance, path,
                        args.steps, args.lr)
        print(f"\ndescent on the pose ({path}), Adam lr {args.lr:g}, "
              f"{time.perf_counter() - t0:.0f} s; loss at the truth {at_truth.mean():.4f}")
        print("| step | loss | 2D error (px) |\n|---:|---:|---:|")
        for step, loss, err in trace:
            print(f"| {step} | {loss:.4f} | {err:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
