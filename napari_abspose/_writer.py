"""napari writers: a keypoints Points layer to tidy CSV, DeepLabCut CSV or COCO JSON.

The formats are :mod:`core.export`'s. The tidy CSV written here has one more column,
``edited`` (1 for points corrected by hand), so corrections survive a save and a
re-open (:func:`napari_abspose._reader.read_edited_column` reads it back); readers of
the plain tidy format ignore it. DeepLabCut CSV and COCO JSON keep the corrected
positions but have no place for the flag.

Each writer takes napari's multi-layer arguments: the path and a list of
``(data, attributes, layer_type)``; the one Points layer among them is written (a
skeleton Vectors layer selected with it is ignored). Returns the written paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.track import Track
from napari_abspose.layers import points_to_track

FullLayerData = tuple[Any, dict[str, Any], str]


def _track(layer_data: list[FullLayerData]) -> tuple[Track, np.ndarray]:
    points = [(d, attrs) for d, attrs, kind in layer_data if kind == "points"]
    if len(points) != 1:
        raise InputError(f"select exactly one keypoints (Points) layer to save, "
                         f"got {len(points)}")
    data, attrs = points[0]
    import pandas as pd

    features = attrs.get("features")
    features = pd.DataFrame(features) if features is not None else pd.DataFrame()
    return points_to_track(np.asarray(data), features, attrs.get("metadata") or {})


def _with_suffix(path: str, suffix: str) -> Path:
    p = Path(path)
    return p if p.suffix.lower() == suffix else p.with_name(p.name + suffix)


def write_tidy_csv(path: str, layer_data: list[FullLayerData]) -> list[str]:
    """Tidy CSV (:func:`core.export.write_tidy_csv`) plus the ``edited`` column."""
    track, edited = _track(layer_data)
    return [str(save_tidy_csv(track, edited, _with_suffix(path, ".csv")))]


def save_tidy_csv(track: Track, edited: np.ndarray, path: str | Path) -> Path:
    """Write the tidy CSV of ``track`` with an ``edited`` column (T, J) bool, atomically
    (:func:`core.export.write_tidy_csv`)."""
    from core.export import write_tidy_csv as core_write

    return core_write(track, path, edited=edited)


def write_dlc_csv(path: str, layer_data: list[FullLayerData]) -> list[str]:
    """DeepLabCut CSV (:func:`core.export.write_dlc_csv`)."""
    from core.export import write_dlc_csv as core_write

    track, _ = _track(layer_data)
    return [str(core_write(track, _with_suffix(path, ".csv")))]


def write_coco_json(path: str, layer_data: list[FullLayerData]) -> list[str]:
    """COCO keypoints JSON (:func:`core.export.write_coco_json`)."""
    from core.export import write_coco_json as core_write

    track, _ = _track(layer_data)
    return [str(core_write(track, _with_suffix(path, ".json")))]


WRITERS = {"csv": write_tidy_csv, "dlc": write_dlc_csv, "coco": write_coco_json}
