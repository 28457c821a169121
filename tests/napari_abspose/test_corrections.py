"""The loop in a real (headless) napari: suggest frames, fix them, save, close, reopen,
refine with the corrections as labels; no edit is ever lost."""

import shutil

import numpy as np
import pytest
from napari.layers.base._base_constants import ActionType

from core.export import read_edited, read_tidy_csv
from core.labels import corrections_path
from core.skeleton import HUMAN
from napari_abspose.layers import META
from tests.napari_abspose.conftest import needs_display

pytestmark = needs_display
TIMEOUT = 120_000


def open_dock(make_napari_viewer, video, checkpoint, keypoints=None):
    viewer = make_napari_viewer()
    viewer.open(str(video), plugin="napari-abspose")
    if keypoints is not None:
        viewer.open(str(keypoints), plugin="napari-abspose")
    _, dock = viewer.window.add_plugin_dock_widget("napari-abspose", "Pose estimation")
    dock.predict.model_edit.setText(str(checkpoint))
    dock.predict.skeleton_images.setChecked(False)
    return viewer, dock


def predict(dock, qtbot):
    dock.predict.predict()
    qtbot.waitUntil(lambda: dock.predict.worker is None, timeout=TIMEOUT)
    return dock.state.keypoints_layer()


def drag(points, frame, name, dy, dx):
    rows = np.flatnonzero((np.rint(points.data[:, 0]) == frame)
                          & (points.features["keypoint"] == name).to_numpy())
    row = int(rows[0])
    points.data[row, 1] += dy
    points.data[row, 2] += dx
    points.events.data(value=points.data, action=ActionType.CHANGED, data_indices=(row,),
                       vertex_indices=((),))
    return points.data[row, 1:].copy()  # (y, x)


def edited_frames(path):
    track = read_tidy_csv(path)
    return set(np.flatnonzero(read_edited(path, track).any(1)).tolist()), track


@pytest.fixture
def video(clip, tmp_path):
    return shutil.copy(clip, tmp_path / "walk.mp4")


def test_fix_save_close_reopen_refine_with_labels(make_napari_viewer, qtbot, video,
                                                  tiny_checkpoint):
    viewer, dock = open_dock(make_napari_viewer, video, tiny_checkpoint)
    points = predict(dock, qtbot)
    got = dock.review.suggest()  # the list: the frames to fix first, with reasons
    assert len(got) == dock.review.list.count() > 0
    assert dock.review.list.item(0).text().startswith(f"1. frame {got[0].frame}: ")
    assert dock.state.current_frame() == got[0].frame
    moved = drag(points, 2, "left_wrist", 6.0, -4.0)  # frame 2: one point dragged
    viewer.dims.set_current_step(0, 7)
    dock.review.confirm()  # frame 7: right as it is
    assert dock.state.edited_count() == 1 + HUMAN.num_keypoints
    saved = dock.state.save_corrections()
    path, frames = saved.path, int(saved.edited.any(1).sum())
    assert path == corrections_path(video) and frames == 2
    # Export: the corrected frames for DeepLabCut and as COCO, the frames as PNG
    folder = dock.export.export(video.parent / "project", "labels")
    assert folder == video.parent / "project" / "labeled-data" / "walk"
    assert sorted(p.name for p in folder.iterdir()) == [
        "CollectedData_abspose.csv", "img02.png", "img07.png", "walk_labels_coco.json"]
    viewer.close()

    # reopen the video and its corrections: every edit is back, where it was put
    viewer, dock = open_dock(make_napari_viewer, video, tiny_checkpoint, keypoints=path)
    points = dock.state.keypoints_layer()
    assert points is not None and points.features["edited"].sum() == 1 + HUMAN.num_keypoints
    row = np.flatnonzero((np.rint(points.data[:, 0]) == 2)
                         & (points.features["keypoint"] == "left_wrist").to_numpy())
    assert points.data[row[0], 1:].tolist() == pytest.approx(moved.tolist(), abs=1e-3)
    assert dock.review.suggest()  # frames already corrected are not suggested again
    assert not {2, 7} & {int(f) for f, _ in dock.review.review}

    # one more fix, then Refine: it saves first and learns from the corrected frames
    drag(points, 9, "right_ankle", -5.0, 3.0)
    section = dock.refine
    section.preset.setCurrentText("tiny")
    section.steps.setValue(2)
    section.start()
    assert "Learning from 3 corrected frames" in section.status.text()
    qtbot.waitUntil(lambda: section.worker is None, timeout=TIMEOUT)
    assert section.last is not None and section.last.step == 2
    assert "labels_keypoints_2d" in section.plot.series  # the labelled term ran
    assert np.isfinite(section.plot.series["labels_keypoints_2d"]).all()
    frames, _ = edited_frames(path)
    assert frames == {2, 7, 9}
    viewer.close()

    # a window on fresh predictions (not the saved file): saving keeps the old edits
    viewer, dock = open_dock(make_napari_viewer, video, tiny_checkpoint)
    points = predict(dock, qtbot)
    assert points.features["edited"].sum() == 0
    drag(points, 10, "nose", 2.0, 2.0)
    dock.state.save_corrections()
    frames, track = edited_frames(path)
    assert frames == {2, 7, 9, 10}
    assert track.keypoints[2, HUMAN.index("left_wrist")].tolist() == pytest.approx(
        moved[::-1].tolist(), abs=1e-3)  # the earlier position, not the new prediction
    assert (points.metadata[META].get("source") or "").endswith("walk.mp4")
