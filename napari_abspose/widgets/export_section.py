"""The dock's "Export" section: the keypoints layer (with hand edits) to a file.

Formats are :mod:`core.export`'s; the tidy CSV also keeps which points were edited by
hand and is the file to re-open for more review: written over an earlier version, it
keeps the edits that version has (:func:`core.labels.save_with_edits`). "Corrected
frames" writes the frames edited by hand as labels for other tools
(:func:`core.labels.export_labels`: DeepLabCut's ``labeled-data`` layout and COCO
keypoints, with the frames as PNG) into a folder.
"""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.errors import AbsPoseError, InputError
from napari_abspose.widgets.state import PoseState

# (label, core.export format name, file filter)
FORMATS = (
    ("tidy CSV (keeps edits)", "csv", "CSV (*.csv)"),
    ("DeepLabCut CSV", "dlc", "CSV (*.csv)"),
    ("COCO keypoints JSON", "coco", "JSON (*.json)"),
    ("3D poses (npz)", "npz", "NumPy (*.npz)"),
    ("3D poses (CSV)", "csv3d", "CSV (*.csv)"),
    ("corrected frames (DeepLabCut + COCO)", "labels", ""),
)


def export_keypoints(state: PoseState, path: str | Path, fmt: str) -> Path:
    """Write the current keypoints layer to ``path`` in format ``fmt`` (a core.export name)."""
    from core import export

    path = Path(path)
    if fmt == "csv":
        return state.save_corrections(path).path
    if fmt == "labels":
        return export_corrected_frames(state, path)
    track, _ = state.track()
    if fmt not in export.WRITERS:
        raise InputError(f"unknown export format {fmt!r}; choose from {', '.join(export.WRITERS)}")
    return export.WRITERS[fmt](track, path)


def export_corrected_frames(state: PoseState, folder: str | Path) -> Path:
    """The frames corrected by hand as labels under ``folder`` (DeepLabCut's
    ``labeled-data/<video>/`` with COCO beside); returns the labels folder. The
    corrections are saved first and the export is made from what was saved, so it
    holds every correction saved before too, not only this window's."""
    from core.labels import export_labels, labels_from_track
    from core.video import LazyVideo
    from napari_abspose.layers import META

    if not state.edited_count():
        raise InputError("no frame is corrected yet: drag points, swap [F] or confirm [C] "
                         "frames first")
    saved = state.save_corrections()
    labels = labels_from_track(saved.track, saved.edited)
    video = state.video_layer()
    data = getattr(video, "data", None)
    if not isinstance(data, LazyVideo):
        raise InputError("open the video file the keypoints belong to: the labelled frames "
                         "are cut from it")
    skeleton = (state.keypoints_layer().metadata[META].get("skeleton") or None)
    from core.skeleton import load_skeleton

    out = export_labels(labels, data.path, folder, num_frames=len(data),
                        overwrite=True, skeleton=load_skeleton(skeleton) if skeleton else None)
    return out["folder"]


class ExportSection(QGroupBox):
    """Format choice and an Export… button that asks where to write."""

    def __init__(self, state: PoseState, parent: QWidget | None = None):
        super().__init__("Export", parent)
        self.state = state
        self.format = QComboBox()
        for label, fmt, _ in FORMATS:
            self.format.addItem(label, fmt)
        self.button = QPushButton("Export…")
        self.button.clicked.connect(self._ask_and_export)
        self.last = QLabel("")
        self.last.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.format, 1)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.last)

    def default_path(self) -> Path:
        from core.export import FORMATS as SUFFIXES

        points = self.state.keypoints_layer()
        source = Path(points.metadata["abspose"].get("source") or "keypoints") \
            if points is not None else Path("keypoints")
        folder = source.parent if source.parent.is_dir() else Path.cwd()
        fmt = self.format.currentData()
        if fmt == "labels":
            return folder / source.stem
        return folder / f"{source.stem}{SUFFIXES[fmt]}"

    def _ask_and_export(self) -> None:
        label, fmt, filt = FORMATS[self.format.currentIndex()]
        if fmt == "labels":
            path = QFileDialog.getExistingDirectory(
                self, "Folder for the corrected frames (e.g. a DeepLabCut project)",
                str(self.default_path().parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, f"Export keypoints as {label}",
                                                  str(self.default_path()), filt)
        if path:
            self.export(path, fmt)

    def export(self, path: str | Path, fmt: str | None = None) -> Path | None:
        """Write the keypoints; errors become notifications. Returns the path written."""
        fmt = fmt or self.format.currentData()
        try:
            written = export_keypoints(self.state, path, fmt)
        except (AbsPoseError, OSError) as err:
            show_error(f"Export failed: {err}")
            return None
        self.last.setText(f"Wrote {written}")
        show_info(f"Keypoints written to {written}")
        return written
