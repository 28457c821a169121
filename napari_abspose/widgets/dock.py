"""The "Pose estimation" dock widget: device, then Predict, Review, Refine, Export.

Each section is its own small widget sharing one :class:`PoseState`, on a tab of its
own, so that every step is one click away at napari's default window size (stacked,
Refine and Export fell below a scrollbar); new predictions bring the Review tab up.
The 3D view of the current frame's pose opens as a second dock once there are
predictions.
:func:`open_review` is what ``abspose review VIDEO`` runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.errors import AbsPoseError
from napari_abspose.widgets.export_section import ExportSection
from napari_abspose.widgets.predict_section import PredictSection
from napari_abspose.widgets.refine_section import RefineSection
from napari_abspose.widgets.review_section import ReviewSection
from napari_abspose.widgets.state import PoseState

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")


class PoseEstimationDock(QWidget):
    """The plugin's dock widget (napari passes the viewer)."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = PoseState(napari_viewer)
        self.view3d: Any = None
        self._view3d_dock: Any = None

        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.currentTextChanged.connect(self._device_changed)
        self.device_label = QLabel("")
        self.view3d_button = QPushButton("3D view")
        self.view3d_button.setToolTip("show the 3D pose of the frame shown in a dock")
        self.view3d_button.clicked.connect(self.show_3d)
        self.device.setToolTip("where predict and refine run; auto: a GPU when there is one")
        self.predict = PredictSection(self.state)
        self.review = ReviewSection(self.state)
        self.refine = RefineSection(self.state)
        self.export = ExportSection(self.state)

        top = QHBoxLayout()
        top.addWidget(QLabel("Device"))
        top.addWidget(self.device)
        top.addWidget(self.device_label, 1)
        top.addWidget(self.view3d_button)
        self.tabs = QTabWidget()
        for section, name in ((self.predict, "Predict"), (self.review, "Review"),
                              (self.refine, "Refine"), (self.export, "Export")):
            section.setToolTip(section.title())
            section.setTitle("")
            section.setFlat(True)
            page = QWidget()
            column = QVBoxLayout(page)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(section)
            column.addStretch(1)
            scroll = QScrollArea()  # only a window smaller than napari's default needs it
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.NoFrame)
            scroll.setWidget(page)
            index = self.tabs.addTab(scroll, name)
            if section is self.review:
                self._review_tab = index
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.setMinimumWidth(420)
        self._device_changed("auto")

        self.state.keypoints_changed.connect(self._on_keypoints)
        napari_viewer.layers.events.inserted.connect(self._on_layer_inserted)
        state = self.state  # not self: the callback runs while self is destroyed
        self.destroyed.connect(lambda *_: state.stop_jobs())
        for layer in napari_viewer.layers:  # keypoints opened before the dock
            self._on_layer_inserted(layer)

    def _device_changed(self, name: str) -> None:
        from core.device import describe_device, resolve_device

        try:
            device = resolve_device(name)
        except AbsPoseError as err:
            self.device_label.setText("not available")
            self.device_label.setToolTip(str(err))
            return
        self.state.device = name
        text = describe_device(device)
        self.device_label.setText(f"found {text}" if name == "auto" else text)
        self.device_label.setToolTip(text)

    def _on_layer_inserted(self, event: Any) -> None:
        layer = getattr(event, "value", event)
        kind = (getattr(layer, "metadata", {}).get("abspose") or {}).get("kind")
        if kind == "keypoints" and self.state.keypoints_layer() == layer:  # (proxies: ==)
            self.state.attach(layer)
            self.state.keypoints_changed.emit("replaced")

    def _on_keypoints(self, what: str) -> None:
        if what == "replaced" and self.state.keypoints_layer():
            self.tabs.setCurrentIndex(self._review_tab)
            if self.view3d is None:
                self.show_3d()

    def show_3d(self) -> None:
        """Open (or raise) the 3D pose dock."""
        from napari_abspose.widgets.view3d import View3D

        if self.view3d is None:
            self.view3d = View3D(self.state)
            self._view3d_dock = self.viewer.window.add_dock_widget(
                self.view3d, name="3D pose", area="right", tabify=False)
            self.view3d.setMinimumHeight(260)
        else:
            self._view3d_dock.show()
            self.view3d.draw(self.state.current_frame())

    def closeEvent(self, event: Any) -> None:
        self.state.stop_jobs()
        super().closeEvent(event)


def open_review(video: str | Path, checkpoint: str | Path | None = None,
                predict: bool = True, keypoints: str | Path | None = None,
                device: str = "auto") -> Any:
    """A napari viewer with ``video``, the dock, and predictions started (or ``keypoints``
    opened). Returns the viewer; ``napari.run()`` hands over to the event loop."""
    import napari

    from napari_abspose._reader import read_paths

    viewer = napari.Viewer(title=f"napari-abspose: {Path(video).name}")
    for path in (video, keypoints):
        if path is not None:
            for data, kwargs, kind in (t for t in read_paths(str(path)) if t[0] is not None):
                getattr(viewer, f"add_{kind}")(data, **kwargs)
    dock = PoseEstimationDock(viewer)
    viewer.window.add_dock_widget(dock, name="Pose estimation", area="right")
    if dock.device.findText(device) < 0:  # e.g. cuda:1
        dock.device.addItem(device)
    dock.device.setCurrentText(device)
    if checkpoint is not None:
        dock.predict.model_edit.setText(str(checkpoint))
    if predict and keypoints is None and dock.state.video_layer() is not None:
        dock.predict.predict()
    return viewer
