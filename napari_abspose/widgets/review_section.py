"""The dock's "Review" section: what to look at, and quick fixes.

* a confidence threshold: keypoints under it get a red border, or are hidden;
* the frames to review (suspected left/right flips; the least confident frames under
  the threshold, at most a tenth of the video); clicking one jumps there, N / Shift-N
  step through them;
* Suggest: the N frames worth fixing first (:func:`core.suggest.suggest_frames`: flips,
  low confidence, jumps, unusual poses, spread over the kinds of poses), listed in that
  order with the reason; N / Shift-N then follow that order;
* Swap left/right (key F) on the frame shown; the swapped points count as edited;
* Confirm (key C): the frame shown is right as it is; all its points count as edited.
Moving a point by hand marks it edited (white border); the count is shown here. Edited
frames are labels: Refine learns from them, Export writes them for other tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from core.errors import AbsPoseError
from napari_abspose.widgets.state import PoseState

MAX_ITEMS = 1000  # frames listed; the rest are counted


LOW_SHARE = 0.1  # at most this share of a video's frames are listed for low confidence


def frames_to_review(frames: np.ndarray, confidence: np.ndarray, flip_suspect: np.ndarray,
                     threshold: float, low_share: float = LOW_SHARE
                     ) -> tuple[list[tuple[int, str]], str]:
    """The frames worth looking at, from per-point arrays (N,) of a keypoints layer:
    every frame with a suspected left/right flip, and the frames whose mean confidence
    is under ``threshold``, but of those only the least confident ``low_share`` of the
    video's frames (at least one): a model whose usual confidence is under the
    threshold would otherwise list every frame.

    Returns:
        (frame, reason) sorted by frame, and one sentence saying how they were chosen.
    """
    frames = np.rint(np.asarray(frames)).astype(np.int64)
    if frames.size == 0:
        return [], "No keypoints yet."
    t = int(frames.max()) + 1
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    count = np.bincount(frames, minlength=t)
    mean = np.bincount(frames, weights=conf, minlength=t) / np.maximum(count, 1)
    flips = np.bincount(frames, weights=np.asarray(flip_suspect, bool), minlength=t) > 0
    present = count > 0
    under = np.flatnonzero(present & (mean < threshold))
    cap = max(1, int(np.ceil(low_share * present.sum())))
    low = under[np.argsort(mean[under], kind="stable")[:cap]]
    is_low = np.zeros(t, bool)
    is_low[low] = True
    out = []
    for f in np.flatnonzero(present & (flips | is_low)):
        reasons = (["flip?"] if flips[f] else []) + \
            ([f"low confidence {mean[f]:.2f}"] if is_low[f] else [])
        out.append((int(f), ", ".join(reasons)))
    n_flips = int((flips & present).sum())
    if len(under) > cap:
        how = (f"the {cap} least confident frames (of {len(under)} with a mean confidence "
               f"under {threshold:.2f}; at most {low_share:.0%} of the video is listed)")
    else:
        how = f"{len(under)} frames with a mean confidence under {threshold:.2f}"
    if not out:
        return out, f"Nothing flagged: no suspected flip, no frame under {threshold:.2f}."
    return out, f"{len(out)} frames to review: {n_flips} suspected flips and {how}."


class ReviewSection(QGroupBox):
    """Confidence threshold, the list of frames to review, swap left/right."""

    def __init__(self, state: PoseState, parent: QWidget | None = None):
        super().__init__("Review", parent)
        self.state = state
        self.review: list[tuple[int, str]] = []

        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(round(state.threshold * 100))
        self.slider.valueChanged.connect(self._threshold_changed)
        self.slider_label = QLabel(f"{state.threshold:.2f}")
        self.mode = QComboBox()
        self.mode.addItems(["mark low confidence", "hide low confidence"])
        self.mode.currentIndexChanged.connect(self._threshold_changed)
        self.list = QListWidget()
        self.list.setMaximumHeight(140)
        self.list.itemClicked.connect(self._jump)
        self.list.itemActivated.connect(self._jump)
        self.summary = QLabel("No keypoints yet.")
        self.swap_button = QPushButton("Swap left/right  [F]")
        self.swap_button.setToolTip("swap the left and right keypoints of the frame shown")
        self.swap_button.clicked.connect(self.swap)
        self.confirm_button = QPushButton("Confirm  [C]")
        self.confirm_button.setToolTip("the frame shown is right as it is: all its points "
                                       "count as corrected (labels for Refine)")
        self.confirm_button.clicked.connect(self.confirm)
        self.suggest_count = QSpinBox()
        self.suggest_count.setRange(1, 200)
        self.suggest_count.setValue(10)
        self.suggest_button = QPushButton("Suggest frames to fix")
        self.suggest_button.setToolTip("the frames worth correcting first, most worth first")
        self.suggest_button.clicked.connect(self.suggest)
        self.suggested = False  # the list shows suggestions (in their order), not flags
        self.next_button = QPushButton("Next  [N]")
        self.next_button.clicked.connect(lambda: self.step(+1))
        self.edited = QLabel("")
        self.show_images = QCheckBox("Skeleton images over the video")
        self.show_images.setToolTip("the model's per-channel skeleton images (one layer "
                                    "per channel); hide them all with one click")
        self.show_images.setChecked(state.skeleton_images_visible)
        self.show_images.toggled.connect(state.set_skeleton_images_visible)

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.slider, 1)
        threshold_row.addWidget(self.slider_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.swap_button, 1)
        buttons.addWidget(self.confirm_button, 1)
        buttons.addWidget(self.next_button)
        suggest_row = QHBoxLayout()
        suggest_row.addWidget(self.suggest_button, 1)
        suggest_row.addWidget(self.suggest_count)
        form = QFormLayout(self)
        form.addRow("Confidence", threshold_row)
        form.addRow("Low points", self.mode)
        form.addRow(self.show_images)
        form.addRow(suggest_row)
        form.addRow(self.summary)
        form.addRow(self.list)
        form.addRow(buttons)
        form.addRow(self.edited)

        state.keypoints_changed.connect(self._keypoints_changed)
        viewer = state.viewer
        viewer.bind_key("f", self._key_swap, overwrite=True)
        viewer.bind_key("c", lambda v: self.confirm(), overwrite=True)
        viewer.bind_key("n", lambda v: self.step(+1), overwrite=True)
        viewer.bind_key("Shift-n", lambda v: self.step(-1), overwrite=True)

    # -- list ---------------------------------------------------------------------------
    def _threshold_changed(self, *_: Any) -> None:
        self.state.threshold = self.slider.value() / 100.0
        self.state.hide_low = self.mode.currentIndex() == 1
        self.slider_label.setText(f"{self.state.threshold:.2f}")
        self.state.apply_confidence_style()
        self.refresh()

    def _keypoints_changed(self, what: str) -> None:
        if what == "replaced":
            self.refresh()
        else:
            self._count_edited()

    def refresh(self) -> None:
        """Rebuild the list of frames to review from the keypoints layer."""
        points = self.state.keypoints_layer()
        self.list.clear()
        self.suggested = False
        if points is None or len(points.data) == 0:
            self.review = []
            self.summary.setText("No keypoints yet.")
            self.edited.setText("")
            return
        f = points.features
        self.review, how = frames_to_review(np.asarray(points.data)[:, 0],
                                            f["confidence"].to_numpy(),
                                            f["flip_suspect"].to_numpy(), self.state.threshold)
        self._list_frames(self.review[:MAX_ITEMS])
        more = f" The first {MAX_ITEMS} are listed." if len(self.review) > MAX_ITEMS else ""
        self.summary.setText(how + more)
        self.summary.setWordWrap(True)
        self._count_edited()

    def suggest(self) -> list:
        """List the frames worth fixing first, in their order, with the reasons."""
        from core.suggest import suggest_frames

        try:
            track, edited = self.state.track()
            got = suggest_frames(track, self.suggest_count.value(), edited=edited)
        except AbsPoseError as err:
            show_warning(str(err))
            return []
        self.list.clear()
        self.review = [(s.frame, s.reason) for s in got]
        self._list_frames(self.review, numbered=True)
        self.suggested = True
        done = int(edited.any(1).sum())
        self.summary.setText(
            f"{len(got)} frames to fix first, most worth first"
            + (f" ({done} frames already corrected are left out)" if done else "")
            + ". Fix or confirm [C] each, then Refine learns from them.")
        self.summary.setWordWrap(True)
        if self.review:
            self.list.setCurrentRow(0)
            self.state.go_to_frame(self.review[0][0])
        return got

    def _list_frames(self, frames: list[tuple[int, str]], numbered: bool = False) -> None:
        """Add (frame, reason) items to the list; a click jumps to the frame."""
        for k, (frame, reason) in enumerate(frames):
            text = f"frame {frame}: {reason}"
            item = QListWidgetItem(f"{k + 1}. {text}" if numbered else text)
            item.setData(Qt.UserRole, frame)
            self.list.addItem(item)

    def confirm(self) -> None:
        try:
            added = self.state.confirm_frame()
        except AbsPoseError as err:
            show_warning(str(err))
            return
        frame = self.state.current_frame()
        show_info(f"Frame {frame} confirmed: all its points count as corrected."
                  if added else f"Frame {frame} was already all corrected.")

    def _count_edited(self) -> None:
        n = self.state.edited_count()
        self.edited.setText(f"{n} points edited by hand (saved with the keypoints)." if n
                            else "Drag a point to correct it; it is marked as edited.")

    def _jump(self, item: QListWidgetItem) -> None:
        self.state.go_to_frame(int(item.data(Qt.UserRole)))

    def step(self, direction: int) -> None:
        """Go to the next (+1) or previous (-1) frame to review."""
        if not self.review:
            show_info("No frames to review.")
            return
        now = self.state.current_frame()
        frames = [f for f, _ in self.review]
        if self.suggested:  # the suggestions' own order, from the row selected
            row = self.list.currentRow()
            row = (row + direction) % len(frames) if row >= 0 else 0
            self.list.setCurrentRow(row)
            self.state.go_to_frame(frames[row])
            return
        ahead = [f for f in frames if (f > now if direction > 0 else f < now)]
        target = (min(ahead) if direction > 0 else max(ahead)) if ahead else \
            (frames[0] if direction > 0 else frames[-1])
        self.state.go_to_frame(target)

    # -- fixes -------------------------------------------------------------------------
    def _key_swap(self, viewer: Any) -> None:
        self.swap()

    def swap(self) -> None:
        try:
            moved = self.state.swap_left_right()
        except AbsPoseError as err:
            show_warning(str(err))
            return
        if not moved:
            show_info(f"Nothing to swap on frame {self.state.current_frame()}.")
