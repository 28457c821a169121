"""The dock's "Predict" section: choose a model, predict the video in the background.

Predictions arrive as layers (keypoints, skeleton, per-channel skeleton images) when the
worker returns; hand-edited points are kept unless "Keep edited points" is unchecked.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils import progress
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from core.errors import AbsPoseError, CheckpointError
from core.video import LazyVideo
from napari_abspose.widgets.state import PoseState
from napari_abspose.workers import PredictProgress, predict_job, start_worker

log = logging.getLogger(__name__)

CROPS = (("whole frame", "full"), ("follow the subject", "follow"))


class PredictSection(QGroupBox):
    """Model file, crop mode, options, Predict / Cancel, and a one-line status."""

    def __init__(self, state: PoseState, parent: QWidget | None = None):
        super().__init__("Predict", parent)
        self.state = state
        self.worker: Any = None
        self.predictor: Any = None
        self._pbar: Any = None
        self._started = 0.0

        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("shipped default model")
        self.model_edit.setToolTip("checkpoint file (.pt); empty: the shipped default model")
        self.model_edit.textChanged.connect(self._model_changed)
        self.browse_button = QPushButton("…")
        self.browse_button.setToolTip("choose a checkpoint file")
        self.browse_button.setMaximumWidth(32)
        self.browse_button.clicked.connect(self._browse)
        self.crop = QComboBox()
        for label, value in CROPS:
            self.crop.addItem(label, value)
        self.keep_edits = QCheckBox("Keep edits")
        self.keep_edits.setChecked(True)
        self.keep_edits.setToolTip("re-predicting keeps the points you moved by hand")
        self.skeleton_images = QCheckBox("Skeleton images")
        self.skeleton_images.setChecked(True)
        self.skeleton_images.setToolTip("the model's per-channel skeleton images, "
                                        "computed for the frame shown")
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Open a video, then Predict.")
        self.status.setWordWrap(True)

        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(self.browse_button)
        options = QHBoxLayout()
        options.addWidget(self.keep_edits)
        options.addWidget(self.skeleton_images)
        buttons = QHBoxLayout()
        buttons.addWidget(self.predict_button, 1)
        buttons.addWidget(self.cancel_button)
        form = QFormLayout(self)
        form.addRow("Model", model_row)
        form.addRow("Crop", self.crop)
        form.addRow(options)
        form.addRow(buttons)
        form.addRow(self.status)
        state.model_refined.connect(self._use_refined)

    # -- actions ---------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", "",
                                              "Checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.model_edit.setText(path)

    def _model_changed(self, text: str) -> None:
        """The model field is the model of Predict and of Refine."""
        text = text.strip()
        self.state.checkpoint = Path(text).expanduser() if text else None

    def _use_refined(self, path: Path) -> None:
        self.model_edit.setText(str(path))
        self.predict()

    def predict(self) -> None:
        """Predict the video layer in a background worker (no-op while one runs)."""
        if self.worker is not None:
            return
        video = self.state.video_layer()
        if video is None:
            show_warning("Open a video first (File > Open, or drop it on the window).")
            return
        self._model_changed(self.model_edit.text())
        try:
            model = self.state.load_model()
            from core.predict import Predictor

            self.predictor = Predictor(model, device=self.state.device, batch_size=16,
                                       crop=self.crop.currentData(), progress=False)
        except CheckpointError as err:
            show_error(f"{err}. Choose a checkpoint file with the … button next to Model.")
            self.browse_button.setFocus()
            return
        except AbsPoseError as err:
            show_error(str(err))
            return
        data = video.data
        source = data.path if isinstance(data, LazyVideo) else np.asarray(data)
        fps = getattr(data, "fps", 30.0)
        self._pbar = progress(total=len(data), desc="Predict")
        self._started = time.perf_counter()
        self.status.setText("Predicting…")
        self._set_running(True)
        self.worker = self.state.add_job(start_worker(
            predict_job, self.predictor, source, fps=fps,
            connect={"yielded": self._on_progress, "returned": self._on_done,
                     "errored": self._on_error, "finished": self._on_finished}))

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("Cancelling…")

    # -- worker signals (main thread) ----------------------------------------------------
    def _on_progress(self, p: PredictProgress) -> None:
        if self.worker is None:
            return  # delivered after the end
        total = f" / {p.total}" if p.total else ""
        self.status.setText(f"Predicting… {p.done}{total} frames")
        if self._pbar is not None and p.done > self._pbar.n:
            self._pbar.update(p.done - self._pbar.n)

    def _on_done(self, track: Any) -> None:
        if track is None:
            self.status.setText("Prediction cancelled.")
            return
        seconds = time.perf_counter() - self._started
        try:
            if self.state.video_layer() is not None:
                self.state.show_track(track, keep_edits=self.keep_edits.isChecked())
                if self.skeleton_images.isChecked():
                    self.state.show_skeleton_images(self.predictor, track)
        except AbsPoseError as err:
            show_error(str(err))
            return
        flips = int(track.flip_suspect.sum())
        self.status.setText(f"{len(track)} frames in {seconds:.1f} s; mean confidence "
                            f"{track.mean_confidence():.2f}; {flips} suspected flips.")

    def _on_error(self, err: Exception) -> None:
        self.status.setText(f"Prediction failed: {err}")

    def _on_finished(self) -> None:
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self.worker = None
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.predict_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
