"""Track <-> layer data conversion (no viewer needed)."""

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.skeleton import HUMAN
from napari_abspose.layers import (
    EDITED_BORDER,
    FEATURES,
    LOW_CONFIDENCE_BORDER,
    bone_vectors,
    border_colors,
    guess_skeleton,
    keep_edited,
    points_grid,
    points_to_track,
    skeleton_layer_data,
    swap_left_right,
    track_to_points,
)
from tests.napari_abspose.conftest import make_track


def nan_equal(a, b):
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


class TestTrackToPoints:
    def test_one_row_per_known_point_with_every_feature(self):
        track = make_track()
        data, kwargs, kind = track_to_points(track)
        known = int(np.isfinite(track.keypoints).all(-1).sum())
        assert kind == "points" and data.shape == (known, 3)
        features = kwargs["features"]
        assert list(features.columns) == list(FEATURES)
        assert all(len(features[c]) == len(data) for c in features.columns)
        assert len(kwargs["face_color"]) == len(data) == len(kwargs["border_color"])

    def test_points_are_frame_y_x(self):
        track = make_track()
        data, kwargs, _ = track_to_points(track)
        row = 5  # frame 0, keypoint 5
        assert kwargs["features"]["keypoint"][row] == HUMAN.keypoints[5]
        assert data[row].tolist() == pytest.approx([0, *track.keypoints[0, 5, ::-1]])

    def test_round_trip_gives_the_same_track(self):
        track = make_track()
        edited = np.zeros((len(track), track.num_keypoints), bool)
        edited[3, [2, 7]] = True
        data, kwargs, _ = track_to_points(track, edited=edited)
        back, back_edited = points_to_track(data, kwargs["features"], kwargs["metadata"])
        assert nan_equal(back.keypoints, track.keypoints)
        known = np.isfinite(track.keypoints).all(-1)
        assert np.allclose(back.confidence[known], track.confidence[known])
        assert nan_equal(back.keypoints_3d[known], track.keypoints_3d[known])
        assert np.array_equal(back.flip_suspect, track.flip_suspect)
        assert np.array_equal(back_edited, edited)
        assert back.skeleton == HUMAN and back.fps == track.fps
        assert back.frame_size == track.frame_size and back.source == track.source
        assert np.array_equal(back.boxes, track.boxes)

    def test_colours_follow_the_skeleton_channels(self):
        track = make_track()
        _data, kwargs, _ = track_to_points(track, layout="3ch")
        names = kwargs["features"]["keypoint"].astype(str).to_numpy()
        expected = HUMAN.keypoint_colors("3ch")[[HUMAN.index(n) for n in names]]
        assert np.allclose(kwargs["face_color"][:, :3], expected)

    def test_edited_shape_is_checked(self):
        with pytest.raises(InputError, match="edited"):
            track_to_points(make_track(), edited=np.zeros((2, 2), bool))

    def test_layer_without_our_metadata_is_an_error(self):
        with pytest.raises(InputError, match="keypoints of napari-abspose"):
            points_to_track(np.zeros((1, 3)), pd.DataFrame({"keypoint": ["a"]}), {})

    def test_unknown_keypoint_names_have_no_skeleton(self):
        assert guess_skeleton(["a", "b"]) is None
        assert guess_skeleton(list(HUMAN.keypoints)) is HUMAN


class TestPointsGrid:
    def test_later_duplicate_wins_and_missing_stay_nan(self):
        data = np.array([[0, 5, 1], [1, 6, 2], [1, 7, 3]], float)
        feats = pd.DataFrame({"keypoint": ["a", "b", "b"], "confidence": [0.1, 0.2, 0.3]})
        g = points_grid(data, feats, ["a", "b"], 2)
        assert g["keypoints"][0, 0].tolist() == [1, 5]
        assert g["keypoints"][1, 1].tolist() == [3, 7]
        assert np.isnan(g["keypoints"][1, 0]).all() and np.isnan(g["keypoints"][0, 1]).all()
        assert g["confidence"][1, 1] == pytest.approx(0.3)

    def test_feature_rows_must_match_points(self):
        with pytest.raises(InputError, match="feature rows"):
            points_grid(np.zeros((2, 3)), pd.DataFrame({"keypoint": ["a"]}), ["a"], 1)


class TestSkeletonVectors:
    def test_values_by_hand(self):
        kp = np.array([[10, 20], [13, 24], [np.nan, np.nan]], float)  # (3, 2) x, y
        v = bone_vectors(kp, [(0, 1), (1, 2)])
        assert v.shape == (2, 2, 2)
        assert v[0].tolist() == [[20, 10], [4, 3]]  # (y, x), (dy, dx)
        assert v[1].tolist() == [[24, 13], [0, 0]]  # a missing end: zero length

    def test_layer_colours_by_channel(self):
        data, kwargs, kind = skeleton_layer_data(HUMAN, "5ch", (120, 160), "s")
        e = len(HUMAN.edges)
        assert kind == "vectors" and data.shape == (e, 2, 2)
        colors = HUMAN.channel_colors("5ch")[HUMAN.edge_channel("5ch")]
        assert np.allclose(kwargs["edge_color"][:, :3], colors)
        assert kwargs["metadata"]["abspose"]["edges"] == [list(x) for x in HUMAN.edges]


class TestReviewOperations:
    def test_swap_left_right_moves_positions_not_names(self):
        track = make_track()
        data, kwargs, _ = track_to_points(track)
        feats = kwargs["features"]
        new, rows = swap_left_right(data, feats, 0, [("left_wrist", "right_wrist")])
        li, ri = HUMAN.index("left_wrist"), HUMAN.index("right_wrist")
        assert sorted(rows.tolist()) == sorted([li, ri])
        assert new[li, 1:].tolist() == data[ri, 1:].tolist()
        assert new[ri, 1:].tolist() == data[li, 1:].tolist()
        other = np.setdiff1d(np.arange(len(data)), rows)
        assert np.array_equal(new[other], data[other])

    def test_swap_skips_pairs_with_a_missing_point(self):
        track = make_track()  # frame 1 has no keypoint 3 (right_ankle)
        data, kwargs, _ = track_to_points(track)
        _, rows = swap_left_right(data, kwargs["features"], 1, [("left_ankle", "right_ankle")])
        assert rows.size == 0

    def test_keep_edited_replaces_new_points_with_edited_old_ones(self):
        old_track, new_track = make_track(seed=0), make_track(seed=1)
        edited = np.zeros((len(old_track), old_track.num_keypoints), bool)
        edited[2, 4] = True
        edited[1, 3] = True  # the new prediction has no point there: the edit is added
        old_track.keypoints[1, 3] = [42.0, 43.0]
        old = track_to_points(old_track, edited=edited)
        new = track_to_points(new_track)
        data, kwargs, _ = keep_edited(new, old[0], old[1]["features"])
        back, back_edited = points_to_track(data, kwargs["features"], kwargs["metadata"])
        assert back.keypoints[2, 4].tolist() == old_track.keypoints[2, 4].tolist()
        assert back.keypoints[1, 3].tolist() == [42.0, 43.0]
        assert back_edited.sum() == 2 and back_edited[2, 4] and back_edited[1, 3]
        untouched = ~edited & np.isfinite(new_track.keypoints).all(-1)
        assert np.allclose(back.keypoints[untouched], new_track.keypoints[untouched])
        assert len(kwargs["face_color"]) == len(data)

    def test_border_colours(self):
        colors = border_colors(np.array([0.9, 0.1, 0.1]), np.array([False, False, True]), 0.5)
        assert colors[1].tolist() == pytest.approx(LOW_CONFIDENCE_BORDER)
        assert colors[2].tolist() == pytest.approx(EDITED_BORDER)
        assert colors[0].tolist() != pytest.approx(LOW_CONFIDENCE_BORDER)
