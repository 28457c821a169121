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
    for clip in sorted(folder.glob("*.mp4")) if folder.is_dir() else []:
        if clip.with_suffix(".npz").is_file():
            return clip, clip.with_suffix(".npz")
    return None


def resolve_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The clip and labels to use; one error naming everything that is missing."""
    from core.checkpoint import default_checkpoint_path
    from core.errors import InputError

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
        labels = clip.with_suffix(".npz")
        if not labels.is_file():
            missing.append(f"the labels of {clip} ({labels.name} beside it)")
    if missing:
        raise InputError("cannot run the demo, missing: " + " and ".join(missing))
    return clip, labels


def run(args: argparse.Namespace) -> int:
    from core.export import FORMATS
    from training.commands.predict import make_predictor, predict_one

    clip, labels_path = resolve_inputs(args)
    labels = load_labels(labels_path)
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


def load_labels(path: Path) -> dict:
    """The sample labels: keypoint_names (J,), keypoints_2d (T, J, 2) pixels, visibility
    (T, J), keypoints_3d (T, J, 3) metres (camera frame); other arrays are kept."""
    import numpy as np

    from core.errors import InputError

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read the labels ({err})") from None
    need = [k for k in ("keypoint_names", "keypoints_2d") if k not in data]
    if need:
        raise InputError(f"{path}: the labels lack {', '.join(need)}")
    data["keypoint_names"] = [str(k) for k in data["keypoint_names"]]
    return data


def check_labels(labels: dict, skeleton) -> None:
    from core.errors import CheckpointError

    if set(labels["keypoint_names"]) != set(skeleton.keypoints):
        raise CheckpointError(
            f"the model is for skeleton {skeleton.name!r} ({skeleton.num_keypoints} keypoints), "
            f"the clip's labels have {len(labels['keypoint_names'])} other keypoints")


def label_errors(track, labels: dict, skeleton) -> dict[str, float]:
    """Prediction vs labels: 2D error (pixels, visible keypoints) and 3D errors (mm)
    after aligning the root (MPJPE) and after a similarity (PA-MPJPE). Left/right flips:
    :func:`benchmark_line`."""
    import numpy as np

    order = [labels["keypoint_names"].index(k) for k in track.keypoint_names]
    gt2 = np.asarray(labels["keypoints_2d"], dtype=np.float64)[:, order]
    n = min(len(track), len(gt2))
    gt2, pred2 = gt2[:n], track.keypoints[:n].astype(np.float64)
    vis = np.ones(gt2.shape[:2], bool) if "visibility" not in labels else \
        np.asarray(labels["visibility"])[:n, order] > 0
    vis &= np.isfinite(gt2).all(-1) & np.isfinite(pred2).all(-1)
    err = np.linalg.norm(pred2 - gt2, axis=-1)
    size = np.array([np.linalg.norm(g[v].max(0) - g[v].min(0)) if v.sum() > 1 else np.nan
                     for g, v in zip(gt2, vis, strict=True)])
    out = {"frames": float(n), "mean_px": float(err[vis].mean()),
           "median_px": float(np.median(err[vis])),
           "pck10": float((err <= 0.1 * size[:, None])[vis].mean())}
    if "keypoints_3d" in labels:
        gt3 = np.asarray(labels["keypoints_3d"], dtype=np.float64)[:n, order]
        pred3 = track.keypoints_3d[:n].astype(np.float64)
        good = np.isfinite(gt3).all((1, 2)) & np.isfinite(pred3).all((1, 2))
        root = track.keypoint_names.index("pelvis") if "pelvis" in track.keypoint_names else None
        out["mpjpe_mm"] = 1000 * float(np.mean([_mpjpe(p, g, root) for p, g in
                                                zip(pred3[good], gt3[good], strict=True)]))
        out["pa_mpjpe_mm"] = 1000 * float(np.mean([_pa_mpjpe(p, g) for p, g in
                                                   zip(pred3[good], gt3[good], strict=True)]))
    return out


def _mpjpe(pred, gt, root):
    """Mean joint error after moving the root (or the centroid) of both onto each other."""
    import numpy as np

    p = pred - (pred[root] if root is not None else pred.mean(0))
    g = gt - (gt[root] if root is not None else gt.mean(0))
    return np.linalg.norm(p - g, axis=-1).mean()


def _pa_mpjpe(pred, gt):
    """Mean joint error after the best similarity (rotation, scale, translation)."""
    import numpy as np

    p, g = pred - pred.mean(0), gt - gt.mean(0)
    u, s, vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    u[:, -1] *= d
    rot = u @ vt
    scale = s.sum() / max((p ** 2).sum(), 1e-12)
    return np.linalg.norm(scale * p @ rot - g, axis=-1).mean()


def format_errors(e: dict[str, float]) -> str:
    lines = [f"error against the clip's labels ({int(e['frames'])} frames):",
             f"  2D           mean {e['mean_px']:.1f} px, median {e['median_px']:.1f} px, "
             f"PCK@0.1 {100 * e['pck10']:.1f}% (within 10% of the subject's size)"]
    if "mpjpe_mm" in e:
        lines.append(f"  3D           MPJPE {e['mpjpe_mm']:.0f} mm (root aligned), "
                     f"PA-MPJPE {e['pa_mpjpe_mm']:.0f} mm")
    return "\n".join(lines)
