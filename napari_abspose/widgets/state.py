"""What the dock's sections share: the viewer's video and keypoint layers, and the model.

:class:`PoseState` finds the video layer and the keypoints (Points) layer it works
on, and shows a :class:`~core.track.Track` as layers (keypoints, skeleton, per-channel
skeleton images). Hand edits, styles and the skeleton of the frame shown are its
:class:`~napari_abspose.widgets.editing.KeypointEditor`'s. It emits
:attr:`PoseState.keypoints_changed` when the keypoints are replaced or edited.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from core.errors import InputError
from core.track import Track
from napari_abspose.layers import AXIS_LABELS, META, keep_edited, layer_track, track_to_points
from napari_abspose.widgets.editing import KeypointEditor

log = logging.getLogger(__name__)


# Additive over the video: at this opacity the bones show and the person stays readable.
SKELETON_IMAGE_OPACITY = 0.35


def _kind(layer: Any) -> str | None:
    return (layer.metadata.get(META) or {}).get("kind") if hasattr(layer, "metadata") else None


class PoseState:
    """State shared by the dock's sections (one per dock)."""

    keypoints_changed = Signal(str)  # "replaced" (new predictions or layer) or "edited"
    model_refined = Signal(object)  # the refined checkpoint's Path

    def __init__(self, viewer: Any):
        self.viewer = viewer
        self.device = "auto"
        self.checkpoint: Path | None = None  # None: the shipped default model
        self.model: Any = None
        self._model_source: object = object()  # what self.model was loaded from
        self.editor = KeypointEditor(viewer, on_edit=lambda: self.keypoints_changed.emit("edited"))
        self.jobs: list[Any] = []  # running workers (predict, refine)
        self.skeleton_images_visible = True

    def add_job(self, worker: Any) -> Any:
        """Track a running worker so that closing the dock or the window stops it."""
        self.jobs.append(worker)
        worker.finished.connect(lambda: self.jobs.remove(worker) if worker in self.jobs
                                else None)
        return worker

    def stop_jobs(self) -> None:
        """Ask every running job to stop (each stops at its next batch or step)."""
        for worker in list(self.jobs):
            worker.stop_event.set()

    # -- layers ------------------------------------------------------------------------
    def video_layer(self) -> Any:
        """The selected video layer, else the newest one (RGB image layers count)."""
        videos = [ly for ly in self.viewer.layers
                  if _kind(ly) == "video" or (ly.__class__.__name__ == "Image" and ly.rgb
                                              and ly.data.ndim == 4)]
        active = self.viewer.layers.selection.active
        if active in videos:
            return active
        return videos[-1] if videos else None

    def keypoints_layer(self) -> Any:
        """The selected keypoints layer, else the newest one."""
        points = [ly for ly in self.viewer.layers if _kind(ly) == "keypoints"]
        active = self.viewer.layers.selection.active
        if active in points:
            return active
        return points[-1] if points else None

    def skeleton_layer(self, points: Any) -> Any:
        """The skeleton (Vectors) layer drawn for ``points``, or None."""
        return self.editor.skeleton_layer() if self.editor.points == points else None

    def current_frame(self) -> int:
        return int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim else 0

    def go_to_frame(self, frame: int) -> None:
        self.viewer.dims.set_current_step(0, int(frame))

    # -- model -------------------------------------------------------------------------
    def load_model(self) -> Any:
        """The model of ``self.checkpoint`` (None: the default), loaded once."""
        if self.model is None or self._model_source != self.checkpoint:
            from core.checkpoint import load_model

            self.model = load_model(self.checkpoint)
            self._model_source = self.checkpoint
        return self.model

    def set_model(self, model: Any, source: Path | None = None) -> None:
        """Use an already-built model (e.g. in tests or after a refine)."""
        self.model, self.checkpoint, self._model_source = model, source, source

    # -- tracks as layers ----------------------------------------------------------------
    def show_track(self, track: Track, keep_edits: bool = True) -> Any:
        """Show ``track`` as keypoints + skeleton layers, replacing the current prediction
        of the same video in place; edited points of the old layer are kept when
        ``keep_edits``. Returns the keypoints layer."""
        layout = self.model.layout if self.model is not None else None
        new = track_to_points(track, layout=layout)
        old = self.keypoints_layer()
        if old is not None and (old.metadata[META].get("source") or "") != track.source:
            old = None
        if old is not None and keep_edits:
            new = keep_edited(new, np.asarray(old.data), old.features)
        data, kwargs, _ = new
        if old is None:
            points = self.viewer.add_points(data, ndim=3, **kwargs)
        else:
            points = old
            skeleton_name = old.metadata[META].get("skeleton_layer")
            with self.editor.quiet():
                points.data = data
                points.features = kwargs["features"]
                points.face_color = kwargs["face_color"]
                points.metadata = {META: {**kwargs["metadata"][META],
                                          "skeleton_layer": skeleton_name}}
        self.attach(points)
        self.keypoints_changed.emit("replaced")
        return points

    def attach(self, points: Any) -> None:
        """Review ``points``: follow its edits, draw its skeleton, style it."""
        self.editor.attach(points)

    def apply_confidence_style(self) -> None:
        self.editor.apply_style()

    @property
    def threshold(self) -> float:
        return self.editor.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.editor.threshold = float(value)

    @property
    def hide_low(self) -> bool:
        return self.editor.hide_low

    @hide_low.setter
    def hide_low(self, value: bool) -> None:
        self.editor.hide_low = bool(value)

    def show_skeleton_images(self, predictor: Any, track: Track) -> list[Any]:
        """The model's per-channel skeleton images over the video, as additive colour
        layers computed frame by frame when shown. Replaces earlier ones."""
        from napari.utils.colormaps import Colormap

        from napari_abspose.skeleton_images import LazySkeletonImages

        video = self.video_layer()
        if video is None:
            raise InputError("no video layer to draw skeleton images on")
        images = LazySkeletonImages(video.data, predictor, track.boxes)
        skeleton, layout = predictor.skeleton, predictor.layout
        channels = skeleton.channels(layout)
        old = self.skeleton_image_layers()
        if [ly.metadata[META]["channel"] for ly in old] == [c.name for c in channels] and \
                all(ly.data.shape == images.channel(0).shape for ly in old):
            for c, ly in enumerate(old):  # same channels: new data, the user's settings kept
                ly.data = images.channel(c)
            return old
        for ly in old:
            self.viewer.layers.remove(ly)
        added = []
        for c, channel in enumerate(channels):
            cmap = Colormap([[0.0, 0.0, 0.0, 1.0], [*channel.color, 1.0]],
                            name=f"abspose {channel.name}")
            added.append(self.viewer.add_image(
                images.channel(c), name=f"skeleton image: {channel.name}", colormap=cmap,
                blending="additive", contrast_limits=(0.0, 1.0),
                opacity=SKELETON_IMAGE_OPACITY, visible=self.skeleton_images_visible,
                axis_labels=AXIS_LABELS,
                metadata={META: {"kind": "skeleton_image", "channel": channel.name}}))
        points = self.keypoints_layer()
        layers = self.viewer.layers
        for ly in (self.skeleton_layer(points) if points is not None else None, points):
            if ly is not None:
                layers.move(layers.index(ly), len(layers))
        return added

    def skeleton_image_layers(self) -> list[Any]:
        return [ly for ly in self.viewer.layers if _kind(ly) == "skeleton_image"]

    def set_skeleton_images_visible(self, visible: bool) -> None:
        """Show or hide every channel's skeleton image layer at once (and the ones a
        later prediction adds)."""
        self.skeleton_images_visible = bool(visible)
        for ly in self.skeleton_image_layers():
            ly.visible = self.skeleton_images_visible

    def _edit_keypoints(self, what: str) -> Any:
        """The keypoints layer, attached for a hand edit, or an InputError."""
        points = self.keypoints_layer()
        if points is None:
            raise InputError(f"no keypoints to {what}: predict or open a keypoint file first")
        self.attach(points)
        return points

    def swap_left_right(self, frame: int | None = None) -> int:
        """Swap left and right keypoints on ``frame`` (default: the one shown)."""
        self._edit_keypoints("fix")
        return self.editor.swap_left_right(frame)

    def confirm_frame(self, frame: int | None = None) -> int:
        """Mark every point of ``frame`` (default: the one shown) as right by hand."""
        self._edit_keypoints("confirm")
        return self.editor.confirm_frame(frame)

    def corrections_file(self) -> Path:
        """Where this video's keypoints with corrections are kept
        (:func:`core.labels.corrections_path`)."""
        from core.labels import corrections_path

        video = self.video_layer()
        source = (video.metadata.get(META) or {}).get("path") if video is not None else None
        if not source:
            points = self.keypoints_layer()
            source = (points.metadata[META].get("source") or "") if points is not None else ""
        if not source:
            raise InputError("no video file to save the corrections beside; open one first")
        return corrections_path(source)

    def save_corrections(self, path: str | Path | None = None):
        """Save the keypoints layer with its edits as a tidy CSV (default: the video's
        corrections file), atomically, keeping the edits an earlier version of the file
        has. Returns the :class:`core.labels.Saved` (path, merged track and edited
        flags) of :func:`core.labels.save_with_edits`."""
        from core.labels import save_with_edits

        track, edited = self.track()
        return save_with_edits(track, edited, path or self.corrections_file())

    def edited_count(self) -> int:
        """Points of the keypoints layer marked edited."""
        points = self.keypoints_layer()
        if points is None or "edited" not in points.features:
            return 0
        return int(points.features["edited"].sum())

    def track(self) -> tuple[Track, np.ndarray]:
        """(Track, edited) of the current keypoints layer."""
        points = self.keypoints_layer()
        if points is None:
            raise InputError("no keypoints: predict or open a keypoint file first")
        return layer_track(points)
