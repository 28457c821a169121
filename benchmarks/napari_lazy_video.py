"""How fast a video opens and scrubs in napari through :class:`core.video.LazyVideo`.

    python benchmarks/napari_lazy_video.py                   # 100k-frame synthetic video
    python benchmarks/napari_lazy_video.py --frames 20000    # shorter (faster to write)
    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/napari_lazy_video.py --napari

Writes a long synthetic mp4 once (kept in --work between runs), then measures:

* open: ``LazyVideo(path)`` (header and first frame only) and the napari reader's
  layer data for it, against a full decode of the file (what an eager reader pays);
* per-frame latency of the access patterns of the frame slider: playback (next frame),
  a short jump ahead, random jumps anywhere (seek), a revisit (cache);
* random access by the exact-but-slow ``VideoReader.read`` (decodes from the start) on
  a few frames, for scale.

The same on ``../shared/data/real/dance_part1.mp4`` (720x406 H.264 phone video) when it
is there. Medians over the repeats; the machine may be shared, so compare rows of one
run rather than runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from core.video import LazyVideo, VideoReader, VideoWriter
from napari_abspose._reader import read_file

ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIP = ROOT.parent / "shared" / "data" / "real" / "dance_part1.mp4"


def long_video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    if path.is_file() and VideoReader(path).stated_frame_count == frames:
        return path
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    with VideoWriter(path, 30.0) as out:
        for t in range(frames):
            f = np.empty((h, w, 3), np.uint8)
            f[..., 0] = (xx + 3 * t) % 256
            f[..., 1] = (yy * 2 + t) % 256
            f[..., 2] = 128
            out.write(f)
    return path


def ms(times: list[float]) -> str:
    return f"{1000 * statistics.median(times):8.2f}"


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def measure(path: Path, label: str, repeats: int, slow_reads: int) -> None:
    n = VideoReader(path).stated_frame_count
    rng = np.random.default_rng(0)
    print(f"\n{label}: {path.name}, {n} frames")
    open_t = timed(lambda: LazyVideo(path), 5)
    layer_t = timed(lambda: read_file(path), 5)
    print(f"  open LazyVideo                  {ms(open_t)} ms  (median of 5)")
    print(f"  napari reader -> layer data     {ms(layer_t)} ms")
    if n <= 5000:
        full = timed(lambda: sum(1 for _ in VideoReader(path)), 1)
        print(f"  full decode (eager reader)      {ms(full)} ms")

    v = LazyVideo(path, cache_size=64)
    repeats = min(repeats, (n - 2) // 11)  # playback and jumps must fit in the video
    start = int(rng.integers(0, n - 11 * repeats - 1))
    v[start]
    frames = iter(range(start + 1, start + 1 + repeats))
    play = timed(lambda: v[next(frames)], repeats)
    jumps = iter(int(start + repeats + 10 * (k + 1)) for k in range(repeats))
    ahead = timed(lambda: v[next(jumps)], repeats)
    targets = iter(rng.integers(0, n, repeats).tolist())
    seek = timed(lambda: v[next(targets)], repeats)
    revisit = timed(lambda: v[start + 5], repeats)
    print(f"  playback, next frame            {ms(play)} ms/frame  ({repeats} frames)")
    print(f"  jump 10 frames ahead            {ms(ahead)} ms/frame")
    print(f"  random jump (seek)              {ms(seek)} ms/frame")
    print(f"  revisit (cache)                 {ms(revisit)} ms/frame")
    print(f"  decoder stats: {v.stats}")
    if slow_reads:
        reader = VideoReader(path)
        idx = iter(rng.integers(0, n, slow_reads).tolist())
        slow = timed(lambda: reader.read(next(idx)), slow_reads)
        print(f"  VideoReader.read (from start)   {ms(slow)} ms/frame  ({slow_reads} frames)")


def measure_napari(path: Path, repeats: int) -> None:
    """The same through a napari viewer: open, then move the frame slider."""
    import napari

    viewer = napari.Viewer(show=False)
    try:
        opens = []
        for _ in range(4):  # the first open pays napari's and OpenGL's start-up: dropped
            viewer.layers.clear()
            t = time.perf_counter()
            viewer.open(str(path), plugin="napari-abspose")
            opens.append(time.perf_counter() - t)
        n = viewer.layers[0].data.shape[0]
        rng = np.random.default_rng(1)
        start = int(rng.integers(0, max(1, n - repeats - 1)))
        steps = iter(range(start, start + repeats))
        play = timed(lambda: viewer.dims.set_current_step(0, next(steps)), repeats)
        targets = iter(rng.integers(0, n, repeats).tolist())
        jump = timed(lambda: viewer.dims.set_current_step(0, next(targets)), repeats)
        print(f"  napari: open {ms(opens[1:])} ms; slider next frame {ms(play)} ms, "
              f"random frame {ms(jump)} ms (slice + draw of the layer)")
    finally:
        viewer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--work", type=Path, default=Path("/tmp/abspose_bench"))
    parser.add_argument("--napari", action="store_true",
                        help="also time a napari viewer (needs a display, e.g. xvfb-run)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} CPU cores (may be shared)")
    args.work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    path = long_video(args.work / f"long_{args.frames}.mp4", args.frames, tuple(args.size))
    print(f"test video ready in {time.perf_counter() - t:.0f} s: {path}")
    clips = [(path, f"synthetic {args.size[1]}x{args.size[0]} mp4v", 3)]
    if SHARED_CLIP.is_file():
        clips.append((SHARED_CLIP, "real phone video 720x406 H.264", 10))
    for clip, label, slow in clips:
        measure(clip, label, args.repeats, slow_reads=slow)
        if args.napari:
            measure_napari(clip, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
