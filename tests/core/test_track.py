import numpy as np
import pytest

from core.errors import InputError, ShapeError
from core.skeleton import HUMAN, QUADRUPED
from core.track import Track, concatenate_tracks


def make_track(t=6, skeleton=HUMAN, seed=0):
    rng = np.random.default_rng(seed)
    j = skeleton.num_keypoints
    return Track(
        keypoint_names=list(skeleton.keypoints),
        keypoints=rng.uniform(0, 500, (t, j, 2)),
        confidence=rng.uniform(0, 1, (t, j)),
        keypoints_3d=rng.normal(0, 1, (t, j, 3)),
        flip_suspect=rng.uniform(size=t) < 0.3,
        fps=25.0, frame_size=(480, 640), source="clip.mp4",
        intrinsics=np.eye(3), boxes=rng.uniform(0, 100, (t, 4)), skeleton=skeleton,
    )


class TestTrack:
    def test_fields_and_defaults(self):
        tr = Track(["a", "b"], np.zeros((3, 2, 2)), np.ones((3, 2)))
        assert len(tr) == 3 and tr.num_keypoints == 2 and tr.keypoints.dtype == np.float32
        assert np.isnan(tr.keypoints_3d).all() and tr.keypoints_3d.shape == (3, 2, 3)
        assert tr.flip_suspect.dtype == bool and not tr.flip_suspect.any()
        assert tr.edges == [] and tr.mean_confidence() == 1.0

    @pytest.mark.parametrize("field, value", [
        ("keypoints", np.zeros((3, 3, 2))),
        ("confidence", np.zeros((3,))),
        ("keypoints_3d", np.zeros((3, 2, 2))),
        ("flip_suspect", np.zeros(4)),
        ("intrinsics", np.eye(4)),
        ("boxes", np.zeros((3, 3))),
    ])
    def test_shape_errors_name_the_field(self, field, value):
        kwargs = dict(keypoint_names=["a", "b"], keypoints=np.zeros((3, 2, 2)),
                      confidence=np.ones((3, 2)))
        kwargs[field] = value
        with pytest.raises(ShapeError, match=f"Track.{field}: expected shape"):
            Track(**kwargs)

    def test_skeleton_must_match(self):
        with pytest.raises(InputError, match="skeleton"):
            Track(["a"], np.zeros((1, 1, 2)), np.ones((1, 1)), skeleton=QUADRUPED)

    def test_slicing(self):
        tr = make_track()
        part = tr[2:5]
        assert len(part) == 3 and part.fps == 25.0 and part.skeleton is HUMAN
        np.testing.assert_array_equal(part.keypoints, tr.keypoints[2:5])
        np.testing.assert_array_equal(tr[tr.flip_suspect].flip_suspect, True)
        assert len(tr[3]) == 1

    def test_concatenate(self):
        tr = make_track()
        joined = concatenate_tracks([tr[:2], tr[2:]])
        np.testing.assert_array_equal(joined.keypoints, tr.keypoints)
        np.testing.assert_array_equal(joined.boxes, tr.boxes)
        with pytest.raises(InputError):
            concatenate_tracks([tr, make_track(skeleton=QUADRUPED)])


class TestDataFrame:
    def test_round_trip(self):
        tr = make_track()
        df = tr.to_dataframe()
        assert list(df.columns) == ["frame", "keypoint", "x", "y", "confidence", "x3d", "y3d",
                                    "z3d", "flip_suspect"]
        assert len(df) == 6 * 22 and df.attrs["fps"] == 25.0
        row = df.iloc[22 + 13]  # frame 1, left_wrist
        assert row["frame"] == 1 and row["keypoint"] == "left_wrist"
        assert row["x"] == tr.keypoints[1, 13, 0]
        back = Track.from_dataframe(df)
        assert back.keypoint_names == tr.keypoint_names and back.fps == 25.0
        assert back.frame_size == (480, 640) and back.source == "clip.mp4"
        for name in ("keypoints", "confidence", "keypoints_3d", "flip_suspect", "intrinsics"):
            np.testing.assert_array_equal(getattr(back, name), getattr(tr, name))

    def test_missing_rows_become_nan_and_order_is_kept(self):
        import pandas as pd

        df = pd.DataFrame({"frame": [0, 2, 2], "keypoint": ["b", "a", "b"],
                           "x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
        tr = Track.from_dataframe(df, fps=10)
        assert tr.keypoint_names == ["b", "a"] and len(tr) == 3
        assert np.isnan(tr.keypoints[1]).all() and tr.confidence[1].tolist() == [0, 0]
        assert tr.keypoints[2, 1].tolist() == [2.0, 5.0] and tr.confidence[2].tolist() == [1, 1]
        tr2 = Track.from_dataframe(df, keypoint_names=["a", "b"])
        assert tr2.keypoints[0, 1].tolist() == [1.0, 4.0]

    def test_bad_tables(self):
        import pandas as pd

        with pytest.raises(InputError, match="missing column"):
            Track.from_dataframe(pd.DataFrame({"frame": [0], "x": [1]}))
        df = pd.DataFrame({"frame": [0], "keypoint": ["z"], "x": [1.0], "y": [1.0]})
        with pytest.raises(InputError, match="unknown keypoint"):
            Track.from_dataframe(df, keypoint_names=["a"])
