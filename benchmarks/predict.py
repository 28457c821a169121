"""Speed and memory of ``abspose predict`` end to end on a generated 720p clip.

    python benchmarks/predict.py                      # 300 frames, default-size model, CPU
    python benchmarks/predict.py --frames 300 --device cuda
    python benchmarks/predict.py --memory             # peak memory, short vs long clip
    python benchmarks/predict.py --preset small       # a model preset, random weights

Prints a Markdown table: frames per second of each stage alone (decode, decode + crop,
the model) and of the whole command (decode, crop, infer, map back, flips, write the
tidy CSV), median of ``--repeats`` runs. The model is the shipped default when it is
installed, else a randomly initialised model of the default size (same speed).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/ holds scripts named like the project's packages (training.py): keep the
# script's own folder off the import path so ``training`` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.camera import PerspectiveCamera, euler_to_matrix, forward_kinematics  # noqa: E402
from core.skeleton import HUMAN  # noqa: E402


def walk_keypoints(t: int, size=(720, 1280)) -> np.ndarray:
    """(J, 2) pixels of frame ``t`` of the generated clip: the human skeleton walking
    across the picture 4 m away, swinging arms and legs, slowly turning."""
    j = HUMAN.num_keypoints
    rot = torch.eye(3).repeat(1, j, 1, 1)
    phase = 2 * math.pi * t / 30
    rot[0, 0] = euler_to_matrix(torch.tensor([[0.0, 0.8 * math.sin(t / 60), 0.0]]))[0]
    for k, s in ((1, 1), (4, -1), (11, -1), (14, 1)):  # legs and arms swing
        rot[0, k] = euler_to_matrix(torch.tensor([[0.5 * s * math.sin(phase), 0.0, 0.0]]))[0]
    root = torch.tensor([[-1.0 + 2.0 * (t % 150) / 150, 0.0, 4.0]])
    pos, _ = forward_kinematics(HUMAN, rot, root_position=root)
    return PerspectiveCamera(size).project(pos)[0].numpy()


def make_clip(path: Path, frames: int, size=(720, 1280), fps: float = 30.0) -> Path:
    """A person-like figure (thick limbs in the channel colours, a head) walking over a
    textured background (:func:`walk_keypoints`), written as mp4; no real footage."""
    from core.video import VideoWriter

    h, w = size
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(40, 200, (h, w, 3), dtype=np.uint8), (0, 0), 6)
    colors = (HUMAN.channel_colors("5ch") * 255).astype(int)
    with VideoWriter(path, fps) as writer:
        for t in range(frames):
            kp = walk_keypoints(t, size)
            frame = background.copy()
            for (a, b), ch in zip(HUMAN.edges, HUMAN.edge_channel("5ch"), strict=True):
                cv2.line(frame, tuple(int(v) for v in kp[a]), tuple(int(v) for v in kp[b]),
                         tuple(int(c) for c in colors[ch]), 14, cv2.LINE_AA)
            cv2.circle(frame, tuple(int(v) for v in kp[HUMAN.index("nose")]), 22,
                       (230, 190, 160), -1, cv2.LINE_AA)
            writer.write(frame)
    return path


def model_checkpoint(folder: Path, preset: str | None) -> tuple[Path, str]:
    """The shipped default model, or (if absent, or a preset is asked for) a randomly
    initialised model of a preset's size: the speed does not depend on the weights."""
    from core.checkpoint import default_checkpoint_path, save_checkpoint
    from core.models import AbsPoseModel, ModelConfig

    if preset is None and default_checkpoint_path().is_file():
        return default_checkpoint_path(), "shipped default"
    preset = preset or "default"
    torch.manual_seed(0)
    path = save_checkpoint(folder / f"{preset}.pt", AbsPoseModel(ModelConfig.preset(preset)))
    return path, f"preset {preset!r}, random weights"


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stage_times(clip: Path, ckpt: Path, frames: int, device: str, repeats: int, out: Path):
    from core.checkpoint import load_model
    from core.crop import crop_frame, letterbox_transform
    from core.predict import Predictor
    from core.video import VideoReader
    from training.cli import main

    reader = VideoReader(clip)
    rows = []
    rows.append(("decode (OpenCV, RGB)", frames / timed(lambda: sum(1 for _ in reader),
                                                         repeats)))
    model = load_model(ckpt)
    tr = letterbox_transform(reader.size, model.input_size)
    rows.append(("decode + letterbox crop", frames / timed(
        lambda: [crop_frame(f, tr) for f in reader], repeats)))
    pred = Predictor(model, device=device, batch_size=32, progress=False)
    x = np.random.default_rng(0).integers(0, 255, (32, *model.input_size, 3), dtype=np.uint8)
    pred._infer(x)  # warm up

    def infer():
        for _ in range(max(1, frames // 32)):
            out = pred._infer(x)
        if pred.device.type == "cuda":
            torch.cuda.synchronize()
        return out

    rows.append(("model alone (batch 32)", 32 * max(1, frames // 32) / timed(infer, repeats)))
    args = ["predict", str(clip), "--checkpoint", str(ckpt), "--device", device, "--out",
            str(out), "--overwrite", "--no-progress"]
    rows.append(("`abspose predict` end to end (CSV)", frames / timed(lambda: main(args),
                                                                       repeats)))
    return rows, pred


_PEAK = """
import resource, sys
from training.cli import main
code = main(sys.argv[1:])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_memory(clip: Path, ckpt: Path, device: str, out: Path) -> float:
    """Peak resident memory (MiB) of a fresh process running ``abspose predict``."""
    res = subprocess.run([sys.executable, "-c", _PEAK, "predict", str(clip), "--checkpoint",
                          str(ckpt), "--device", device, "--out", str(out), "--overwrite",
                          "--no-progress"], capture_output=True, text=True, check=True)
    kb = next(int(line.split()[1]) for line in res.stdout.splitlines()
              if line.startswith("PEAK_KB"))
    return kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default=None,
                        help="time a random model of this preset (default, small, tiny) "
                             "instead of the shipped default model")
    parser.add_argument("--memory", action="store_true",
                        help="peak memory of the command on a short and a 10x longer clip")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt, kind = model_checkpoint(tmp, args.preset)
        clip = make_clip(tmp / "clip720p.mp4", args.frames)
        rows, pred = stage_times(clip, ckpt, args.frames, args.device, args.repeats,
                                 tmp / "out")
        from core.device import describe_device

        print(f"{args.frames} frames 1280x720, model: {kind}, input "
              f"{pred.input_size[1]}x{pred.input_size[0]}, device "
              f"{describe_device(pred.device)}, median of {args.repeats}\n")
        print("| stage | frames/s |\n|---|---|")
        for name, fps in rows:
            print(f"| {name} | {fps:.1f} |")
        if args.memory:
            long = make_clip(tmp / "long.mp4", 10 * args.frames, size=(720, 1280))
            short_mb = peak_memory(clip, ckpt, args.device, tmp / "mem")
            long_mb = peak_memory(long, ckpt, args.device, tmp / "mem")
            print(f"\n| clip | peak memory (MiB) |\n|---|---|\n"
                  f"| {args.frames} frames | {short_mb:.0f} |\n"
                  f"| {10 * args.frames} frames | {long_mb:.0f} |")


if __name__ == "__main__":
    main()
