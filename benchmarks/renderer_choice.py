"""Measurements behind two choices: the image renderer's conditioning (SPADE vs
concatenation) and the perceptual loss's fallback when no VGG19 weights are present.

    python benchmarks/renderer_choice.py --renderers      # concat vs spade, L1 loss
    python benchmarks/renderer_choice.py --losses         # fallbacks, default renderer

The reconstruction task, self-contained and procedural: a "subject" is a smooth random
background with a fixed random texture plus a body whose five limb groups (left arm,
right arm, left leg, right leg, torso and head: the 5ch layout) each have their own
colour. A pair is two random poses of one subject; the renderer gets the analytic
skeleton image of the target pose and the other frame (appearance) and must redraw the
target: place the limbs from the skeleton image, fetch each limb's colour and the
background (including the part hidden behind the body) from the appearance frame.
Every batch has new subjects, so this measures generalization, not memorization.

Each candidate trains from the same initialization on the same batches for --steps
steps, then is scored on a held-out set: L1, PSNR, SSIM, the L1 of the Sobel edge
magnitudes (blur shows there), and -- what the loss is for in analysis-by-synthesis --
pose recovery: start from the true keypoints plus noise (--noise px), optimize the
keypoints through the frozen renderer to minimize the same loss against the target
image, and report the keypoint error before and after (pixels, median over keypoints).
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import torch
import torch.nn.functional as F

from core.camera import PerspectiveCamera, euler_to_matrix, forward_kinematics
from core.models.renderer import ImageRenderer
from core.skeleton import HUMAN
from core.skeleton_image import render_skeleton_image
from training.perceptual import PerceptualConfig, PerceptualLoss, ssim

LAYOUT = "5ch"


# -- the procedural reconstruction task -------------------------------------------------
def random_keypoints(b: int, g: torch.Generator, size: int) -> torch.Tensor:
    """(B, J, 2) normalized keypoints of random poses within half the joint limits,
    random heading, seen by the 62-degree camera, filling 50-80 % of the image height."""
    j = HUMAN.num_keypoints
    lim = torch.as_tensor(HUMAN.joint_limits, dtype=torch.float32)
    mid, half = lim.mean(-1), (lim[..., 1] - lim[..., 0]) / 2
    angles = mid + half * 0.5 * (2 * torch.rand(b, j, 3, generator=g) - 1)
    angles[:, 0] = torch.stack([0.2 * torch.randn(b, generator=g),
                                math.pi * (2 * torch.rand(b, generator=g) - 1),
                                0.1 * torch.randn(b, generator=g)], dim=1)
    pos, _ = forward_kinematics(HUMAN, euler_to_matrix(angles))
    pos = pos - pos.mean(1, keepdim=True)
    height = (pos[..., 1].amax(1) - pos[..., 1].amin(1)).clamp_min(0.3)  # metres
    cam = PerspectiveCamera((size, size))
    fill = 0.5 + 0.3 * torch.rand(b, generator=g)
    depth = cam.focal * height / (fill * size)
    shift = (torch.rand(b, 2, generator=g) - 0.5) * 0.3 * depth[:, None]
    root = torch.cat([shift, depth[:, None]], dim=1)
    return cam.project_normalized(pos + root[:, None])


def random_subjects(b: int, g: torch.Generator, size: int) -> dict[str, torch.Tensor]:
    low = torch.rand(b, 3, 4, 4, generator=g)
    background = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    texture = F.interpolate(torch.rand(b, 1, size // 4, size // 4, generator=g),
                            size=(size, size), mode="nearest")
    background = (0.3 + 0.4 * (0.85 * background + 0.15 * texture)).clamp(0, 1)
    colors = torch.rand(b, HUMAN.num_channels(LAYOUT), 3, generator=g)
    return {"background": background, "colors": colors}


def draw(keypoints: torch.Tensor, subject: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """(B, 3, H, W) picture of the bodies over their backgrounds."""
    body = render_skeleton_image(keypoints, HUMAN, LAYOUT, (size, size), gamma=80.0)
    alpha = body.amax(1, keepdim=True)
    weights = body / body.sum(1, keepdim=True).clamp_min(1e-6)
    color = torch.einsum("bchw,bck->bkhw", weights, subject["colors"])
    shade = 0.55 + 0.45 * alpha  # limbs darker at their edges
    a = (alpha * 1.5).clamp(0, 1)
    return subject["background"] * (1 - a) + color * shade * a


def make_batch(b: int, g: torch.Generator, size: int) -> dict[str, torch.Tensor]:
    subject = random_subjects(b, g, size)
    kp_target, kp_app = random_keypoints(b, g, size), random_keypoints(b, g, size)
    return {
        "keypoints": kp_target,
        "target": draw(kp_target, subject, size),
        "appearance": draw(kp_app, subject, size),
        "skeleton_image": render_skeleton_image(kp_target, HUMAN, LAYOUT, (size, size)),
    }


# -- candidates and scores ---------------------------------------------------------------
def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([k, k.t()])[:, None].repeat(3, 1, 1, 1)  # (6, 1, 3, 3)
    g = F.conv2d(F.pad(x, [1] * 4, mode="replicate"), kernels, groups=3)
    return g.view(x.shape[0], 3, 2, *x.shape[-2:]).square().sum(2).sqrt()


def scores(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    mse = F.mse_loss(pred, target).item()
    return {
        "L1": F.l1_loss(pred, target).item(),
        "PSNR": 10 * math.log10(1.0 / max(mse, 1e-12)),
        "SSIM": ssim(pred, target).item(),
        "edge L1": F.l1_loss(sobel_magnitude(pred), sobel_magnitude(target)).item(),
    }


def train(renderer: ImageRenderer, loss_fn, args) -> float:
    """Train for args.steps on fresh batches; returns seconds per step (median)."""
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(renderer.parameters(), lr=args.lr)
    renderer.train()
    times = []
    for step in range(args.steps):
        batch = make_batch(args.batch, g, args.size)
        t0 = time.perf_counter()
        loss = loss_fn(renderer(batch["skeleton_image"], batch["appearance"]), batch["target"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        if args.verbose and step % 100 == 0:
            print(f"    step {step:4d} loss {loss.item():.4f}", flush=True)
    return sorted(times)[len(times) // 2]


def pose_recovery(renderer: ImageRenderer, loss_fn, held: dict[str, torch.Tensor],
                  args) -> tuple[float, float]:
    """Median keypoint error (px) before and after optimizing noisy keypoints through the
    frozen renderer against the target image with ``loss_fn``."""
    renderer.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(2)
    true = held["keypoints"][: args.recovery]
    px = 2.0 / args.size  # one pixel in normalized units
    kp = (true + args.noise * px * torch.randn(true.shape, generator=g)).requires_grad_(True)
    start = (kp.detach() - true).norm(dim=-1).median().item() / px
    opt = torch.optim.Adam([kp], lr=0.2 * px)
    appearance, target = held["appearance"][: args.recovery], held["target"][: args.recovery]
    for _ in range(args.recovery_steps):
        y = render_skeleton_image(kp, HUMAN, LAYOUT, (args.size, args.size))
        loss = loss_fn(renderer(y, appearance), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    end = (kp.detach() - true).norm(dim=-1).median().item() / px
    renderer.requires_grad_(True)
    return start, end


def evaluate(name: str, make_renderer, loss_fn, held, args) -> dict[str, float]:
    torch.manual_seed(0)
    renderer = make_renderer()
    params = sum(p.numel() for p in renderer.parameters()) / 1e6
    t0 = time.perf_counter()
    step_s = train(renderer, loss_fn, args)
    train_min = (time.perf_counter() - t0) / 60
    renderer.eval()
    with torch.no_grad():
        pred = torch.cat([renderer(held["skeleton_image"][i: i + 32],
                                   held["appearance"][i: i + 32])
                          for i in range(0, len(held["target"]), 32)])
    row = {"params M": params, "s/step": step_s, **scores(pred, held["target"])}
    row["pose px before"], row["pose px after"] = pose_recovery(renderer, loss_fn, held, args)
    print(f"  {name:22s} " + " ".join(f"{v:9.4f}" for v in row.values())
          + f"   ({train_min:.1f} min)", flush=True)
    return row


def header(rows: list[str]) -> None:
    print(f"  {'candidate':22s} " + " ".join(f"{c:>9s}" for c in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renderers", action="store_true", help="compare the renderers")
    parser.add_argument("--losses", action="store_true", help="compare the loss fallbacks")
    parser.add_argument("--kind", default="spade", help="renderer used by --losses")
    parser.add_argument("--fallbacks", nargs="+", default=["l1", "l1_ssim", "pyramid_l1",
                                                            "random_vgg", "efficientnet"])
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--held-out", type=int, default=128)
    parser.add_argument("--recovery", type=int, default=32, help="pairs for pose recovery")
    parser.add_argument("--recovery-steps", type=int, default=60)
    parser.add_argument("--noise", type=float, default=3.0, help="keypoint noise, px")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    held = make_batch(args.held_out, torch.Generator().manual_seed(123), args.size)
    print(f"torch {torch.__version__}, {platform.machine()} CPU, {args.threads} threads; "
          f"{args.size}x{args.size}, batch {args.batch}, {args.steps} steps, lr {args.lr}, "
          f"held-out {args.held_out}, pose recovery on {args.recovery} pairs, "
          f"{args.recovery_steps} steps from {args.noise} px noise")
    cols = ["params M", "s/step", "L1", "PSNR", "SSIM", "edge L1", "pose px before",
            "pose px after"]
    widths = tuple(args.widths)
    if args.renderers:
        print("renderers, trained and recovered with the L1 loss:")
        header(cols)
        l1 = F.l1_loss
        wide = tuple(round(c * 1.25) for c in widths)
        for name, make in {
            f"concat {list(widths)}": lambda: ImageRenderer(5, widths, "concat"),
            f"concat {list(wide)}": lambda: ImageRenderer(5, wide, "concat"),
            f"spade {list(widths)}": lambda: ImageRenderer(5, widths, "spade"),
        }.items():
            evaluate(name, make, l1, held, args)
    if args.losses:
        print(f"loss fallbacks, renderer {args.kind} {list(widths)}, trained and recovered "
              "with each loss:")
        header(cols)
        for fallback in args.fallbacks:
            loss = PerceptualLoss(PerceptualConfig(vgg19_path=None, fallback=fallback))
            if loss.kind == "vgg19":
                raise SystemExit("VGG19 weights found: this compares the fallbacks, run it "
                                 "with TORCH_HOME pointing to an empty folder")
            evaluate(fallback, lambda: ImageRenderer(5, widths, args.kind),
                     lambda x, y, f=loss: f(y, x), held, args)


if __name__ == "__main__":
    main()
