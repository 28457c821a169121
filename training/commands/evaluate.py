"""``abspose evaluate``: errors of a model on labelled clips (the paper's tables) or on
labelled photos of real people.

Predicts every video of FOLDER that has labels next to it (``<name>.mp4`` +
``<name>.npz``, as ``abspose synth`` writes them) and prints, per activity and overall:
the mean keypoint error in pixels at 128 x 128 considering flips and ignoring them,
the flip rate, PCK and, where the labels have 3D, the root-relative MPJPE in mm.
What each number is exactly is in ``training/evaluate.py`` and docs/RESULTS.md::

    abspose evaluate target_test --checkpoint model.pt --json results.json
    abspose evaluate target_test --checkpoint model.pt --refined refined_runs

Given a COCO keypoints JSON instead of a folder (the format COCO, CVAT and Label Studio
write; keypoint names ours or COCO-17's; images relative to the JSON), it crops every
annotated person (a square of 1.25 x the longer side of its box, at the model's input
size) and prints the error on the 12 limb points in px at 128 x 128, ignoring and
considering left/right flips, and PCK, per ``source`` field and overall::

    abspose evaluate photos/person_keypoints.json --json photos.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from training.commands import plain_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="errors of a model on labelled clips or photos",
                       description=plain_help(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, metavar="FOLDER_OR_JSON",
                   help="videos with .npz labels next to them, or a COCO keypoints JSON")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint (default: the shipped default model)")
    p.add_argument("--refined", type=Path, default=None, nargs="?", const=Path(""),
                   metavar="DIR",
                   help="evaluate each clip with its own refined model: DIR/<name>/refined.pt "
                        "(the folder `abspose refine --out DIR/<name>` writes) or, without "
                        "DIR, <name>.refined.pt next to the video")
    p.add_argument("--name", default=None, help="row name in the printed table")
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--batch-size", type=int, default=64, help="frames per batch (default 64)")
    p.set_defaults(func=run)


def refined_path(video: Path, folder: Path | None) -> Path:
    if folder is None or str(folder) in ("", "."):
        return video.with_name(f"{video.stem}.refined.pt")
    return folder / video.stem / "refined.pt"


def run(args: argparse.Namespace) -> int:
    from core.checkpoint import load_model
    from core.errors import InputError
    from training.evaluate import (
        ALL,
        evaluate_folder,
        find_labelled_clips,
        format_table,
        write_results,
    )

    if args.folder.suffix.lower() == ".json":
        return run_photos(args)
    clips = find_labelled_clips(args.folder)
    if args.refined is not None:
        paths = {v: refined_path(v, args.refined) for v, _ in clips}
        lacking = [str(p) for p in paths.values() if not p.is_file()]
        if lacking:
            raise InputError(f"no refined model for {len(lacking)} of {len(clips)} clips, e.g. "
                             f"{lacking[0]}; refine each with `abspose refine VIDEO --out ...`")
        loaded: dict[Path, object] = {}  # clips of one subject may share a refined model

        def model_for(video: Path):
            path = paths[video].resolve()
            if path not in loaded:
                loaded[path] = load_model(path)
            return loaded[path]
    else:
        model = load_model(args.checkpoint)

        def model_for(video: Path):
            return model

    t0 = time.perf_counter()
    results = evaluate_folder(args.folder, model_for, device=args.device,
                              batch_size=args.batch_size)
    results["seconds"] = time.perf_counter() - t0
    results["checkpoint"] = str(args.refined if args.refined is not None else
                                args.checkpoint or "default")
    name = args.name or results["checkpoint"]
    rows = {name: results["summary"]}
    for title, metric in (("error in px at 128x128, ignoring flips", "error_ignore_flips"),
                          ("error in px at 128x128, considering flips", "error_consider_flips")):
        print(f"\n{title}\n" + format_table(rows, metric))
    overall = results["summary"][ALL]
    extra = ", ".join(f"{k} {v:.3f}" for k, v in overall.items()
                      if k.startswith(("pck", "flip", "mpjpe")))
    print(f"\n{overall['frames']} frames of {len(clips)} clips in {results['seconds']:.1f} s; "
          f"{extra}")
    if args.json is not None:
        print(f"wrote {write_results(args.json, results)}")
    return 0


def run_photos(args: argparse.Namespace) -> int:
    from core.checkpoint import load_model
    from core.errors import InputError
    from training.evaluate import ALL, evaluate_photos, write_results

    if args.refined is not None:
        raise InputError("--refined is for clips; photos are scored with one model")
    if not args.folder.is_file():
        raise InputError(f"{args.folder}: no such file")
    model = load_model(args.checkpoint)
    t0 = time.perf_counter()
    results = evaluate_photos(args.folder, model, device=args.device,
                              batch_size=args.batch_size)
    results["seconds"] = time.perf_counter() - t0
    results["checkpoint"] = str(args.checkpoint or "default")
    print(f"\n{results['people']} people of {args.folder}, model "
          f"{args.name or results['checkpoint']}; 12 limb points, px at 128 x 128")
    print("| source | people | px (ignore flips) | px | PCK@12.8 (ignore flips) | PCK@12.8 |"
          " PCK@25.6 | flipped people |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = results["summary"]
    for name in [*sorted(k for k in rows if k != ALL), ALL]:
        r = rows[name]
        print(f"| {name} | {r['people']} | {r['px_ignore_flips']:.1f} | {r['px']:.1f} | "
              f"{r['pck@12.8_ignore_flips']:.2f} | {r['pck@12.8']:.2f} | "
              f"{r['pck@25.6']:.2f} | {r['flipped_people']:.2f} |")
    if args.json is not None:
        print(f"wrote {write_results(args.json, results)}")
    return 0
