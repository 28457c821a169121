"""Steps/s and images/s of each training stage, and how long the frame cache takes.

    python benchmarks/train_speed.py [--config cpu] [--steps 20] [--video PATH] [--threads N]

Runs ``pretrain``, ``train`` and ``refine`` for ``--steps`` steps each with the given
preset (after a short warm-up that is not timed), in temporary run folders, on
``--video`` (default: a generated 10-second 720p clip). Prints medians of the per-step
times and the cost of decoding the footage once into the frame cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def generated_clip(path: Path, frames: int = 250, size=(720, 1280)) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    h, w = size
    bg = cv2.resize(rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    for i in range(frames):
        f = bg.copy()
        cv2.circle(f, (200 + 3 * i, h // 2), 80, (240, 180, 60), -1)
        out.write(f)
    out.release()
    return path


def timed(iterator, steps: int, warmup: int) -> list[float]:
    times, t0 = [], time.perf_counter()
    for i, p in enumerate(iterator):
        now = time.perf_counter()
        if p.checkpoint is None and i >= warmup:
            times.append(now - t0)
        t0 = now
        if len(times) >= steps:
            break
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from training.config import load_config
    from training.stages.end_to_end import build_frame_cache
    from training.stages.pretrain import pretrain_iter
    from training.stages.train import train_iter

    tmp = Path(tempfile.mkdtemp(prefix="abspose-bench-"))
    video = args.video or generated_clip(tmp / "clip.mp4")
    n = args.steps + args.warmup + 1
    over = [f"{s}.steps={n}" for s in ("pretrain", "train", "refine")] + [
        f"{s}.{k}=100000" for s in ("pretrain", "train", "refine")
        for k in ("snapshot_every", "checkpoint_every")]
    cfg = load_config(args.config, over)
    print(f"config {args.config}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"video {video}")

    t0 = time.perf_counter()
    cache = build_frame_cache(cfg, [video], tmp)
    decode = time.perf_counter() - t0
    print(f"frame cache: {len(cache)} frames decoded and letterboxed in {decode:.1f} s "
          f"({len(cache) / decode:.0f} frames/s), {cache.frames.nbytes / 2**20:.0f} MiB")

    runs = {
        "pretrain": (pretrain_iter(load_config(args.config, over), tmp / "pre"),
                     cfg.pretrain.batch_size),
    }
    times = timed(runs["pretrain"][0], args.steps, args.warmup)
    for _ in runs["pretrain"][0]:
        pass  # finish, so the checkpoint exists
    report = {"pretrain": (times, cfg.pretrain.batch_size)}
    ckpt = tmp / "pre" / "last.pt"
    for stage in ("train", "refine"):
        it = train_iter(load_config(args.config, over), [video], tmp / stage, init=ckpt,
                        stage=stage)
        sc = getattr(cfg, stage)
        report[stage] = (timed(it, args.steps, args.warmup),
                         sc.batch_size + sc.synthetic_batch_size)
    for stage, (ts, per_step) in report.items():
        med = statistics.median(ts)
        print(f"{stage:>8}: median {med:.3f} s/step = {1 / med:.2f} steps/s, "
              f"{per_step / med:.1f} images/s ({per_step} images/step, {len(ts)} steps)")


if __name__ == "__main__":
    main()
