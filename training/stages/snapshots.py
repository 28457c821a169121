"""Progress pictures: one row per sample, columns input | predicted skeleton image |
analytic skeleton image (reprojected 3D) | reconstruction | keypoints drawn."""

from __future__ import annotations

import numpy as np
import torch

from core.camera import normalized_to_pixel
from core.overlay import draw_skeleton
from core.skeleton import Skeleton
from core.skeleton_image import skeleton_image_to_rgb


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float [0, 1] -> (B, H, W, 3) uint8."""
    x = image.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return (x * 255 + 0.5).astype(np.uint8)


def snapshot_grid(skeleton: Skeleton, layout: str, image: torch.Tensor,
                  skeleton_image: torch.Tensor, analytic: torch.Tensor | None,
                  reconstruction: torch.Tensor | None, keypoints: torch.Tensor,
                  rows: int = 4) -> np.ndarray:
    """(H', W', 3) uint8 grid of the first ``rows`` samples (see the module docstring).
    ``keypoints`` (B, J, 2) normalized; missing columns (None) are left black."""
    n = min(rows, image.shape[0])
    h, w = image.shape[-2:]
    colors = skeleton.channel_colors(layout)
    inputs = _rgb(image[:n])
    blank = np.zeros((n, h, w, 3), np.uint8)
    kp = normalized_to_pixel(keypoints[:n].detach().float().cpu(), (h, w)).numpy()
    cols = [
        inputs,
        skeleton_image_to_rgb(skeleton_image[:n], colors),
        skeleton_image_to_rgb(analytic[:n], colors) if analytic is not None else blank,
        _rgb(reconstruction[:n]) if reconstruction is not None else blank,
        np.stack([draw_skeleton(inputs[i], kp[i], skeleton, layout, thickness=1)
                  for i in range(n)]),
    ]
    rows_img = [np.concatenate([c[i] for c in cols], axis=1) for i in range(n)]
    return np.concatenate(rows_img, axis=0)
