"""Speed and peak memory of the skeleton image (Eq. 1): fast windowed implementation vs
the plain dense reference, forward + backward, as used on every training step.

    python benchmarks/skeleton_image.py [--batch 64] [--size 128] [--layout 5ch]
                                        [--repeats 7] [--device cpu|cuda]

Times are medians over interleaved repeats (the two implementations alternate, so
machine noise hits both alike); the ratio is computed within the run. Peak memory is
measured in a fresh subprocess per implementation: the rise of peak resident memory
(CPU) or of ``torch.cuda.max_memory_allocated`` (CUDA) over the inputs alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

from core.camera import euler_to_matrix, forward_kinematics
from core.skeleton import HUMAN
from core.skeleton_image import render_skeleton_image, render_skeleton_image_dense

IMPLEMENTATIONS = {"fast": render_skeleton_image, "dense": render_skeleton_image_dense}


def poses(b: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    angles = (torch.rand(b, HUMAN.num_keypoints, 3, generator=g) - 0.5) * 1.2
    pos, _ = forward_kinematics(HUMAN, euler_to_matrix(angles))
    xy = pos[..., :2] - pos[..., :2].mean(1, keepdim=True)
    xy = xy / xy.abs().amax((1, 2), keepdim=True) * 0.7
    return xy.to(device)


def step(fn, kp, args) -> None:
    x = kp.clone().requires_grad_(True)
    y = fn(x, HUMAN, args.layout, (args.size, args.size))
    (y * y).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()


def peak_memory_mib(name: str, args) -> float:
    kp = poses(args.batch, args.device)
    fn = IMPLEMENTATIONS[name]
    if args.device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(fn, kp, args)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base = _peak_rss_kib()
    step(fn, kp, args)
    return (_peak_rss_kib() - base) / 1024


def _peak_rss_kib() -> int:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited
    from the parent process across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--layout", default="5ch")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--memory-of", choices=list(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_of:
        print(json.dumps({"peak_mib": peak_memory_mib(args.memory_of, args)}))
        return

    kp = poses(args.batch, args.device)
    times: dict[str, list[float]] = {k: [] for k in IMPLEMENTATIONS}
    for fn in IMPLEMENTATIONS.values():  # warm-up
        step(fn, kp, args)
    for _ in range(args.repeats):
        for name, fn in IMPLEMENTATIONS.items():
            t0 = time.perf_counter()
            step(fn, kp, args)
            times[name].append(time.perf_counter() - t0)
    fast = render_skeleton_image(kp, HUMAN, args.layout, (args.size, args.size))
    dense = render_skeleton_image_dense(kp, HUMAN, args.layout, (args.size, args.size))
    mem = {}
    for name in IMPLEMENTATIONS:
        cmd = [sys.executable, __file__, "--memory-of", name, "--batch", str(args.batch),
               "--size", str(args.size), "--layout", args.layout, "--device", args.device]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        mem[name] = json.loads(out.strip().splitlines()[-1])["peak_mib"]

    dev = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"skeleton image forward+backward, HUMAN {args.layout}, B={args.batch}, "
          f"{args.size}x{args.size}, device={args.device} ({dev}), "
          f"threads={torch.get_num_threads()}, torch {torch.__version__}")
    print(f"max |fast - dense| = {(fast - dense).abs().max().item():.2e}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in IMPLEMENTATIONS:
        print(f"{name:>6}: median {med[name] * 1e3:9.1f} ms   peak memory +{mem[name]:8.1f} MiB")
    print(f"speed-up: {med['dense'] / med['fast']:.1f}x   "
          f"memory ratio dense/fast: {mem['dense'] / max(mem['fast'], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
