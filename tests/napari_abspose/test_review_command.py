"""``abspose review VIDEO``: napari with the video, the dock and predictions."""

import napari
import pytest

from core.skeleton import HUMAN
from napari_abspose.widgets.dock import PoseEstimationDock
from tests.napari_abspose.conftest import make_track, needs_display
from training.cli import main


@needs_display
def test_review_opens_the_video_the_dock_and_predicts(clip, tiny_checkpoint, qtbot,
                                                     monkeypatch):
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert main(["review", str(clip), "--checkpoint", str(tiny_checkpoint),
                 "--device", "cpu"]) == 0
    viewer = napari.current_viewer()
    try:
        dock = viewer.window.dock_widgets["Pose estimation"]
        assert isinstance(dock, PoseEstimationDock)
        assert dock.device.currentText() == "cpu"
        qtbot.waitUntil(lambda: dock.predict.worker is None, timeout=60_000)
        points = dock.state.keypoints_layer()
        assert points is not None and len(points.data) == 12 * HUMAN.num_keypoints
    finally:
        viewer.close()


@needs_display
def test_review_with_a_keypoint_file_does_not_predict(clip, tmp_path, qtbot, monkeypatch):
    from napari_abspose._writer import save_tidy_csv

    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    track = make_track(t=12, source=str(clip))
    edited = track.confidence > 0.9
    path = save_tidy_csv(track, edited, tmp_path / "walk_keypoints.csv")
    assert main(["review", str(clip), "--keypoints", str(path)]) == 0
    viewer = napari.current_viewer()
    try:
        dock = viewer.window.dock_widgets["Pose estimation"]
        assert dock.predict.worker is None
        points = dock.state.keypoints_layer()
        assert points.features["edited"].sum() == edited.sum()
    finally:
        viewer.close()


@needs_display
def test_review_reopens_the_corrections_saved_before(clip, tmp_path, qtbot, monkeypatch,
                                                     capsys):
    import shutil

    from core.labels import corrections_path, save_with_edits

    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    video = shutil.copy(clip, tmp_path / "walk.mp4")
    track = make_track(t=12, source=str(video))
    edited = track.confidence > 0.9
    save_with_edits(track, edited, corrections_path(video))
    assert main(["review", str(video)]) == 0
    assert "opening the corrections saved before" in capsys.readouterr().out
    viewer = napari.current_viewer()
    try:
        dock = viewer.window.dock_widgets["Pose estimation"]
        assert dock.predict.worker is None  # the saved keypoints, not a new prediction
        assert dock.state.keypoints_layer().features["edited"].sum() == edited.sum()
    finally:
        viewer.close()


def test_missing_video_is_a_one_line_error(tmp_path, capsys):
    assert main(["review", str(tmp_path / "nope.mp4")]) == 2
    err = capsys.readouterr().err
    assert "nope.mp4: no such file" in err and "Traceback" not in err


def test_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "review" in capsys.readouterr().out


def test_footage_predict_refuses_is_refused_before_a_window(tmp_path, tiny_checkpoint,
                                                            capsys, monkeypatch):
    import numpy as np

    from core.video import write_video
    from napari_abspose.widgets import dock

    monkeypatch.setattr(dock, "open_review", lambda *a, **k: pytest.fail("a window opened"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    small = write_video(tmp_path / "small.mp4", [np.zeros((16, 16, 3), np.uint8)] * 3, 25)
    for video, reason in ((tmp_path / "empty.mp4", "not a video OpenCV can read"),
                          (small, "frames of 16x16 pixels are smaller than the model "
                                  "input 64x64")):
        assert main(["review", str(video), "--checkpoint", str(tiny_checkpoint)]) == 2
        err = capsys.readouterr().err.strip()
        assert reason in err and "\n" not in err
