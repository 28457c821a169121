from pathlib import Path

import numpy as np
import pytest
import torch

from core.camera import forward_kinematics
from core.errors import InputError
from core.skeleton import HUMAN
from tests.training.test_poses import human_chirality
from training.poses import sample_poses
from training.poses.bvh import (
    DEFAULT_MAPPING,
    BVHPoseSource,
    load_bvh,
    load_mapping,
    retarget,
)
from training.poses.bvh_retarget import positions_to_globals

WALK = Path(__file__).resolve().parents[3] / "shared" / "data" / "mocap" / "walk_120hz.bvh"
needs_walk = pytest.mark.skipif(not WALK.is_file(), reason=f"{WALK} not present")

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 1 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 2 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 90 0 0
"""


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY)
    return path


class TestParser:
    def test_hierarchy_and_motion(self, tiny):
        b = load_bvh(tiny)
        assert b.names == ["Hips", "Arm"] and b.parents == [-1, 0]
        assert b.motion.shape == (2, 9) and b.fps == pytest.approx(25.0)
        assert b.channels[1] == ["Zrotation", "Xrotation", "Yrotation"]

    def test_forward_kinematics_by_hand(self, tiny):
        pos, rot, ends = load_bvh(tiny).forward_kinematics()
        # frame 0: translated by (1, 2, 3), no rotation
        assert np.allclose(pos[0, 0], [1, 2, 3]) and np.allclose(pos[0, 1], [2, 2, 3])
        assert np.allclose(ends[1][0], [4, 2, 3])
        # frame 1: hips turned 90 deg about z: x -> y; the arm another 90 deg: x -> -x
        assert np.allclose(pos[1, 1], [0, 1, 0], atol=1e-9)
        assert np.allclose(ends[1][1], [-2, 1, 0], atol=1e-9)
        assert np.allclose(rot[1, 1], np.diag([-1, -1, 1]), atol=1e-9)

    def test_rest_pose(self, tiny):
        pos, _, _ = load_bvh(tiny).rest().forward_kinematics()
        assert np.allclose(pos[0], [[0, 0, 0], [1, 0, 0]])

    def test_bad_files(self, tmp_path):
        with pytest.raises(InputError, match="does not exist"):
            load_bvh(tmp_path / "nope.bvh")
        bad = tmp_path / "bad.bvh"
        bad.write_text(TINY.replace("Frames: 2", "Frames: 5"))
        with pytest.raises(InputError, match="expected 5 frames"):
            load_bvh(bad)


class TestMapping:
    def test_default_is_valid_yaml(self):
        m = load_mapping(None)
        assert m["keypoints"]["pelvis"] == "Hips"
        assert "neck" in m["orientation"]
        assert "units: auto" in DEFAULT_MAPPING

    def test_unknown_key(self):
        with pytest.raises(InputError, match="unknown key"):
            load_mapping({"keypoints": {"pelvis": "Hips"}, "scale": 2})

    def test_unknown_joint(self, tiny):
        msg = "no joint 'RightUpLeg' in the file; joints: Hips, Arm"
        with pytest.raises(InputError, match=msg):
            retarget(load_bvh(tiny))


def test_positions_to_globals_recovers_poses():
    """Retargeting HUMAN's own joint positions gives back the same positions."""
    poses = sample_poses(HUMAN, 32, seed=4)
    kp = {k: poses.joints[:, j].double().numpy() for j, k in enumerate(HUMAN.keypoints)}
    glob = torch.as_tensor(positions_to_globals(HUMAN, kp, HUMAN.rest_offsets))
    local = glob.clone()
    for j, p in enumerate(HUMAN.parents):
        if p >= 0:
            local[:, j] = glob[:, p].transpose(1, 2) @ glob[:, j]
    pos, _ = forward_kinematics(HUMAN, local.float(), poses.bone_lengths, poses.root_position)
    err = (pos - poses.joints).norm(dim=-1)
    assert err.max() < 1e-3


@needs_walk
class TestWalkClip:
    def test_load(self):
        b = load_bvh(WALK)
        assert b.motion.shape[0] == 1064 and b.fps == pytest.approx(120.0, rel=1e-3)
        assert "Hips" in b.names and "LeftForeArm" in b.names

    def test_retarget_follows_the_limbs(self):
        b = load_bvh(WALK)
        out = retarget(b)
        rot = torch.as_tensor(out["rotations"], dtype=torch.float32)
        t = rot.shape[0]
        lengths = torch.as_tensor(out["bone_lengths"], dtype=torch.float32).expand(t, -1)
        pos, _ = forward_kinematics(HUMAN, rot, lengths,
                                    torch.as_tensor(out["root"], dtype=torch.float32))
        mocap, _, _ = b.forward_kinematics()
        names = {k: b.names.index(v) for k, v in load_mapping()["keypoints"].items()
                 if isinstance(v, str) and "/" not in v}
        conv = np.diag([1.0, -1.0, -1.0])  # BVH (left +x, up +y, forward +z) -> body frame
        for a, c in (("left_hip", "left_knee"), ("left_knee", "left_ankle"),
                     ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")):
            want = (mocap[:, names[c]] - mocap[:, names[a]]) @ conv.T
            got = (pos[:, HUMAN.index(c)] - pos[:, HUMAN.index(a)]).double().numpy()
            cos = (want * got).sum(-1) / np.linalg.norm(want, axis=-1) / np.linalg.norm(
                got, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, (a, c)
        assert (human_chirality(pos) > 0).all()
        assert 0.35 < out["bone_lengths"][HUMAN.index("left_knee")] < 0.55  # a thigh

    def test_pose_source(self):
        src = BVHPoseSource(WALK)
        assert src.activities == ["walk_120hz"] and src.num_frames == 1064
        p = src.sample(16, seed=0)
        assert p.joints.shape == (16, 22, 3) and set(p.activity) == {"walk_120hz"}
        assert (human_chirality(p.joints) > 0).all()
        assert (p.joints[..., 1] <= 1e-6).all()
        seq = src.sequence(30, fps=30, seed=0)
        assert seq.joints.shape == (30, 22, 3) and seq.fps == 30
        step = (seq.joints[1:, 0] - seq.joints[:-1, 0]).norm(dim=-1)
        assert step.max() < 0.1  # the root moves smoothly (walking, 30 fps)
        assert (seq.joints[-1, 0] - seq.joints[0, 0]).norm() > 0.3  # and travels
