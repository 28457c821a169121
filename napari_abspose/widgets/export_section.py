"""The dock's "Export" section: the keypoints layer (with hand edits) to a file.

Formats are :mod:`core.export`'s; the tidy CSV also keeps which points were edited by
hand (see :mod:`napari_abspose._writer`) and is the file to re-open for more review.
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
)


def export_keypoints(state: PoseState, path: str | Path, fmt: str) -> Path:
    """Write the current keypoints layer to ``path`` in format ``fmt`` (a core.export name)."""
    from core import export

    track, edited = state.track()
    path = Path(path)
    if fmt == "csv":
        from napari_abspose._writer import save_tidy_csv

        return save_tidy_csv(track, edited, path)
    if fmt not in export.WRITERS:
        raise InputError(f"unknown export format {fmt!r}; choose from {', '.join(export.WRITERS)}")
    return export.WRITERS[fmt](track, path)


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
        return folder / f"{source.stem}{SUFFIXES[self.format.currentData()]}"

    def _ask_and_export(self) -> None:
        label, fmt, filt = FORMATS[self.format.currentIndex()]
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
