"""napari-abspose core: skeletons, geometry, the skeleton image, the model, inference,
video reading and keypoint export. Depends on torch, numpy and OpenCV only."""

from __future__ import annotations

import importlib
from typing import Any

from core._version import __version__
from core.camera import PerspectiveCamera, forward_kinematics
from core.errors import AbsPoseError, CheckpointError, InputError, ShapeError, SkeletonError
from core.skeleton import HUMAN, QUADRUPED, Skeleton, load_skeleton
from core.skeleton_image import SkeletonImage, render_skeleton_image, skeleton_image_to_rgb

# Heavier parts are imported on first use: ``from core import load_model`` works without
# paying for the model code at ``import core``.
_LAZY = {
    "load_model": "core.checkpoint",
    "Predictor": "core.predict",
}

__all__ = [
    "HUMAN",
    "QUADRUPED",
    "AbsPoseError",
    "CheckpointError",
    "InputError",
    "PerspectiveCamera",
    "ShapeError",
    "Skeleton",
    "SkeletonError",
    "SkeletonImage",
    "__version__",
    "forward_kinematics",
    "load_skeleton",
    "render_skeleton_image",
    "skeleton_image_to_rgb",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
