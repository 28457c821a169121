"""The "Pose estimation" dock in a real (headless) napari: predict, review, fix, export."""

import numpy as np
import pytest
from napari.layers.base._base_constants import ActionType
from napari.utils.notifications import notification_manager
from qtpy.QtCore import Qt

from core.skeleton import HUMAN
from napari_abspose.layers import META
from napari_abspose.widgets.dock import PoseEstimationDock
from tests.napari_abspose.conftest import needs_display

pytestmark = needs_display
TIMEOUT = 60_000  # ms; predicting 12 frames with the tiny model takes about a second


def errors_since(start):
    return [str(n.message) for n in notification_manager.records[start:]
            if str(getattr(n.severity, "value", n.severity)) == "error"]


@pytest.fixture
def viewer_with_clip(make_napari_viewer, clip):
    viewer = make_napari_viewer()
    viewer.open(str(clip), plugin="napari-abspose")
    return viewer


@pytest.fixture
def dock(viewer_with_clip, tiny_checkpoint):
    _, widget = viewer_with_clip.window.add_plugin_dock_widget("napari-abspose",
                                                                "Pose estimation")
    widget.predict.model_edit.setText(str(tiny_checkpoint))
    return widget


def predict(dock, qtbot):
    dock.predict.predict()
    assert dock.predict.worker is not None
    qtbot.waitUntil(lambda: dock.predict.worker is None, timeout=TIMEOUT)
    return dock.state.keypoints_layer()


def drag(points, row, dy, dx):
    """What napari does when a point is dragged: move it, then a 'changed' data event."""
    points.data[row, 1] += dy
    points.data[row, 2] += dx
    points.events.data(value=points.data, action=ActionType.CHANGED, data_indices=(row,),
                       vertex_indices=((),))


def test_dock_opens_from_the_manifest(viewer_with_clip):
    _dock_widget, widget = viewer_with_clip.window.add_plugin_dock_widget(
        "napari-abspose", "Pose estimation")
    assert isinstance(widget, PoseEstimationDock)
    assert widget.state.video_layer() == viewer_with_clip.layers[0]
    assert widget.device_label.text()  # what "auto" found, e.g. "→ CPU (2 threads)"


def test_predict_adds_keypoints_skeleton_and_skeleton_images(dock, qtbot):
    points = predict(dock, qtbot)
    viewer = dock.viewer
    kinds = [(ly.metadata.get(META) or {}).get("kind") for ly in viewer.layers]
    assert kinds == ["video"] + ["skeleton_image"] * 5 + ["skeleton", "keypoints"]
    viewer.dims.set_current_step(0, 7)
    kp7 = points.data[np.rint(points.data[:, 0]) == 7]
    e0 = HUMAN.edges[0]
    assert dock.state.skeleton_layer(points).data[0, 0].tolist() == pytest.approx(
        kp7[e0[0], 1:].tolist())  # the skeleton follows the slider
    assert points.data.shape == (12 * HUMAN.num_keypoints, 3)
    assert all(len(points.features[c]) == len(points.data) for c in points.features)
    skel = dock.state.skeleton_layer(points)
    assert skel.data.shape == (len(HUMAN.edges), 2, 2)  # the bones of the frame shown
    images = [ly for ly in viewer.layers if ly.metadata[META]["kind"] == "skeleton_image"]
    assert images[0].blending == "additive"
    assert all(ly.visible and ly.opacity <= 0.4 for ly in images)  # the person stays readable
    dock.review.show_images.setChecked(False)  # one click hides every channel
    assert not any(ly.visible for ly in images)
    dock.review.show_images.setChecked(True)
    assert all(ly.visible for ly in images)
    viewer.dims.set_current_step(0, 5)
    frame = np.asarray(images[0].data[5])
    assert frame.shape == (120, 160) and 0 <= frame.min() and frame.max() <= 1
    assert "12 frames" in dock.predict.status.text()
    assert dock.view3d is not None and "frame 5" in dock.view3d.caption.text()


def test_drag_marks_edited_moves_the_bone_and_survives_repredict(dock, qtbot):
    points = predict(dock, qtbot)
    j = HUMAN.index("left_wrist")
    row = 3 * HUMAN.num_keypoints + j  # frame 3
    drag(points, row, 7.0, -5.0)
    moved = points.data[row].copy()
    assert points.features["edited"].sum() == 1 and points.features["edited"][row]
    assert points.border_color[row].tolist() == pytest.approx([1, 1, 1, 1])
    dock.viewer.dims.set_current_step(0, 3)
    skel = dock.state.skeleton_layer(points)
    e = HUMAN.edges.index((HUMAN.index("left_elbow"), j))
    bone = skel.data[e]  # the bone ends at the moved point
    assert (bone[0] + bone[1]).tolist() == pytest.approx(moved[1:].tolist())
    drag(points, row, 1.0, 1.0)  # on the frame shown, the bone follows at once
    assert (skel.data[e][0] + skel.data[e][1]).tolist() == pytest.approx(
        points.data[row, 1:].tolist())
    moved = points.data[row].copy()
    assert "1 points edited" in dock.review.edited.text()

    points = predict(dock, qtbot)  # re-predict: the edit is kept
    kept = (np.rint(points.data[:, 0]) == 3) & (points.features["keypoint"] == "left_wrist")
    assert kept.sum() == 1 and points.data[kept][0].tolist() == pytest.approx(moved.tolist())
    assert points.features["edited"].sum() == 1

    dock.predict.keep_edits.setChecked(False)  # unless the user says otherwise
    points = predict(dock, qtbot)
    assert points.features["edited"].sum() == 0


def test_swap_key_review_list_and_export(dock, qtbot, tmp_path):
    points = predict(dock, qtbot)
    viewer = dock.viewer
    viewer.dims.set_current_step(0, 2)
    before = points.data.copy()
    dock.review.swap()
    li, ri = HUMAN.index("left_knee"), HUMAN.index("right_knee")
    base = 2 * HUMAN.num_keypoints
    assert points.data[base + li].tolist() == before[base + ri].tolist()
    assert points.features["edited"].sum() == 2 * len(HUMAN.left_right)

    dock.review.slider.setValue(100)  # every frame is under a threshold of 1.0
    listed = [dock.review.list.item(i).data(Qt.UserRole)
              for i in range(dock.review.list.count())]
    low = [f for f, r in dock.review.review if "low confidence" in r]
    assert len(low) == 2  # the least confident tenth of 12 frames, not all 12
    assert "the 2 least confident frames (of 12" in dock.review.summary.text()
    dock.review._jump(dock.review.list.item(len(listed) - 1))
    assert viewer.dims.current_step[0] == listed[-1]
    viewer.dims.set_current_step(0, 0)
    dock.review.step(+1)
    assert viewer.dims.current_step[0] == next(f for f in listed if f > 0)
    dock.review.mode.setCurrentIndex(1)  # hide low confidence: only edited points stay
    assert points.shown.sum() == 2 * len(HUMAN.left_right)

    out = dock.export.export(tmp_path / "walk_keypoints.csv", "csv")
    from napari_abspose._reader import read_file

    ((data, kwargs, _),) = read_file(out)
    assert np.allclose(data, points.data, atol=1e-3)
    assert kwargs["features"]["edited"].sum() == 2 * len(HUMAN.left_right)
    for fmt in ("dlc", "coco", "npz", "csv3d"):
        assert dock.export.export(tmp_path / f"walk.{fmt}", fmt).is_file()


def test_bad_checkpoint_is_a_notification(dock, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    dock.predict.model_edit.setText(str(bad))
    start = len(notification_manager.records)
    dock.predict.predict()
    assert dock.predict.worker is None
    assert any("broken.pt" in m for m in errors_since(start))


def test_no_default_model_says_to_pick_a_file(dock, monkeypatch, tmp_path):
    import core.checkpoint

    monkeypatch.setattr(core.checkpoint, "default_checkpoint_path",
                        lambda: tmp_path / "missing.pt")
    dock.predict.model_edit.setText("")
    start = len(notification_manager.records)
    dock.predict.predict()
    assert dock.predict.worker is None
    (message,) = errors_since(start)
    assert "no default model" in message and "Choose a checkpoint file" in message


def test_predict_without_a_video_warns(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = PoseEstimationDock(viewer)
    dock.predict.predict()
    assert dock.predict.worker is None


def test_every_step_is_reachable_without_scrolling(dock, qtbot):
    window = dock.viewer.window._qt_window
    window.show()
    qtbot.waitExposed(window)
    tabs = dock.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == [
        "Predict", "Review", "Refine", "Export"]
    for i, button in enumerate((dock.predict.predict_button, dock.review.swap_button,
                                dock.refine.start_button, dock.export.button)):
        tabs.setCurrentIndex(i)
        qtbot.wait(50)
        scroll = tabs.widget(i)
        assert button.isVisible()
        assert not scroll.verticalScrollBar().isVisible(), tabs.tabText(i)
    tabs.setCurrentIndex(0)
    predict(dock, qtbot)
    assert tabs.tabText(tabs.currentIndex()) == "Review"  # predictions bring it up
