"""Do a few corrected frames teach the model? Refinement on a labelled clip with K of its
frames given as a person's corrections, scored on the other frames.

    python benchmarks/corrections.py CLIP.mp4 [--checkpoint CKPT] [--k 0 5 10 20]
        [--picks suggest random] [--steps 200] [--config cpu] [--seed 0] [--json out.json]
        [--work DIR]

``CLIP.mp4`` has its labels beside it (``CLIP.npz``, as ``abspose synth`` writes them;
use subjects the model never saw, e.g. ``--style target --subjects S11``). The model
(default: the shipped one) predicts the clip; K frames are chosen from the predictions
by ``abspose suggest`` (``suggest``) or uniformly at random (``random``, the control);
their true keypoints become the corrections, every point of those frames marked edited,
as a person who fixed and confirmed them would leave them; the model is refined on the
clip with them (``abspose refine --labels``), K = 0 without labels. Each refined model
predicts the clip again and is scored on the frames that were not corrected: error in
px at 128 x 128 as predicted and ignoring flips, the clear flip rate, and the same
figures of the K = 0 model on the same frames, so each row compares like with like.
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

from core.checkpoint import default_checkpoint_path, load_model  # noqa: E402
from core.export import write_tidy_csv  # noqa: E402
from core.predict import Predictor  # noqa: E402
from core.suggest import suggest_frames  # noqa: E402
from core.track import Track  # noqa: E402
from training.evaluate import frame_errors, load_labels  # noqa: E402
from training.stages import run_to_end  # noqa: E402
from training.stages.refine import refine_iter  # noqa: E402


def predict(checkpoint: Path, clip: Path) -> Track:
    return Predictor(load_model(checkpoint), device="cpu", progress=False).predict_video(clip)


def scores(track: Track, labels, skeleton, frames: np.ndarray) -> dict[str, float]:
    e = frame_errors(track.keypoints, labels, skeleton, track.frame_size)
    sel = np.zeros(len(track), bool)
    sel[frames] = True
    return {"px": float(e.plain[sel].mean()),
            "px_ignore_flips": float(np.minimum(e.plain, e.mirrored)[sel].mean()),
            "clear_flip_rate": float(e.clear_flip[sel].mean()), "frames": int(sel.sum())}


def corrections_file(track: Track, labels, frames: np.ndarray, path: Path) -> Path:
    """The tidy CSV a person leaves after fixing ``frames``: the true keypoints there,
    every point of them edited; the predictions elsewhere."""
    kp = track.keypoints.copy()
    truth = labels.keypoints_2d[frames]
    ok = np.isfinite(truth).all(-1)
    kp[frames] = np.where(ok[..., None], truth, kp[frames])
    edited = np.zeros(kp.shape[:2], bool)
    edited[frames] = ok
    fixed = Track(track.keypoint_names, kp, track.confidence, fps=track.fps,
                  frame_size=track.frame_size)
    return write_tidy_csv(fixed, path, edited=edited)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--k", type=int, nargs="+", default=[0, 5, 10, 20])
    ap.add_argument("--picks", nargs="+", default=["suggest", "random"],
                    choices=["suggest", "random"])
    ap.add_argument("--steps", type=int, default=None, help="refine steps (preset's)")
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--work", type=Path, default=Path("corrections_runs"))
    ap.add_argument("--runs", nargs="+", default=None, metavar="K:PICK",
                    help="only these runs, e.g. 0:none 10:suggest 10:random (default: every "
                         "K with every pick)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or default_checkpoint_path()
    model = load_model(ckpt)
    skeleton = model.skeleton
    labels = load_labels(args.clip.with_suffix(".npz"), skeleton)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} "
          f"threads; {args.clip} ({len(labels.keypoints_2d)} frames); model {ckpt}")
    args.work.mkdir(parents=True, exist_ok=True)
    before = predict(ckpt, args.clip)
    t = len(before)
    rng = np.random.default_rng(args.seed)
    runs: dict[str, dict] = {}
    plan = [(k, pick) for k in sorted(set(args.k))
            for pick in (["none"] if k == 0 else args.picks)]
    if args.runs:
        plan = [(int(r.split(":")[0]), r.split(":")[1]) for r in args.runs]
        if (0, "none") not in plan:
            plan.insert(0, (0, "none"))  # the reference of every row
    for k, pick in plan:
        name = f"K={k} {pick}"
        if k == 0:
            frames = np.zeros(0, np.int64)
        elif pick == "suggest":
            frames = np.array(sorted(s.frame for s in suggest_frames(before, k)))
        else:
            frames = np.sort(rng.choice(t, k, replace=False))
        run = args.work / name.replace(" ", "_").replace("=", "")
        csv = (corrections_file(before, labels, frames, run / f"{args.clip.stem}_keypoints.csv")
               if k else None)
        start = time.perf_counter()
        last = run_to_end(refine_iter([args.clip], ckpt, out=run / "refine",
                                      config=args.config, steps=args.steps, device="cpu",
                                      labels=csv, overrides=[f"seed={args.seed}"] + (
                                          [f"threads={args.threads}"] if args.threads
                                          else [])),
                          "refine", enabled=False)
        wall = time.perf_counter() - start
        runs[name] = {"frames_corrected": frames.tolist(), "wall_s": wall,
                      "track": predict(last.checkpoint, args.clip)}
        print(f"  {name}: refined in {wall:.0f} s", flush=True)
    base = runs["K=0 none"]["track"]
    rows = {}
    for name, r in runs.items():
        other = np.setdiff1d(np.arange(t), r["frames_corrected"])
        rows[name] = {"refined": scores(r["track"], labels, skeleton, other),
                      "no_corrections": scores(base, labels, skeleton, other),
                      "before_refine": scores(before, labels, skeleton, other),
                      "wall_s": r["wall_s"], "frames_corrected": r["frames_corrected"]}
    print("\n| corrections | frames scored | px, no corrections | px | change | "
          "px ignoring flips (no corr. / with) | clear flips (no corr. / with) | "
          "refine wall s |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        a, b = r["no_corrections"], r["refined"]
        print(f"| {name} | {b['frames']} | {a['px']:.2f} | {b['px']:.2f} | "
              f"{(b['px'] / a['px'] - 1) * 100:+.0f} % | {a['px_ignore_flips']:.2f} / "
              f"{b['px_ignore_flips']:.2f} | {a['clear_flip_rate']:.3f} / "
              f"{b['clear_flip_rate']:.3f} | {r['wall_s']:.0f} |")
    b0 = scores(before, labels, skeleton, np.arange(t))
    print(f"\nbefore any refinement, all {t} frames: {b0['px']:.2f} px, ignoring flips "
          f"{b0['px_ignore_flips']:.2f}, clear flips {b0['clear_flip_rate']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
