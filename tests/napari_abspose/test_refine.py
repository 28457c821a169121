"""The Refine section: progress, loss plot, preview, Cancel, errors, closing napari."""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from core.errors import InputError
from napari_abspose.widgets.refine_section import PREVIEW_WIDTH
from tests.napari_abspose.conftest import needs_display

pytestmark = needs_display
TIMEOUT = 60_000


@dataclass
class Progress:
    """The RefineProgress contract of training.stages.refine_iter."""

    step: int
    total: int
    losses: dict = field(default_factory=dict)
    preview: np.ndarray | None = None
    checkpoint: Path | None = None


class FakeRefine:
    """A stand-in for training.stages.refine_iter that records how it was called."""

    def __init__(self, result: Path | None, total: int = 5, delay: float = 0.0,
                 fail_at: int | None = None):
        self.result, self.total, self.delay, self.fail_at = result, total, delay, fail_at
        self.calls: list[dict] = []
        self.stopped = False

    def __call__(self, videos, checkpoint, out=None, config="cpu", steps=None, lr=None,
                 device="auto", stop=None):
        self.calls.append({"videos": videos, "checkpoint": checkpoint, "config": config,
                           "steps": steps, "lr": lr, "device": device})
        total = steps or self.total
        for step in range(1, total + 1):
            if stop is not None and stop():
                self.stopped = True
                return
            if step == self.fail_at:
                raise InputError("the video is too short to refine on")
            time.sleep(self.delay)
            preview = np.zeros((32, 64, 3), np.uint8)
            preview[:, 32:] = 200
            yield Progress(step, total, {"image": 1.0 / step, "skeleton": 0.5 / step}, preview,
                           self.result if step == total else None)


@pytest.fixture
def dock(make_napari_viewer, clip, tiny_checkpoint):
    viewer = make_napari_viewer()
    viewer.open(str(clip), plugin="napari-abspose")
    _, widget = viewer.window.add_plugin_dock_widget("napari-abspose", "Pose estimation")
    widget.predict.model_edit.setText(str(tiny_checkpoint))
    widget.predict.skeleton_images.setChecked(False)  # faster; shown in test_dock
    return widget


def test_refine_reports_progress_then_predicts_with_the_result(dock, qtbot, tiny_checkpoint,
                                                                clip):
    fake = FakeRefine(result=tiny_checkpoint)
    section = dock.refine
    section.refine_iter = fake
    section.steps.setValue(4)
    section.lr.setText("3e-5")
    section.start()
    assert section.worker is not None and not section.start_button.isEnabled()
    qtbot.waitUntil(lambda: section.worker is None, timeout=TIMEOUT)
    (call,) = fake.calls
    assert call["videos"] == [Path(clip)] and call["steps"] == 4 and call["lr"] == 3e-5
    assert call["config"] == "cpu" and call["device"] == "auto"
    assert section.status.text().startswith("Done after 4 steps")
    assert section.plot.series["image"] == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])
    assert section.preview.pixmap().width() == PREVIEW_WIDTH  # input | reconstruction
    assert str(tiny_checkpoint) in section.result.text()
    # the finished refinement starts a prediction with the refined model
    assert dock.predict.model_edit.text() == str(tiny_checkpoint)
    qtbot.waitUntil(lambda: dock.predict.worker is None, timeout=TIMEOUT)
    assert dock.state.keypoints_layer() is not None


def test_cancel_stops_the_refinement(dock, qtbot):
    fake = FakeRefine(result=None, total=100_000, delay=0.01)
    section = dock.refine
    section.refine_iter = fake
    section.start()
    qtbot.waitUntil(lambda: section.last is not None and section.last.step >= 3,
                    timeout=TIMEOUT)
    section.cancel_button.click()
    qtbot.waitUntil(lambda: section.worker is None, timeout=TIMEOUT)
    assert fake.stopped and section.last.step < 100_000
    assert section.status.text() == "Refinement cancelled."
    assert section.result.text() == "" and section.start_button.isEnabled()
    assert dock.predict.worker is None  # nothing is predicted after a cancel


def test_errors_become_notifications(dock, qtbot):
    section = dock.refine
    section.refine_iter = FakeRefine(result=None, fail_at=2)
    start = len(notification_manager.records)
    section.start()
    qtbot.waitUntil(lambda: section.worker is None, timeout=TIMEOUT)
    messages = [str(n.message) for n in notification_manager.records[start:]]
    assert any("too short" in m for m in messages)
    assert "failed" in section.status.text() and section.start_button.isEnabled()


def test_bad_learning_rate_is_refused(dock):
    dock.refine.refine_iter = FakeRefine(result=None)
    dock.refine.lr.setText("fast")
    dock.refine.start()
    assert dock.refine.worker is None


def test_closing_napari_stops_the_worker(make_napari_viewer, clip, qtbot):
    viewer = make_napari_viewer()
    viewer.open(str(clip), plugin="napari-abspose")
    _, dock = viewer.window.add_plugin_dock_widget("napari-abspose", "Pose estimation")
    fake = FakeRefine(result=None, total=100_000, delay=0.01)
    dock.refine.refine_iter = fake
    dock.refine.start()
    worker = dock.refine.worker
    qtbot.waitUntil(lambda: dock.refine.last is not None, timeout=TIMEOUT)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=TIMEOUT)
    assert worker.stop_event.is_set() and fake.stopped


@pytest.mark.slow
def test_real_refinement_with_the_tiny_preset(dock, qtbot, tmp_path, clip):
    """training.stages.refine_iter itself: a few steps, then Cancel of a longer run."""
    import shutil

    video = Path(shutil.copy(clip, tmp_path / "walk.mp4"))  # refine writes next to it
    dock.viewer.layers.clear()
    dock.viewer.open(str(video), plugin="napari-abspose")
    section = dock.refine
    section.preset.setCurrentText("tiny")
    section.steps.setValue(2)
    section.start()
    qtbot.waitUntil(lambda: section.worker is None, timeout=300_000)
    assert section.last is not None, section.status.text()
    assert section.last.step == 2 and section.last.checkpoint is not None
    assert Path(section.last.checkpoint).is_file()
    assert "perceptual" in section.plot.series
    assert str(section.last.checkpoint) in section.result.text()
    qtbot.waitUntil(lambda: dock.predict.worker is None, timeout=300_000)
    assert dock.state.checkpoint == Path(section.last.checkpoint)

    section.steps.setValue(500)
    section.start()
    qtbot.waitUntil(lambda: section.last is not None and section.last.step >= 1,
                    timeout=300_000)
    section.cancel()
    qtbot.waitUntil(lambda: section.worker is None, timeout=300_000)
    assert section.status.text() == "Refinement cancelled." and section.last.step < 500
