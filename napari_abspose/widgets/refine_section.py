"""The dock's "Refine" section: instance-specific refinement on this video, in the background.

Steps, learning rate and preset (empty: the preset's defaults), Start and Cancel, a
napari progress bar, a live loss plot and the latest reconstruction next to its input.
When points were corrected by hand, Start first saves the keypoints with the
corrections (:meth:`PoseState.save_corrections`) and the refinement learns from them
(``labels_keypoints_2d`` in the loss plot).
When the refinement finishes, the refined checkpoint's path is shown and the video is
predicted again with it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from napari.utils import progress
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from core.errors import AbsPoseError, InputError
from core.video import LazyVideo
from napari_abspose.widgets.loss_plot import LossPlot
from napari_abspose.widgets.state import PoseState
from napari_abspose.workers import refine_job, start_worker

log = logging.getLogger(__name__)

PREVIEW_WIDTH = 300


def preset_names() -> list[str]:
    """The training presets (``training/presets/*.yaml``)."""
    from training.config import preset_names as names

    return names()


def default_preset(device: str) -> str:
    """``gpu`` when ``device`` resolves to a GPU, else ``cpu``."""
    from core.device import resolve_device

    try:
        return "cpu" if resolve_device(device).type == "cpu" else "gpu"
    except AbsPoseError:
        return "cpu"


def to_pixmap(image: np.ndarray, width: int = PREVIEW_WIDTH) -> QPixmap:
    """An RGB uint8 (H, W, 3) image as a QPixmap scaled to ``width`` pixels."""
    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    h, w = rgb.shape[:2]
    qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaledToWidth(width, Qt.SmoothTransformation)


class RefineSection(QGroupBox):
    """Refine the current model on the video shown; then predict again with the result."""

    def __init__(self, state: PoseState, parent: QWidget | None = None,
                 refine_iter: Any = None):
        super().__init__("Refine on this video", parent)
        self.state = state
        self.refine_iter = refine_iter  # None: training.stages.refine_iter
        self.worker: Any = None
        self.last: Any = None  # the latest RefineProgress
        self._pbar: Any = None

        self.steps = QSpinBox()
        self.steps.setRange(0, 1_000_000)
        self.steps.setSingleStep(50)
        self.steps.setSpecialValueText("preset")
        self.lr = QLineEdit()
        self.lr.setPlaceholderText("preset")
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.preset.setCurrentText(default_preset(state.device))
        self.preset.setToolTip("training preset (training/presets): cpu, small and quick; "
                               "gpu, the paper's sizes; tiny, seconds, for trying it out")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Refines the model on this video (no labels needed; frames "
                             "you corrected are learned as labels).")
        self.status.setWordWrap(True)
        self.plot = LossPlot()
        self.plot.hide()
        self.preview = QLabel()
        self.preview.setToolTip("latest reconstruction: input | re-rendered")
        self.preview.hide()
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextSelectableByMouse)

        numbers = QHBoxLayout()
        numbers.addWidget(QLabel("Steps"))
        numbers.addWidget(self.steps, 1)
        numbers.addWidget(QLabel("LR"))
        numbers.addWidget(self.lr, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        form = QFormLayout(self)
        form.addRow(numbers)
        form.addRow("Preset", self.preset)
        form.addRow(buttons)
        form.addRow(self.status)
        form.addRow(self.plot)
        form.addRow(self.preview)
        form.addRow(self.result)

    def options(self) -> dict[str, Any]:
        """steps, lr, config from the fields (None: the preset's value)."""
        text = self.lr.text().strip()
        try:
            lr = float(text) if text else None
        except ValueError:
            raise InputError(f"learning rate: expected a number such as 1e-4, got {text!r}") \
                from None
        if lr is not None and not lr > 0:
            raise InputError(f"learning rate must be positive, got {lr}")
        return {"steps": self.steps.value() or None, "lr": lr,
                "config": self.preset.currentText()}

    def start(self) -> None:
        if self.worker is not None:
            return
        video = self.state.video_layer()
        data = getattr(video, "data", None)
        if not isinstance(data, LazyVideo):
            show_warning("Open a video file first: refinement trains on the video file.")
            return
        try:
            opts = self.options()
        except InputError as err:
            show_warning(str(err))
            return
        labels, note = None, ""
        if self.state.edited_count():
            try:  # the corrections teach the model: saved first, nothing lost
                saved = self.state.save_corrections()
            except (AbsPoseError, OSError) as err:
                show_warning(f"Could not save the corrections to learn from: {err}")
                return
            labels = saved.path
            note = (f" Learning from {int(saved.edited.any(1).sum())} corrected frames "
                    f"(saved to {labels}).")
        self.plot.clear()
        self.plot.show()
        self.result.setText("")
        self.last = None
        self.status.setText("Starting…" + note)
        self._set_running(True)
        self._pbar = progress(total=opts["steps"] or 0, desc="Refine")
        self.worker = self.state.add_job(start_worker(
            refine_job, [data.path], self.state.checkpoint, device=self.state.device,
            refine_iter=self.refine_iter, labels=labels, **opts,
            connect={"yielded": self._on_progress, "errored": self._on_error,
                     "finished": self._on_finished}))

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("Cancelling after the current step…")

    # -- worker signals (main thread) ----------------------------------------------------
    def _on_progress(self, p: Any) -> None:
        if self.worker is None or (self.last is not None and p.step < self.last.step):
            return  # delivered late (after the end, or out of order): nothing new
        self.last = p
        losses = dict(p.losses or {})
        shown = ", ".join(f"{k} {v:.3g}" for k, v in list(losses.items())[:3])
        self.status.setText(f"step {p.step} / {p.total}" + (f": {shown}" if shown else ""))
        self.plot.add(int(p.step), losses)
        if getattr(p, "preview", None) is not None:
            self.preview.setPixmap(to_pixmap(np.asarray(p.preview)))
            self.preview.show()
        if self._pbar is not None:
            if self._pbar.total != int(p.total):
                self._pbar.total = int(p.total)
            self._pbar.update(int(p.step) - self._pbar.n)

    def _on_error(self, err: Exception) -> None:
        self.status.setText(f"Refinement failed: {err}")

    def _on_finished(self) -> None:
        self.plot.redraw()
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        cancelled = self.worker is not None and self.worker.stop_event.is_set()
        self.worker = None
        self._set_running(False)
        ckpt = getattr(self.last, "checkpoint", None)
        if cancelled:
            self.status.setText("Refinement cancelled.")
            if ckpt is not None:  # what the refinement saved before it stopped
                self.result.setText(f"Partly refined model: {ckpt}")
            return
        if ckpt is None:
            return
        path = Path(ckpt)
        self.result.setText(f"Refined model: {path}")
        self.status.setText(f"Done after {self.last.step} steps; predicting again.")
        show_info(f"Refined model saved to {path}")
        self.state.model_refined.emit(path)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
