"""The reader and writer contracts: what is ours, layers that round-trip, bad files."""

import json

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from core import export
from core.skeleton import HUMAN
from core.video import LazyVideo
from napari_abspose._reader import get_reader, read_file, read_paths
from napari_abspose._writer import WRITERS, save_tidy_csv, write_tidy_csv
from napari_abspose.layers import points_to_track, track_to_points
from tests.napari_abspose.conftest import make_track, needs_display


def errors_since(start):
    return [str(n.message) for n in notification_manager.records[start:]
            if str(getattr(n.severity, "value", n.severity)) == "error"]


@pytest.fixture
def written(tmp_path):
    """Paths of one track written in each format."""
    track = make_track()
    edited = np.zeros((len(track), track.num_keypoints), bool)
    edited[1, 4] = edited[5, 0] = True
    return track, edited, {
        "tidy": save_tidy_csv(track, edited, tmp_path / "walk_keypoints.csv"),
        "dlc": export.write_dlc_csv(track, tmp_path / "walk_dlc.csv"),
        "coco": export.write_coco_json(track, tmp_path / "walk_coco.json"),
        "npz": export.write_3d_npz(track, tmp_path / "walk_3d.npz"),
    }


class TestGetReader:
    def test_handles_videos_and_our_keypoint_files(self, clip, written):
        assert get_reader(str(clip)) is not None
        for path in written[2].values():
            assert get_reader(str(path)) is not None, path

    def test_returns_none_for_other_files(self, tmp_path):
        other_csv = tmp_path / "table.csv"
        other_csv.write_text("a,b\n1,2\n")
        other_json = tmp_path / "settings.json"
        other_json.write_text(json.dumps({"a": 1}))
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        for p in (other_csv, other_json, text, tmp_path / "missing.csv", tmp_path):
            assert get_reader(str(p)) is None, p
        assert get_reader([str(other_csv), str(text)]) is None

    def test_a_3d_only_csv_is_not_read_as_2d_keypoints(self, tmp_path):
        path = export.write_3d_csv(make_track(), tmp_path / "walk_3d.csv")
        assert get_reader(str(path)) is None


class TestRead:
    def test_video_is_a_lazy_rgb_layer(self, clip):
        (data, kwargs, kind), = read_file(clip)
        assert kind == "image" and isinstance(data, LazyVideo)
        assert kwargs["rgb"] is True and data.shape == (12, 120, 160, 3)
        assert kwargs["metadata"]["abspose"]["kind"] == "video"

    @pytest.mark.parametrize("fmt", ["tidy", "dlc", "coco", "npz"])
    def test_keypoint_files_give_a_points_layer(self, written, fmt):
        track, edited, paths = written
        ((data, kwargs, kind),) = read_file(paths[fmt])
        assert kind == "points"
        assert all(len(kwargs["features"][c]) == len(data) for c in kwargs["features"])
        back, back_edited = points_to_track(data, kwargs["features"], kwargs["metadata"])
        assert np.allclose(back.keypoints, track.keypoints, atol=1e-3, equal_nan=True)
        assert np.array_equal(back_edited, edited if fmt == "tidy" else np.zeros_like(edited))

    def test_tidy_written_by_core_alone_reads_without_edits(self, tmp_path):
        path = export.write_tidy_csv(make_track(), tmp_path / "plain_keypoints.csv")
        ((_data, kwargs, _),) = read_file(path)
        assert not kwargs["features"]["edited"].any()


class TestWriters:
    @pytest.mark.parametrize("fmt,suffix", [("csv", ".csv"), ("dlc", ".csv"), ("coco", ".json")])
    def test_written_file_reads_back_to_the_same_layer(self, tmp_path, fmt, suffix):
        track = make_track()
        edited = np.zeros((len(track), track.num_keypoints), bool)
        edited[0, 1] = True
        layer = track_to_points(track, edited=edited)
        paths = WRITERS[fmt](str(tmp_path / f"out{suffix}"), [layer])
        ((data, kwargs, _),) = read_file(paths[0])
        assert np.allclose(data, layer[0], atol=1e-3)
        kept = ("keypoint",) if fmt == "dlc" else ("keypoint", "flip_suspect")  # DLC: no flips
        for col in kept:
            assert kwargs["features"][col].astype(str).tolist() == \
                layer[1]["features"][col].astype(str).tolist()
        assert np.allclose(kwargs["features"]["confidence"], layer[1]["features"]["confidence"],
                           atol=1e-4)
        if fmt == "csv":  # the plugin's own file keeps edits and 3D
            assert kwargs["features"]["edited"].tolist() == \
                layer[1]["features"]["edited"].tolist()
            assert np.allclose(kwargs["features"]["z3d"], layer[1]["features"]["z3d"], atol=1e-5)

    def test_suffix_is_added(self, tmp_path):
        paths = write_tidy_csv(str(tmp_path / "out"), [track_to_points(make_track())])
        assert paths == [str(tmp_path / "out.csv")]

    def test_needs_exactly_one_points_layer(self, tmp_path):
        from core.errors import InputError

        layer = track_to_points(make_track())
        with pytest.raises(InputError, match="exactly one"):
            write_tidy_csv(str(tmp_path / "x.csv"), [layer, layer])

    def test_a_skeleton_layer_selected_with_it_is_ignored(self, tmp_path):
        from napari_abspose.layers import skeleton_layer_data

        track = make_track()
        paths = write_tidy_csv(str(tmp_path / "x.csv"), [
            track_to_points(track), skeleton_layer_data(HUMAN, "5ch", (120, 160), "s")])
        assert np.allclose(export.read_tidy_csv(paths[0]).keypoints, track.keypoints,
                           atol=1e-3, equal_nan=True)


class TestBadFiles:
    def test_corrupt_video_is_a_notification_and_no_layer(self, tmp_path):
        bad = tmp_path / "broken.mp4"
        bad.write_bytes(b"\x00" * 1000)
        start = len(notification_manager.records)
        assert read_paths(str(bad)) == [(None,)]
        (message,) = errors_since(start)
        assert "broken.mp4" in message

    def test_broken_keypoint_file_is_a_notification(self, tmp_path):
        bad = tmp_path / "bad_keypoints.csv"
        bad.write_text("frame,keypoint,x,y\nzero,nose,1,2\n")
        start = len(notification_manager.records)
        assert read_paths(str(bad)) == [(None,)]
        assert any("integers" in m for m in errors_since(start))


@needs_display
class TestInViewer:
    def test_open_and_save_through_napari(self, make_napari_viewer, clip, written, tmp_path):
        viewer = make_napari_viewer()
        viewer.open(str(clip), plugin="napari-abspose")
        viewer.open(str(written[2]["tidy"]), plugin="napari-abspose")
        assert [type(ly).__name__ for ly in viewer.layers] == ["Image", "Points"]
        points = viewer.layers[1]
        points.features.loc[3, "edited"] = True
        viewer.layers.selection = {points}
        out = tmp_path / "saved.csv"
        viewer.layers.save(str(out), selected=True, plugin="napari-abspose")
        viewer.open(str(out), plugin="napari-abspose")
        again = viewer.layers[-1]
        assert np.allclose(again.data, points.data, atol=1e-3)
        assert again.features["edited"].tolist() == points.features["edited"].tolist()

    def test_bad_file_in_viewer_is_a_notification(self, make_napari_viewer, tmp_path):
        viewer = make_napari_viewer()
        bad = tmp_path / "broken.mov"
        bad.write_bytes(b"junk")
        start = len(notification_manager.records)
        viewer.open(str(bad), plugin="napari-abspose")
        assert len(viewer.layers) == 0 and errors_since(start)
