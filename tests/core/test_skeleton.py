import numpy as np
import pytest
import torch
import yaml

from core.errors import ShapeError, SkeletonError
from core.skeleton import HUMAN, QUADRUPED, Skeleton, load_skeleton

HUMAN_NAMES = (
    "pelvis, right_hip, right_knee, right_ankle, left_hip, left_knee, left_ankle, spine, "
    "thorax, neck, head_top, left_shoulder, left_elbow, left_wrist, right_shoulder, "
    "right_elbow, right_wrist, nose, left_eye, right_eye, left_ear, right_ear"
).split(", ")

SMALL = {
    "name": "mouse",
    "keypoints": ["neck", "snout", "left_ear", "right_ear", "tail_base"],
    "parents": {"neck": None, "snout": "neck", "left_ear": "snout", "right_ear": "snout",
                "tail_base": "neck"},
    "edges": [["neck", "snout"], ["snout", "left_ear"], ["snout", "right_ear"],
              ["neck", "tail_base"]],
    "left_right": [["left_ear", "right_ear"]],
    "layouts": {"3ch": {"left": [["snout", "left_ear"]], "right": [["snout", "right_ear"]],
                        "centre": [["neck", "snout"], ["neck", "tail_base"]]}},
}


def _with(**changes):
    data = {**SMALL, **changes}
    return data


class TestHuman:
    def test_names_are_the_contract(self):
        assert list(HUMAN.keypoints) == HUMAN_NAMES
        assert HUMAN.num_keypoints == 22

    def test_layouts(self):
        assert {"1ch", "3ch", "5ch", "7ch"} <= set(HUMAN.channel_layouts)
        assert [HUMAN.num_channels(x) for x in ("1ch", "3ch", "5ch", "7ch")] == [1, 3, 5, 7]

    @pytest.mark.parametrize("layout", ["1ch", "3ch", "5ch", "7ch"])
    def test_every_edge_in_exactly_one_channel(self, layout):
        flat = sorted(e for g in HUMAN.groups(layout) for e in g)
        assert flat == list(range(len(HUMAN.edges)))

    def test_sides_land_in_their_own_channels(self):
        names = [c.name for c in HUMAN.channels("5ch")]
        for side in ("left", "right"):
            for limb in ("arm", "leg"):
                group = HUMAN.groups("5ch")[names.index(f"{side}_{limb}")]
                for e in group:
                    outer = HUMAN.keypoints[HUMAN.edges[e][1]]
                    assert outer.startswith(side), (side, limb, outer)
        face = HUMAN.channels("7ch")
        left_face = next(c for c in face if c.name == "left_face")
        assert {HUMAN.keypoints[k] for e in left_face.edges for k in HUMAN.edges[e]} == {
            "nose", "left_eye", "left_ear"}

    def test_left_right_pairs(self):
        for a, b in HUMAN.left_right:
            na, nb = HUMAN.keypoints[a], HUMAN.keypoints[b]
            assert na.startswith("left_") and nb == "right_" + na[len("left_"):]

    def test_mirror_numpy_and_torch(self):
        kp = np.arange(22 * 2, dtype=float).reshape(22, 2)
        m = HUMAN.mirror(kp)
        assert np.array_equal(m[HUMAN.index("left_wrist")], kp[HUMAN.index("right_wrist")])
        assert np.array_equal(m[HUMAN.index("pelvis")], kp[HUMAN.index("pelvis")])
        assert np.array_equal(HUMAN.mirror(m), kp)
        t = torch.as_tensor(kp)[None].repeat(3, 1, 1)
        assert torch.equal(HUMAN.mirror(t)[1], torch.as_tensor(m))

    def test_mirror_bad_shape(self):
        with pytest.raises(ShapeError, match=r"\(\.\.\., 22, D\)"):
            HUMAN.mirror(np.zeros((21, 2)))

    def test_rest_pose_is_plausible(self):
        lengths = dict(zip(HUMAN.keypoints, HUMAN.bone_lengths(), strict=True))
        assert 0.35 < lengths["left_knee"] < 0.5 and lengths["left_knee"] == lengths["right_knee"]
        assert lengths["pelvis"] == 0.0

    def test_index_unknown(self):
        with pytest.raises(SkeletonError, match="no keypoint 'tail'"):
            HUMAN.index("tail")

    def test_unknown_layout(self):
        with pytest.raises(SkeletonError, match=r"no channel layout '9ch'.*5ch"):
            HUMAN.groups("9ch")


class TestQuadruped:
    def test_structure(self):
        assert {"1ch", "3ch", "5ch"} <= set(QUADRUPED.channel_layouts)
        names = set(QUADRUPED.keypoints)
        assert {"tail_tip", "nose", "left_front_paw", "right_back_paw"} <= names
        assert len(QUADRUPED.left_right) == 7


class TestLoadSkeleton:
    def test_builtin_names(self):
        assert load_skeleton("human") is HUMAN
        assert load_skeleton("QUADRUPED") is QUADRUPED

    def test_yaml_round_trip(self, tmp_path):
        for sk in (HUMAN, QUADRUPED):
            path = tmp_path / f"{sk.name}.yaml"
            path.write_text(yaml.safe_dump(sk.to_dict()))
            again = load_skeleton(path)
            assert again == sk
            np.testing.assert_allclose(again.joint_limits, sk.joint_limits, atol=1e-6)

    def test_small_custom(self):
        sk = Skeleton.from_dict(SMALL)
        assert sk.channel_layouts == ["1ch", "3ch"]
        assert sk.groups("3ch") == [[1], [2], [0, 3]]
        assert sk.parents == (-1, 0, 1, 1, 0)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"edges": [["neck", "snout"], ["snout", "whisker"]]},
             "edges: unknown keypoint 'whisker'"),
            ({"parents": {"neck": "snout", "snout": "neck", "left_ear": "snout",
                          "right_ear": "snout", "tail_base": "neck"}}, "root"),
            ({"parents": {"neck": None, "snout": "left_ear", "left_ear": "snout",
                          "right_ear": "snout", "tail_base": "neck"}}, "cycle"),
            ({"layouts": {"3ch": {"left": [["snout", "left_ear"]],
                                  "centre": [["neck", "snout"], ["neck", "tail_base"]]}}},
             r"layouts.3ch: edge\(s\) \[\['snout', 'right_ear'\]\] are in no channel"),
            ({"layouts": {"2ch": {"a": [["snout", "left_ear"], ["neck", "snout"]],
                                  "b": [["neck", "snout"], ["snout", "right_ear"],
                                        ["neck", "tail_base"]]}}}, "already in channel 'a'"),
            ({"layouts": {"2ch": {"a": [["neck", "left_ear"]]}}},
             "layouts.2ch.a: edge .* not in the skeleton's edges"),
            ({"left_right": [["left_ear", "left_ear"]]}, "paired with itself"),
            ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
            ({"keypoints": ["neck", "snout", "snout", "right_ear", "tail_base"]}, "duplicate"),
            ({"rest_pose": {"snout": [0, 1]}}, "rest_pose.snout"),
            ({"joint_limits": {"snout": [[10, -10], [0, 0], [0, 0]]}}, "joint_limits.snout"),
        ],
    )
    def test_errors_name_the_offending_key(self, change, message):
        with pytest.raises(SkeletonError, match=message):
            Skeleton.from_dict(_with(**change))

    def test_missing_required(self):
        data = dict(SMALL)
        del data["edges"]
        with pytest.raises(SkeletonError, match="missing the required key 'edges'"):
            Skeleton.from_dict(data)

    def test_missing_file(self, tmp_path):
        with pytest.raises(SkeletonError, match="neither a built-in skeleton"):
            load_skeleton(tmp_path / "nope.yaml")

    def test_bad_yaml_names_file(self, tmp_path):
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(_with(edges=[["neck", "tail"]])))
        with pytest.raises(SkeletonError, match=r"bad.yaml: edges: unknown keypoint 'tail'"):
            load_skeleton(path)


class TestKeypointColors:
    def test_points_match_their_bones(self):
        colors = HUMAN.keypoint_colors("5ch")
        chans = {c.name: np.array(c.color, dtype=np.float32) for c in HUMAN.channels("5ch")}
        np.testing.assert_allclose(colors[HUMAN.index("left_wrist")], chans["left_arm"])
        np.testing.assert_allclose(colors[HUMAN.index("right_knee")], chans["right_leg"])
        np.testing.assert_allclose(colors[HUMAN.index("pelvis")], chans["torso_head"])
