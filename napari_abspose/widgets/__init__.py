"""The "Pose estimation" dock and its sections (one small widget per file)."""

from napari_abspose.widgets.dock import PoseEstimationDock, open_review

__all__ = ["PoseEstimationDock", "open_review"]
