"""``abspose demo``: the main job on the shipped sample clip, end to end.

Runs the shipped default model on the labelled sample clip in ``sample_data/``, writes
every export format, the overlay video and the contact sheet to ``./abspose-demo/``
(replacing the previous demo's files), prints the summary and the error against the
clip's labels: 2D pixel error, left/right flips, 3D joint error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help
from training.commands.predict import add_predict_options

DEFAULT_OUT = Path("abspose-demo")


def sample_dir() -> Path:
    from core.checkpoint import sample_data_dir

    return sample_data_dir()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the default model on the sample clip, write every "
                                    "output to ./abspose-demo/", description=plain_help(__doc__))
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="output folder (default: ./abspose-demo)")
    add_predict_options(p)
    p.add_argument("--clip", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--labels", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def find_sample_clip(folder: Path) -> tuple[Path, Path] | None:
    """(clip, labels) of the first mp4 in ``folder`` with its labels ``<stem>.npz``
    beside it (as ``abspose synth`` writes them), or None."""
    from training.clips import find_clips

    found = find_clips(folder, extensions=(".mp4",))
    return found[0] if found else None


def resolve_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The clip and labels to use; one error naming everything that is missing."""
    from core.checkpoint import default_checkpoint_path
    from core.errors import InputError
    from training.clips import labels_path

    missing = []
    if args.checkpoint is None and not default_checkpoint_path().is_file():
        missing.append(f"the default model ({default_checkpoint_path()})")
    clip, labels = args.clip, args.labels
    if clip is None:
        found = find_sample_clip(sample_dir())
        if found is None:
            missing.append(f"the sample clip (an .mp4 with its labels <name>.npz beside it, "
                           f"in {sample_dir()})")
        else:
            clip, labels = found
    elif labels is None:
        labels = labels_path(clip)
        if not labels.is_file():
            missing.append(f"the labels of {clip} ({labels.name} beside it)")
    if missing:
        raise InputError("cannot run the demo, missing: " + " and ".join(missing))
    return clip, labels


def run(args: argparse.Namespace) -> int:
    from core.export import FORMATS
    from training.clips import read_labels
    from training.commands.predict import make_predictor, predict_one

    clip, labels_path = resolve_inputs(args)
    labels = read_labels(labels_path, keys=("keypoints_3d", "visibility"))
    predictor = make_predictor(args)
    check_labels(labels, predictor.skeleton)
    args.out.mkdir(parents=True, exist_ok=True)
    track = predict_one(predictor, clip, args.out, list(FORMATS), overlay=True, overwrite=True)
    print(format_errors(label_errors(track, labels, predictor.skeleton)))
    print(benchmark_line(track, labels_path, predictor.skeleton))
    return 0


def benchmark_line(track, labels_path: Path, skeleton) -> str:
    """Left/right flips and the clip's error in the benchmark's metric (``abspose
    evaluate``, docs/RESULTS.md)."""
    from training import evaluate

    labels = evaluate.load_labels(labels_path, skeleton)
    n = min(len(track), len(labels.keypoints_2d))
    labels.keypoints_2d, labels.activity = labels.keypoints_2d[:n], labels.activity[:n]
    fe = evaluate.frame_errors(track.keypoints[:n], labels, skeleton, track.frame_size)
    s = evaluate.summarize([fe])[evaluate.ALL]
    return (f"  left/right   {100 * s['flip_rate_clear']:.1f}% of frames clearly flipped (the "
            f"mirrored labels closer by over {evaluate.CLEAR_FLIP_PX:g} px at 128x128)\n"
            f"  benchmark    {s['error_consider_flips']:.2f} px at 128x128 considering flips, "
            f"{s['error_ignore_flips']:.2f} ignoring them (as `abspose evaluate` reports)")


def check_labels(labels: dict, skeleton) -> None:
    """The labels name the model's keypoints, no more and no fewer."""
    from core.errors import CheckpointError

    if {str(k) for k in labels["keypoint_names"]} != set(skeleton.keypoints):
        raise CheckpointError(
            f"the model is for skeleton {skeleton.name!r} ({skeleton.num_keypoints} keypoints), "
            f"the clip's labels have {len(labels['keypoint_names'])} other keypoints")


def label_errors(track, labels: dict, skeleton) -> dict[str, float]:
    """Prediction vs labels (:mod:`training.evaluate`): 2D error in the clip's pixels
    over the visible keypoints and PCK@0.1 of the subject's size
    (:func:`~training.evaluate.subject_pixel_errors`); 3D errors in mm, root-relative
    (MPJPE, :func:`~training.evaluate.mpjpe`) and after the best similarity (PA-MPJPE,
    :func:`~training.evaluate.pa_mpjpe`). Left/right flips: :func:`benchmark_line`."""
    import numpy as np

    from training import evaluate

    names = [str(k) for k in labels["keypoint_names"]]
    order = [names.index(k) for k in track.keypoint_names]
    gt2 = np.asarray(labels["keypoints_2d"], dtype=np.float64)[:, order]
    n = min(len(track), len(gt2))
    vis = None if "visibility" not in labels else np.asarray(labels["visibility"])[:n, order]
    e2 = evaluate.subject_pixel_errors(track.keypoints[:n], gt2[:n], vis)
    out = {"frames": float(n), "mean_px": e2["mean_px"], "median_px": e2["median_px"],
           "pck10": e2["pck"]}
    if "keypoints_3d" in labels:
        gt3 = np.asarray(labels["keypoints_3d"], dtype=np.float64)[:n, order]
        pred3 = np.asarray(track.keypoints_3d[:n], dtype=np.float64)
        good = np.isfinite(gt3).all((1, 2)) & np.isfinite(pred3).all((1, 2))
        root = track.keypoint_names.index(skeleton.keypoints[skeleton.parents.index(-1)])
        e3 = evaluate.mpjpe(pred3[good], gt3[good], root) if good.any() else None
        out["mpjpe_mm"] = float(np.mean(e3)) if e3 is not None else float("nan")
        out["pa_mpjpe_mm"] = float(np.mean(evaluate.pa_mpjpe(pred3[good], gt3[good]))) \
            if good.any() else float("nan")
    return out


def format_errors(e: dict[str, float]) -> str:
    lines = [f"error against the clip's labels ({int(e['frames'])} frames):",
             f"  2D           mean {e['mean_px']:.1f} px, median {e['median_px']:.1f} px, "
             f"PCK@0.1 {100 * e['pck10']:.1f}% (within 10% of the subject's size)"]
    if "mpjpe_mm" in e:
        lines.append(f"  3D           MPJPE {e['mpjpe_mm']:.0f} mm (root aligned), "
                     f"PA-MPJPE {e['pa_mpjpe_mm']:.0f} mm")
    return "\n".join(lines)
