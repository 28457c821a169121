import json

import numpy as np
import pytest

from core.errors import InputError
from core.export import (
    FORMATS,
    check_free,
    export_paths,
    export_track,
    parse_formats,
    read_3d_csv,
    read_3d_npz,
    read_coco_json,
    read_dlc_csv,
    read_tidy_csv,
    write_3d_csv,
    write_3d_npz,
    write_coco_json,
    write_dlc_csv,
    write_tidy_csv,
)
from core.skeleton import HUMAN
from tests.core.test_track import make_track


@pytest.fixture
def track():
    tr = make_track(t=5)
    tr.keypoints[1, 3] = np.nan  # a missing keypoint
    tr.confidence[1, 3] = 0.0
    tr.keypoints_3d[2, 4] = np.nan
    return tr


def close(a, b, atol):
    np.testing.assert_allclose(a, b, atol=atol, equal_nan=True)


class TestTidyCsv:
    def test_round_trip(self, tmp_path, track):
        path = write_tidy_csv(track, tmp_path / "k.csv")
        lines = path.read_text().splitlines()
        assert lines[0] == "frame,keypoint,x,y,confidence,x3d,y3d,z3d,flip_suspect"
        assert lines[1].startswith("0,pelvis,") and len(lines) == 1 + 5 * 22
        assert lines[1 + 22 + 3].startswith("1,right_ankle,,,0.00000,")  # NaN: empty cells
        back = read_tidy_csv(path, fps=25, frame_size=(480, 640))
        assert back.keypoint_names == track.keypoint_names
        close(back.keypoints, track.keypoints, 1e-4)
        close(back.confidence, track.confidence, 1e-5)
        close(back.keypoints_3d, track.keypoints_3d, 1e-6)
        np.testing.assert_array_equal(back.flip_suspect, track.flip_suspect)

    def test_pandas_reads_it(self, tmp_path, track):
        import pandas as pd

        df = pd.read_csv(write_tidy_csv(track, tmp_path / "k.csv"))
        assert df.shape == (110, 9) and df["x"].isna().sum() == 1

    def test_minimal_columns(self, tmp_path):
        path = tmp_path / "min.csv"
        path.write_text("frame,keypoint,x,y\n0,a,1,2\n1,a,3,4\n")
        tr = read_tidy_csv(path)
        assert tr.keypoints[:, 0].tolist() == [[1, 2], [3, 4]] and (tr.confidence == 1).all()
        path.write_text("frame,x,y\n0,1,2\n")
        with pytest.raises(InputError, match="missing column"):
            read_tidy_csv(path)


class TestDeepLabCut:
    def test_layout_read_as_deeplabcut_does(self, tmp_path, track):
        import pandas as pd

        path = write_dlc_csv(track, tmp_path / "d.csv", scorer="DLC_model")
        df = pd.read_csv(path, header=[0, 1, 2], index_col=0)
        assert df.columns.names == ["scorer", "bodyparts", "coords"]
        assert df.shape == (5, 66) and list(df.index) == [0, 1, 2, 3, 4]
        assert set(df.columns.get_level_values(0)) == {"DLC_model"}
        assert list(df.columns.get_level_values(1).unique()) == list(HUMAN.keypoints)
        assert list(df.columns.get_level_values(2)[:3]) == ["x", "y", "likelihood"]
        wrist = df["DLC_model"]["left_wrist"]
        close(wrist["x"].to_numpy(), track.keypoints[:, 13, 0], 1e-4)
        close(wrist["likelihood"].to_numpy(), track.confidence[:, 13], 1e-5)
        assert np.isnan(df["DLC_model"]["right_ankle"]["x"][1])

    def test_round_trip(self, tmp_path, track):
        back = read_dlc_csv(write_dlc_csv(track, tmp_path / "d.csv"))
        assert back.keypoint_names == track.keypoint_names
        close(back.keypoints, track.keypoints, 1e-4)
        close(back.confidence, track.confidence, 1e-5)

    def test_labels_without_likelihood_and_foreign_files(self, tmp_path):
        path = tmp_path / "labels.csv"
        path.write_text("scorer,me,me\nbodyparts,snout,snout\ncoords,x,y\n0,1.5,2.5\n1,,\n")
        tr = read_dlc_csv(path)
        assert tr.keypoint_names == ["snout"] and tr.confidence[:, 0].tolist() == [1.0, 0.0]
        path.write_text("scorer,me\nindividuals,a\nbodyparts,snout\ncoords,x\n")
        with pytest.raises(InputError, match="multi-animal"):
            read_dlc_csv(path)
        path.write_text("a,b\n1,2\n")
        with pytest.raises(InputError, match="not a DeepLabCut"):
            read_dlc_csv(path)


class TestCoco:
    def test_structure(self, tmp_path, track):
        doc = json.loads(write_coco_json(track, tmp_path / "c.json").read_text())
        assert len(doc["images"]) == 5 and doc["images"][0]["width"] == 640
        assert doc["images"][0]["file_name"] == "clip_000000.png"
        cat = doc["categories"][0]
        assert cat["name"] == "person" and cat["keypoints"] == list(HUMAN.keypoints)
        assert [1, 2] in cat["skeleton"] and len(cat["skeleton"]) == len(HUMAN.edges)
        ann = doc["annotations"][1]
        assert ann["image_id"] == 2 and len(ann["keypoints"]) == 3 * 22
        assert ann["keypoints"][9:12] == [0, 0, 0]  # the missing right ankle
        vis = ann["keypoints"][2::3]
        conf = track.confidence[1]
        expected = [0 if k == 3 else (2 if c >= 0.5 else 1) for k, c in enumerate(conf)]
        assert vis == expected and ann["num_keypoints"] == 21
        x, y, w, h = ann["bbox"]
        kp = track.keypoints[1][~np.isnan(track.keypoints[1, :, 0])]
        close([x, y, x + w, y + h], [*kp.min(0), *kp.max(0)], 1e-2)

    def test_round_trip(self, tmp_path, track):
        back = read_coco_json(write_coco_json(track, tmp_path / "c.json"))
        assert back.keypoint_names == track.keypoint_names and back.fps == 25.0
        assert back.frame_size == (480, 640)
        close(back.keypoints, track.keypoints, 1e-4)
        conf = track.confidence.copy()
        close(back.confidence, conf, 1e-5)
        np.testing.assert_array_equal(back.flip_suspect, track.flip_suspect)

    def test_plain_coco_visibility(self, tmp_path):
        doc = {"images": [{"id": 7, "width": 10, "height": 10}],
               "annotations": [{"image_id": 7, "category_id": 1,
                                "keypoints": [1, 2, 2, 3, 4, 1, 0, 0, 0]}],
               "categories": [{"id": 1, "keypoints": ["a", "b", "c"], "skeleton": []}]}
        path = tmp_path / "plain.json"
        path.write_text(json.dumps(doc))
        tr = read_coco_json(path)
        assert tr.confidence[0].tolist() == [1.0, 0.5, 0.0] and np.isnan(tr.keypoints[0, 2]).all()
        path.write_text("{}")
        with pytest.raises(InputError, match="not a COCO"):
            read_coco_json(path)


class Test3d:
    def test_npz_round_trip(self, tmp_path, track):
        path = write_3d_npz(track, tmp_path / "p.npz")
        with np.load(path, allow_pickle=False) as z:
            assert z["keypoints_3d"].shape == (5, 22, 3) and z["intrinsics"].shape == (3, 3)
            assert z["keypoint_names"].tolist() == list(HUMAN.keypoints)
            assert z["edges"].shape == (len(HUMAN.edges), 2)
        back = read_3d_npz(path)
        for name in ("keypoints", "confidence", "keypoints_3d", "flip_suspect", "intrinsics",
                     "boxes"):
            np.testing.assert_array_equal(getattr(back, name), getattr(track, name))
        assert (back.fps, back.frame_size, back.source) == (25.0, (480, 640), "clip.mp4")

    def test_csv_round_trip(self, tmp_path, track):
        path = write_3d_csv(track, tmp_path / "p.csv")
        assert path.read_text().splitlines()[0] == "frame,keypoint,x,y,z,confidence"
        back = read_3d_csv(path)
        close(back.keypoints_3d, track.keypoints_3d, 1e-6)
        close(back.confidence, track.confidence, 1e-5)

    def test_bad_npz(self, tmp_path):
        path = tmp_path / "x.npz"
        np.savez(path, a=np.zeros(3))
        with pytest.raises(InputError, match="not a keypoints npz"):
            read_3d_npz(path)


class TestExportTrack:
    def test_writes_every_format_and_never_overwrites(self, tmp_path, track):
        paths = export_track(track, tmp_path, "clip", "all")
        assert [p.name for p in paths] == ["clip_keypoints.csv", "clip_dlc.csv",
                                           "clip_coco.json", "clip_3d.npz", "clip_3d.csv"]
        before = paths[0].read_bytes()
        with pytest.raises(InputError, match=r"exists.*--overwrite"):
            export_track(make_track(t=2), tmp_path, "clip", "csv")
        assert paths[0].read_bytes() == before
        export_track(make_track(t=2), tmp_path, "clip", "csv", overwrite=True)
        assert paths[0].read_bytes() != before
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    def test_formats(self):
        assert parse_formats("csv, dlc,csv") == ["csv", "dlc"]
        assert parse_formats(["all"]) == list(FORMATS)
        with pytest.raises(InputError, match="unknown export format"):
            parse_formats("csv,h5")
        with pytest.raises(InputError):
            parse_formats("")
        assert export_paths("o", "v", "npz")["npz"].as_posix() == "o/v_3d.npz"

    def test_check_free(self, tmp_path):
        (tmp_path / "a").write_text("x")
        check_free([tmp_path / "b"], overwrite=False)
        check_free([tmp_path / "a"], overwrite=True)
        with pytest.raises(InputError, match="exists"):
            check_free([tmp_path / "a"], overwrite=False)

    def test_interrupted_write_keeps_the_old_file(self, tmp_path, track, monkeypatch):
        path = write_tidy_csv(track, tmp_path / "k.csv")
        before = path.read_bytes()
        import core.io

        def broken(fd, *a, **k):
            raise KeyboardInterrupt

        monkeypatch.setattr(core.io.os, "fsync", broken)
        with pytest.raises(KeyboardInterrupt):
            write_tidy_csv(make_track(t=1), path)
        assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1
