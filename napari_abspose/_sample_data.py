"""napari sample data (File > Open Sample > napari-abspose): the shipped clip, and the
clip with the default model's predictions.

The clip is ``sample_clip.mp4`` of the installed sample data
(:func:`core.checkpoint.sample_data_dir`; else its first video); the model is the
shipped default (:func:`core.checkpoint.load_model`).
"""

from __future__ import annotations

from pathlib import Path

from core.checkpoint import sample_data_dir
from core.errors import InputError
from napari_abspose._reader import VIDEO_SUFFIXES, video_layer
from napari_abspose.layers import track_to_points

SAMPLE_DIR = sample_data_dir()
SAMPLE_CLIP = "sample_clip.mp4"


def sample_clip_path(folder: Path | None = None) -> Path:
    """The shipped sample clip (raises InputError when there is none)."""
    folder = SAMPLE_DIR if folder is None else Path(folder)
    preferred = folder / SAMPLE_CLIP
    if preferred.is_file():
        return preferred
    videos = sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES) \
        if folder.is_dir() else []
    if not videos:
        raise InputError(f"no sample clip is installed (looked for {preferred})")
    return videos[0]


def sample_clip() -> list:
    """The sample clip as a lazy video layer."""
    return [video_layer(sample_clip_path())]


def sample_clip_predicted() -> list:
    """The sample clip with the default model's keypoints (open the dock for the
    skeleton, the skeleton images and the 3D view)."""
    from core.checkpoint import load_model
    from core.predict import Predictor

    path = sample_clip_path()
    track = Predictor(load_model(None), progress=False).predict_video(path)
    return [video_layer(path), track_to_points(track)]
