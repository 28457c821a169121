"""``abspose predict``: 2D and 3D keypoints for a video, or every video in a folder.

Writes the chosen export formats next to the input (or into ``--out``), optionally an
overlay video and a contact sheet, and prints a short summary per video. Existing
output files are never replaced without ``--overwrite``. In a folder, videos that
cannot be read are skipped and named at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from training.commands import plain_help

OVERLAY_SUFFIX = "_overlay.mp4"
SHEET_SUFFIX = "_contact_sheet.png"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict keypoints for a video or a folder of videos",
                       description=plain_help(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="VIDEO_OR_FOLDER")
    add_predict_options(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: next to the input)")
    p.add_argument("--format", default="csv",
                   help="export formats, comma-separated: csv (tidy, 2D and 3D), dlc "
                        "(DeepLabCut CSV), coco (COCO keypoints JSON), npz (3D arrays), "
                        "csv3d (3D CSV), or all (default: csv)")
    p.add_argument("--overlay", action="store_true",
                   help="also write <video>_overlay.mp4 and <video>_contact_sheet.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def add_predict_options(p: argparse.ArgumentParser) -> None:
    """Options shared with ``abspose demo``: model, device, batch, crop, smoothing."""
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint (default: the shipped default model)")
    p.add_argument("--skeleton", default=None,
                   help="refuse a checkpoint for another skeleton (name or YAML file)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--batch-size", type=int, default=32, help="frames per batch (default 32)")
    crop = p.add_mutually_exclusive_group()
    crop.add_argument("--bbox", type=parse_bbox, default=None, metavar="X,Y,W,H",
                      help="let the model see only this box (pixels) of every frame")
    crop.add_argument("--follow", action="store_true",
                      help="crop around the subject as found in the previous frames, back to "
                           "the whole frame when confidence drops")
    p.add_argument("--smooth", action="store_true",
                   help="smooth keypoints over time (One-Euro filter)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(
            f"expected x,y,w,h in pixels with positive w and h, got {text!r}")
    return values  # type: ignore[return-value]


def make_predictor(args: argparse.Namespace):
    """Load the checkpoint and build the Predictor the options describe."""
    from core.checkpoint import load_model
    from core.flips import OneEuro
    from core.predict import Predictor

    model = load_model(args.checkpoint, skeleton=args.skeleton)
    return Predictor(model, device=args.device, batch_size=args.batch_size,
                     crop="follow" if args.follow else "full", bbox=args.bbox,
                     smoothing=OneEuro() if args.smooth else None, progress=args.progress)


def run(args: argparse.Namespace) -> int:
    from core.errors import InputError
    from core.export import check_free, parse_formats
    from core.video import list_videos

    formats = parse_formats(args.format)
    source: Path = args.input
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_dir():
        videos = [v for v in list_videos(source) if not v.stem.endswith("_overlay")]
        if not videos:
            raise InputError(f"{source}: no video files in this folder")
    else:
        videos = [source]
    out_dir = args.out if args.out is not None else (source if source.is_dir()
                                                     else source.parent)
    planned = {v: outputs_for(v, out_dir, formats, args.overlay) for v in videos}
    check_free([p for paths in planned.values() for p in paths], args.overwrite)  # fail early

    predictor = make_predictor(args)
    skipped: list[str] = []
    for video in videos:
        try:
            predict_one(predictor, video, out_dir, formats, args.overlay,
                        overwrite=True)  # free or --overwrite: checked above
        except InputError as err:
            if len(videos) == 1:
                raise
            skipped.append(f"{video.name} ({err})")
            print(f"{video.name}: skipped: {err}")
    if skipped:
        done = len(videos) - len(skipped)
        if done == 0:
            raise InputError(f"none of the {len(videos)} videos in {source} could be read")
        print(f"\n{done} of {len(videos)} videos done; skipped {len(skipped)}:")
        for line in skipped:
            print(f"  {line}")
        return 1
    return 0


def outputs_for(video: Path, out_dir: Path, formats: list[str], overlay: bool) -> list[Path]:
    from core.export import export_paths

    paths = list(export_paths(out_dir, video.stem, formats).values())
    if overlay:
        paths += [out_dir / f"{video.stem}{suffix}" for suffix in (OVERLAY_SUFFIX, SHEET_SUFFIX)]
    return paths


def predict_one(predictor, video: Path, out_dir: Path, formats: list[str], overlay: bool,
                overwrite: bool = False):
    """Predict one video, write its exports (and overlay), print its summary.

    Returns the Track.
    """
    from core.export import export_track
    from core.overlay import render_overlay

    start = time.perf_counter()
    track = predictor.predict_video(video)
    written = export_track(track, out_dir, video.stem, formats, overwrite=overwrite)
    elapsed = time.perf_counter() - start
    overlay_s = None
    if overlay:
        t0 = time.perf_counter()
        written += render_overlay(video, track, out_dir / f"{video.stem}{OVERLAY_SUFFIX}",
                                  out_dir / f"{video.stem}{SHEET_SUFFIX}",
                                  layout=predictor.layout, progress=predictor.progress)
        overlay_s = time.perf_counter() - t0
    print(summary(track, elapsed, predictor, written, overlay_s))
    return track


def followed_frames(track, input_size) -> int:
    """How many frames of a ``--follow`` prediction the model saw in a box around the
    subject rather than the whole (letterboxed) frame."""
    import numpy as np

    from core.crop import letterbox_transform

    whole = np.float32(letterbox_transform(track.frame_size, input_size).box)
    return int((~np.isclose(track.boxes, whole, atol=0.5).all(axis=1)).sum())


def summary(track, elapsed: float, predictor, written: list[Path],
            overlay_s: float | None = None) -> str:
    """A few lines on what was predicted: frames, speed, confidence, flips, files."""
    import numpy as np

    from core.device import describe_device

    h, w = track.frame_size
    n = len(track)
    per_kp = np.nanmean(track.confidence, axis=0)
    low = np.argsort(per_kp)[:3]
    flips = np.flatnonzero(track.flip_suspect)
    shown = ", ".join(str(i) for i in flips[:12]) + (", ..." if len(flips) > 12 else "")
    lines = [
        f"{Path(track.source).name}: {n} frames, {w}x{h}, {track.fps:g} fps",
        f"  speed        {n / max(elapsed, 1e-9):.1f} frames/s end to end ({elapsed:.1f} s, "
        f"{describe_device(predictor.device)})",
        f"  confidence   mean {track.mean_confidence():.2f}; lowest "
        + ", ".join(f"{track.keypoint_names[j]} {per_kp[j]:.2f}" for j in low),
        f"  flips        {len(flips)} frame(s) suspected" + (f": {shown}" if len(flips) else ""),
    ]
    if getattr(predictor, "crop", None) == "follow" and track.boxes is not None:
        followed = followed_frames(track, predictor.input_size)
        lines.append(f"  follow       {followed} of {n} frames in a box around the subject; "
                     f"{n - followed} on the whole frame (subject not found with confidence)")
    if overlay_s is not None:
        lines.append(f"  overlay      drawn in {overlay_s:.1f} s")
    lines += [f"  {'wrote' if i == 0 else '':<12} {p}" for i, p in enumerate(written)]
    return "\n".join(lines)
