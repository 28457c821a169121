"""What the stage tests share: small clips to train on."""

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_clip(path: Path, frames: int = 12, size: int = 64, seed: int = 0) -> Path:
    """A small clip: a bright moving blob on a textured background."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    for i in range(frames):
        f = background.copy()
        cv2.circle(f, (10 + 2 * i, size // 2), 6, (255, 200, 50), -1)
        out.write(f)
    out.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_clip(folder / "a.mp4", seed=1)
    write_clip(folder / "b.mp4", seed=2)
    return folder
