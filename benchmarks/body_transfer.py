"""Do synthetic people transfer to real photos? The same small pose network, trained with
the same steps and seed on variants of the ``randomized`` stream (capsule or mesh bodies,
everyday poses only or with a share of free poses), scored on labelled photos of real
people.

    python benchmarks/body_transfer.py --photos ../shared/data/real_labelled/person_keypoints.json
        [--steps 700] [--batch 32] [--bodies capsules mesh mesh_free] [--seed 0]
        [--random-init] [--json out.json]

Variants (``--bodies``): ``mesh``: the style as it is (mesh people in everyday poses);
``mesh_free``: mesh people, 30 % of them in free poses (any pose the joints allow,
``free_poses=0.3``); ``capsules``: capsule people in everyday poses.

The network: EfficientNet-Lite0 (ImageNet weights, fine-tuned; ``--random-init`` from
random weights) features at strides 8 and 16, two 3 x 3 conv layers to 32 x 32 heatmaps
of the 22 keypoints, soft-argmax; L1 on the normalized 2D keypoints, AdamW 1e-3. Scored
with ``training.real_photos``: one 1.25 x box crop per person at 128 x 128, the 12 limb
points, px at 128 x 128 as predicted and forgiving a person's left/right swap, PCK; a
constant pose (the leave-one-out mean of the photos' own labels) printed beside.
The photos are for validation only: this decides between bodies, it trains on nothing
real.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from core.camera import normalized_to_pixel  # noqa: E402
from core.models.efficientnet import EfficientNetLite0  # noqa: E402
from core.models.keypoints import soft_argmax  # noqa: E402
from core.skeleton import HUMAN  # noqa: E402
from training.evaluate import limb_errors  # noqa: E402
from training.real_photos import load_coco_people, person_crops  # noqa: E402
from training.synthetic import SyntheticStream, style_config  # noqa: E402


class HeatmapNet(nn.Module):
    def __init__(self, joints: int, pretrained: bool):
        super().__init__()
        self.backbone = EfficientNetLite0(pretrained=pretrained)
        self.head = nn.Sequential(
            nn.Conv2d(40 + 112, 96, 3, padding=1), nn.BatchNorm2d(96), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Conv2d(96, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, joints, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        f8, f16 = self.backbone.features(image, upto=10)[2:4]
        x = torch.cat([f8, F.interpolate(f16, size=f8.shape[-2:], mode="bilinear")], 1)
        return soft_argmax(self.head(x))[0]


VARIANTS = {
    "mesh_free": {"free_poses": 0.3},
    "mesh": {"free_poses": 0.0},
    "capsules": {"body": "capsules", "free_poses": 0.0},
}


def train(body: str, steps: int, batch: int, seed: int, pretrained: bool) -> HeatmapNet:
    torch.manual_seed(seed)
    net = HeatmapNet(HUMAN.num_keypoints, pretrained)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    stream = SyntheticStream(style_config("randomized", **VARIANTS[body]), HUMAN,
                             batch_size=batch, seed=seed, with_appearance=False)
    t0 = time.perf_counter()
    for step in range(steps):
        b = stream.next()
        loss = (net(b.image) - b.keypoints_2d).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"  {body} step {step:4d} loss {loss.item():.4f} "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    return net.eval()


def score(net: HeatmapNet, crops: np.ndarray, truth, labelled) -> dict:
    x = torch.as_tensor(crops).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        pred = normalized_to_pixel(net(x), (128, 128)).numpy()
    return limb_errors(pred, truth, labelled, HUMAN)


def constant_pose(truth: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Each person predicted as the mean of the others' labels (leave-one-out)."""
    pred = np.zeros_like(truth)
    for i in range(len(truth)):
        m = np.arange(len(truth)) != i
        w = labelled[m][..., None]
        pred[i] = (truth[m] * w).sum(0) / np.maximum(w.sum(0), 1)
    return pred


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", required=True, help="COCO keypoints JSON of real people")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bodies", nargs="+", default=list(VARIANTS)[::-1], choices=VARIANTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random-init", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    crops, truth, labelled = person_crops(load_coco_people(args.photos, HUMAN), size=128)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} "
          f"threads; {len(crops)} people; {args.steps} steps of {args.batch}, seed "
          f"{args.seed}, {'random' if args.random_init else 'ImageNet'} init")
    rows = {"constant pose (leave-one-out)": limb_errors(constant_pose(truth, labelled),
                                                         truth, labelled, HUMAN)}
    for body in args.bodies:
        t = time.perf_counter()
        net = train(body, args.steps, args.batch, args.seed, not args.random_init)
        rows[body] = {**score(net, crops, truth, labelled),
                      "train_s": time.perf_counter() - t}
    print("\n| trained on | px (ignore flips) | px | PCK@12.8 (ignore flips) | PCK@12.8 |"
          " flipped people |\n|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['px_ignore_flips']:.1f} | {r['px']:.1f} | "
              f"{r['pck@12.8_ignore_flips']:.2f} | {r['pck@12.8']:.2f} | "
              f"{r['flipped_people']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
