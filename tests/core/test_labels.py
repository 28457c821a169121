import json

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.export import read_edited, read_tidy_csv, write_tidy_csv
from core.labels import (
    corrections_path,
    dlc_image_name,
    export_labels,
    labels_from_track,
    read_labels,
    save_with_edits,
)
from core.skeleton import HUMAN
from core.track import Track
from core.video import write_video


def small_track(t: int = 12, seed: int = 0) -> Track:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(5, 60, (t, HUMAN.num_keypoints, 2))
    return Track(list(HUMAN.keypoints), kp, rng.uniform(0, 1, kp.shape[:2]), fps=10,
                 frame_size=(64, 80), skeleton=HUMAN)


def test_edited_flags_round_trip_through_the_tidy_csv(tmp_path):
    track = small_track()
    edited = np.zeros((12, 22), bool)
    edited[3, [4, 5]] = True
    edited[7] = True  # a confirmed frame
    path = write_tidy_csv(track, tmp_path / "clip_keypoints.csv", edited=edited)
    back = read_tidy_csv(path)
    np.testing.assert_array_equal(read_edited(path, back), edited)
    assert read_edited(write_tidy_csv(track, tmp_path / "plain.csv")) is None
    with pytest.raises(InputError, match="edited flags of shape"):
        write_tidy_csv(track, tmp_path / "bad.csv", edited=edited[:3])
    assert not (tmp_path / "bad.csv").exists()


def test_labels_are_the_edited_points_of_the_edited_frames(tmp_path):
    track = small_track()
    edited = np.zeros((12, 22), bool)
    edited[3, [4, 5]] = True
    edited[7] = True
    labels = labels_from_track(track, edited)
    np.testing.assert_array_equal(labels.frames, [3, 7])
    assert labels.labelled[0].sum() == 2 and labels.labelled[1].all()
    np.testing.assert_allclose(labels.keypoints[0, 4], track.keypoints[3, 4])
    assert np.isnan(labels.keypoints[0, 0]).all()
    path = write_tidy_csv(track, tmp_path / "c.csv", edited=edited)
    again = read_labels(path)
    np.testing.assert_array_equal(again.frames, labels.frames)
    np.testing.assert_allclose(again.keypoints, labels.keypoints, atol=1e-3)


def test_files_without_corrections_say_what_to_do(tmp_path):
    track = small_track()
    with pytest.raises(InputError, match="no 'edited' column"):
        read_labels(write_tidy_csv(track, tmp_path / "a.csv"))
    with pytest.raises(InputError, match="no point is marked edited"):
        read_labels(write_tidy_csv(track, tmp_path / "b.csv",
                                   edited=np.zeros((12, 22), bool)))


def test_export_for_deeplabcut_and_coco(tmp_path):
    frames = np.zeros((12, 64, 80, 3), np.uint8)
    for i in range(12):
        frames[i, :, :, 0] = i * 20  # each frame its own red
    video = write_video(tmp_path / "clip.mp4", frames, fps=10)
    track = small_track()
    edited = np.zeros((12, 22), bool)
    edited[3, [4, 5]] = True
    edited[11] = True
    labels = labels_from_track(track, edited)
    out = export_labels(labels, video, tmp_path / "project", scorer="ann",
                        skeleton=HUMAN)
    folder = tmp_path / "project" / "labeled-data" / "clip"
    assert out["dlc"] == folder / "CollectedData_ann.csv"
    assert sorted(p.name for p in folder.glob("*.png")) == ["img03.png", "img11.png"]
    # as DeepLabCut reads it: three header rows, three index columns
    df = pd.read_csv(out["dlc"], header=[0, 1, 2], index_col=[0, 1, 2])
    assert list(df.index) == [("labeled-data", "clip", "img03.png"),
                              ("labeled-data", "clip", "img11.png")]
    assert df.columns.get_level_values(0).unique().tolist() == ["ann"]
    assert df.columns.get_level_values(1).unique().tolist() == list(HUMAN.keypoints)
    kp = df.to_numpy().reshape(2, 22, 2)
    np.testing.assert_allclose(kp[0, 4], track.keypoints[3, 4], atol=1e-3)
    assert np.isnan(kp[0, 0]).all()  # not labelled: empty cells
    np.testing.assert_allclose(kp[1], track.keypoints[11], atol=1e-3)
    # the PNG is the frame it names
    import cv2

    img = cv2.imread(str(folder / "img11.png"))[..., ::-1]
    assert abs(int(img[..., 0].mean()) - 220) <= 3
    doc = json.loads(out["coco"].read_text())
    assert [im["file_name"] for im in doc["images"]] == ["img03.png", "img11.png"]
    assert [im["frame_index"] for im in doc["images"]] == [3, 11]
    xyv = np.asarray(doc["annotations"][0]["keypoints"]).reshape(22, 3)
    assert xyv[4, 2] == 2 and xyv[0, 2] == 0 and doc["annotations"][1]["num_keypoints"] == 22
    assert doc["categories"][0]["name"] == "person" and doc["categories"][0]["skeleton"]
    # never over earlier labels without asking
    with pytest.raises(InputError, match="exists"):
        export_labels(labels, video, tmp_path / "project", scorer="ann")
    export_labels(labels, video, tmp_path / "project", scorer="ann", overwrite=True)


def test_a_failed_export_leaves_no_folder(tmp_path, monkeypatch):
    video = write_video(tmp_path / "clip.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=10)
    track = small_track()
    edited = np.zeros((12, 22), bool)
    edited[9, 0] = True  # past the end of the 4-frame video
    with pytest.raises(InputError, match="no frame 9"):
        export_labels(labels_from_track(track, edited), video, tmp_path / "p")
    assert not (tmp_path / "p").exists()
    # a failure while writing (here: the label file, after the PNGs) removes what
    # this call made
    import core.labels

    def broken(*args):
        raise OSError("disk full")

    edited[9, 0], edited[2, 0] = False, True
    monkeypatch.setattr(core.labels, "_write_dlc", broken)
    (tmp_path / "q").mkdir()
    with pytest.raises(OSError, match="disk full"):
        export_labels(labels_from_track(track, edited), video, tmp_path / "q")
    assert list((tmp_path / "q").iterdir()) == []
    with pytest.raises(InputError, match="without spaces"):
        export_labels(labels_from_track(track, edited), video, tmp_path / "p", scorer="a b")


def test_image_names_follow_deeplabcut():
    assert dlc_image_name(7, 100) == "img07.png"
    assert dlc_image_name(7, 101) == "img007.png"
    assert dlc_image_name(0, 1) == "img0.png"


def test_a_save_keeps_the_edits_an_earlier_version_has(tmp_path):
    path = corrections_path(tmp_path / "clip.mp4")
    assert path == tmp_path / "clip_corrections.csv"
    first = small_track(seed=0)
    edited = np.zeros((12, 22), bool)
    edited[3, 4] = True
    save_with_edits(first, edited, path)
    # a window on fresh predictions, another point corrected there
    second = small_track(seed=1)
    edited2 = np.zeros((12, 22), bool)
    edited2[5, 0] = True
    edited2[3, 5] = True
    kept = save_with_edits(second, edited2, path).kept
    assert kept == 1
    back = read_tidy_csv(path)
    flags = read_edited(path, back)
    assert set(zip(*np.nonzero(flags), strict=True)) == {(3, 4), (3, 5), (5, 0)}
    np.testing.assert_allclose(back.keypoints[3, 4], first.keypoints[3, 4], atol=1e-3)
    np.testing.assert_allclose(back.keypoints[5, 0], second.keypoints[5, 0], atol=1e-3)
    np.testing.assert_allclose(back.keypoints[0, 0], second.keypoints[0, 0], atol=1e-3)
    # an edit made here wins over the file's at the same point
    edited3 = np.zeros((12, 22), bool)
    edited3[3, 4] = True
    third = small_track(seed=2)
    save_with_edits(third, edited3, path)
    np.testing.assert_allclose(read_tidy_csv(path).keypoints[3, 4], third.keypoints[3, 4],
                               atol=1e-3)
    # another video's file (other length) is replaced, not merged
    kept = save_with_edits(small_track(t=5), np.zeros((5, 22), bool), path).kept
    assert kept == 0 and len(read_tidy_csv(path)) == 5
