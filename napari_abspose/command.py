"""``abspose review``: napari with a video, the Pose estimation dock and predictions.

The video opens lazily (long videos open at once), the dock starts predicting in the
background with the model given (default: the shipped default model), and the results
appear as layers: keypoints, skeleton, per-channel skeleton images, and a 3D view.
With ``--keypoints`` a saved keypoint file (e.g. a tidy CSV with your corrections) is
opened instead of predicting; without it, the video's corrections file
(``<video>_corrections.csv``, which the dock saves before it refines) is opened when
there is one, so every edit made before comes back. Needs the napari extra:
``pip install "napari-abspose[napari]"``.
"""

# The plugin adds this command to ``abspose`` through the ``abspose.commands`` entry point
# (pyproject.toml): the command line names no plugin module and loads this one when it
# builds its parser, so napari is imported only when the command runs.

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import plain_help


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="review, correct and refine predictions in napari",
                       description=plain_help(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path, help="the video file")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="model checkpoint (default: the shipped default model)")
    p.add_argument("--keypoints", type=Path, default=None,
                   help="open this keypoint file (tidy CSV, DeepLabCut CSV, COCO JSON, 3D npz) "
                        "instead of predicting")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-predict", dest="predict", action="store_false",
                   help="open the video without predicting")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.checkpoint import default_checkpoint_path, load_checkpoint
    from core.errors import InputError
    from core.video import check_footage

    for path in (args.video, args.checkpoint, args.keypoints):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: no such file")
    if args.keypoints is None:
        from core.labels import corrections_path

        saved = corrections_path(args.video)
        if saved.is_file():
            print(f"opening the corrections saved before: {saved} (Predict in the dock "
                  "keeps them; --keypoints FILE opens another file)")
            args.keypoints = saved
    predict = args.predict and args.keypoints is None
    # the check predict makes, before a window opens on footage it would refuse
    model = args.checkpoint or default_checkpoint_path()
    check_footage(args.video, load_checkpoint(model)["input_size"]
                  if predict and model.is_file() else None)
    try:
        import napari
    except ImportError:
        raise InputError('napari is not installed: pip install "napari-abspose[napari]"') \
            from None
    from napari_abspose.display import display_problem

    problem = display_problem(f"abspose review {args.video}")
    if problem:
        raise InputError(problem)
    from napari_abspose.widgets.dock import open_review

    open_review(args.video, args.checkpoint, predict=predict, keypoints=args.keypoints,
                device=args.device)
    napari.run()
    return 0
