import math

import numpy as np
import pytest
import torch

from core.camera import euler_to_matrix, forward_kinematics
from core.errors import InputError
from core.skeleton import HUMAN, QUADRUPED, load_skeleton
from training.poses import (
    LimbLengths,
    PoseBank,
    ProceduralPoseSource,
    activity_names,
    generate_sequence,
    matrix_to_euler,
    place_poses,
    random_bone_lengths,
    sample_poses,
)
from training.poses.activities import activities_for


def human_chirality(joints: torch.Tensor) -> torch.Tensor:
    """dot(cross(left_shoulder - right_shoulder, up), forward) per pose, (..., J, 3) in."""
    k = HUMAN.index
    up = joints[..., k("thorax"), :] - joints[..., k("pelvis"), :]
    ears = (joints[..., k("left_ear"), :] + joints[..., k("right_ear"), :]) / 2
    forward = joints[..., k("nose"), :] - ears
    side = joints[..., k("left_shoulder"), :] - joints[..., k("right_shoulder"), :]
    return (torch.cross(side, up, dim=-1) * forward).sum(-1)


def quadruped_chirality(joints: torch.Tensor) -> torch.Tensor:
    """The quadruped's own frame: forward along the back, up from the knees and elbows to
    the spine, left from hip to hip."""
    k = QUADRUPED.index
    forward = joints[..., k("withers"), :] - joints[..., k("spine_base"), :]
    legs = [k(f"{s}_{p}") for s in ("left", "right") for p in ("front_elbow", "back_knee")]
    up = joints[..., k("spine_mid"), :] - joints[..., legs, :].mean(-2)
    side = joints[..., k("left_back_hip"), :] - joints[..., k("right_back_hip"), :]
    return (torch.cross(side, up, dim=-1) * forward).sum(-1)


CHIRALITY = {"human": human_chirality, "quadruped": quadruped_chirality}


class TestActivities:
    def test_human_has_the_h36m_like_set(self):
        names = activity_names(HUMAN)
        assert len(names) >= 12
        for a in ("walk", "walk_turn", "run", "sit_down", "sitting", "squat", "pick_up", "wave",
                  "reach", "kick", "jump", "phone", "eat", "greet", "crawl", "lie"):
            assert a in names

    def test_quadruped_set(self):
        names = activity_names(QUADRUPED)
        for a in ("stand", "walk", "trot", "sit", "lie", "look_around"):
            assert a in names

    @pytest.mark.parametrize("skeleton", [HUMAN, QUADRUPED], ids=["human", "quadruped"])
    def test_every_activity_within_limits_and_chiral(self, skeleton):
        lim = torch.as_tensor(skeleton.joint_limits, dtype=torch.float32)
        root = skeleton.parents.index(-1)
        for name in activity_names(skeleton, everyday=False):
            poses = sample_poses(skeleton, 24, seed=1, activities=[name])
            e = poses.euler.clone()
            e[:, root] = 0.0  # the root is the free global orientation
            inside = (e >= lim[..., 0] - 1e-5) & (e <= lim[..., 1] + 1e-5)
            assert inside.all(), f"{name} leaves the joint limits"
            assert (CHIRALITY[skeleton.name](poses.joints) > 0).all(), name

    @pytest.mark.parametrize("skeleton", [HUMAN, QUADRUPED], ids=["human", "quadruped"])
    def test_sequences_are_continuous_and_chiral(self, skeleton):
        root = skeleton.parents.index(-1)
        for name in activity_names(skeleton, everyday=False):
            seq = generate_sequence(skeleton, name, 100, fps=50, seed=7)
            assert seq.joints.shape == (100, skeleton.num_keypoints, 3)
            assert seq.activity == [name] * 100
            rel = seq.joints - seq.joints[:, root:root + 1]
            step = (rel[1:] - rel[:-1]).norm(dim=-1).amax()
            # 0.2 m in 1/50 s = 10 m/s relative to the pelvis: faster than any limb moves
            assert step < 0.2, f"{name}: a joint jumps {step:.2f} m between frames"
            assert (CHIRALITY[skeleton.name](seq.joints) > 0).all(), name

    def test_free_poses_reach_what_everyday_ones_do_not(self):
        # ``free`` is named, never drawn by default, and reaches poses of sport and
        # dance: an ankle above its own hip, both wrists above the head
        assert "free" not in activity_names(HUMAN)
        assert "free" in activity_names(HUMAN, everyday=False)
        k = HUMAN.index

        def shares(poses):
            j = poses.joints - poses.joints[:, :1]  # y is down
            kick = (j[:, k("left_ankle"), 1] < j[:, k("left_hip"), 1]) | (
                j[:, k("right_ankle"), 1] < j[:, k("right_hip"), 1])
            up = (j[:, k("left_wrist"), 1] < j[:, k("head_top"), 1]) & (
                j[:, k("right_wrist"), 1] < j[:, k("head_top"), 1])
            return kick.float().mean().item(), up.float().mean().item()

        everyday = shares(sample_poses(HUMAN, 2000, seed=0))
        free = shares(sample_poses(HUMAN, 2000, seed=0, activities=["free"]))
        assert free[0] > 0.05 and free[0] > 3 * everyday[0]
        assert free[1] > 0.05 and free[1] > 3 * everyday[1]

    def test_unknown_activity(self):
        with pytest.raises(InputError, match="unknown activity 'moonwalk'"):
            sample_poses(HUMAN, 2, seed=0, activities=["moonwalk"])
        with pytest.raises(InputError, match="unknown activity"):
            generate_sequence(HUMAN, "moonwalk", 10)

    def test_bad_sizes(self):
        with pytest.raises(InputError):
            sample_poses(HUMAN, 0)
        with pytest.raises(InputError):
            generate_sequence(HUMAN, "walk", 0)


class TestPoseBatch:
    @pytest.mark.parametrize("batch", [1, 7])
    @pytest.mark.parametrize("skeleton", [HUMAN, QUADRUPED], ids=["human", "quadruped"])
    def test_shapes_and_forward_kinematics(self, skeleton, batch):
        p = sample_poses(skeleton, batch, seed=3)
        j = skeleton.num_keypoints
        assert p.rotations.shape == (batch, j, 3, 3)
        assert p.euler.shape == (batch, j, 3)
        assert p.bone_lengths.shape == (batch, j)
        assert p.joints.shape == (batch, j, 3)
        assert p.seat.shape == (batch, 3)
        assert len(p.activity) == batch == len(p)
        assert torch.allclose(euler_to_matrix(p.euler), p.rotations, atol=1e-5)
        pos, _ = forward_kinematics(skeleton, p.rotations, p.bone_lengths, p.root_position)
        assert torch.allclose(pos, p.joints, atol=1e-5)

    def test_on_the_floor(self):
        p = sample_poses(HUMAN, 64, seed=2)
        lift = torch.zeros(64)
        placed = place_poses(HUMAN, p.euler, p.bone_lengths, lift, torch.zeros(64, dtype=bool))
        clearance = torch.as_tensor(activities_for(HUMAN).clearance, dtype=torch.float32)
        scale = p.bone_lengths.sum(-1, keepdim=True) / float(HUMAN.bone_lengths().sum())
        low = (placed["joints"][..., 1] + clearance * scale).amax(-1)
        assert torch.allclose(low, torch.zeros(64), atol=1e-5)  # lowest point touches y = 0
        assert (placed["joints"][..., 1] <= 1e-6).all()  # y is down: nothing below the floor
        assert placed["joints"][:, 0, [0, 2]].abs().max() < 1e-6  # root above the origin

    def test_seated_poses_get_a_stool(self):
        p = sample_poses(HUMAN, 16, seed=0, activities=["sitting"])
        assert torch.isfinite(p.seat).all()
        pelvis = p.joints[:, HUMAN.index("pelvis")]
        assert (p.seat[:, 1] > pelvis[:, 1]).all()  # the seat is below the pelvis (y down)
        q = sample_poses(HUMAN, 8, seed=0, activities=["walk"])
        assert torch.isnan(q.seat).all()

    def test_same_seed_same_poses(self):
        a = sample_poses(HUMAN, 10, seed=5)
        b = sample_poses(HUMAN, 10, seed=5)
        c = sample_poses(HUMAN, 10, seed=6)
        assert torch.equal(a.joints, b.joints) and a.activity == b.activity
        assert not torch.allclose(a.joints, c.joints)
        s1 = generate_sequence(HUMAN, "wave", 20, seed=9)
        s2 = generate_sequence(HUMAN, "wave", 20, seed=9)
        assert torch.equal(s1.joints, s2.joints)

    def test_index_cat_to(self):
        p = sample_poses(HUMAN, 5, seed=0)
        q = type(p).cat([p.index([4, 0]), p.index([1])])
        assert torch.equal(q.joints[0], p.joints[4]) and q.activity[2] == p.activity[1]
        assert q.to("cpu").joints.device.type == "cpu"

    def test_custom_skeleton_gets_generic_motion(self):
        mouse = load_skeleton({
            "name": "mouse", "keypoints": ["neck", "snout", "tail"],
            "parents": {"neck": None, "snout": "neck", "tail": "neck"},
            "edges": [["neck", "snout"], ["neck", "tail"]],
            "rest_pose": {"snout": [0, 0, -0.03], "tail": [0, 0, 0.05]},
            "joint_limits": {"snout": [[-20, 20], [-30, 30], [0, 0]]},
        })
        assert activity_names(mouse) == ["move"]
        p = sample_poses(mouse, 4, seed=0)
        assert p.joints.shape == (4, 3, 3)
        e = torch.rad2deg(p.euler[:, 1])
        assert (e[:, 0].abs() <= 20 + 1e-3).all() and (e[:, 2] == 0).all()


class TestLimbLengths:
    def test_range_and_symmetry(self):
        limbs = LimbLengths(overall=(0.9, 1.1), part=(0.95, 1.05), jitter=0.0)
        lengths = random_bone_lengths(HUMAN, 200, limbs, torch.Generator().manual_seed(0))
        rest = torch.as_tensor(HUMAN.bone_lengths(), dtype=torch.float32)
        ratio = lengths[:, rest > 0] / rest[rest > 0]
        assert ratio.min() >= 0.9 * 0.95 - 1e-6 and ratio.max() <= 1.1 * 1.05 + 1e-6
        assert ratio.std() > 0.02  # really random
        for a, b in HUMAN.left_right:  # no jitter: mirrored bones are equal
            assert torch.allclose(lengths[:, a], lengths[:, b])

    def test_fixed_when_ranges_are_points(self):
        limbs = LimbLengths(overall=(1.0, 1.0), part=(1.0, 1.0), jitter=0.0)
        lengths = random_bone_lengths(HUMAN, 3, limbs)
        rest = torch.as_tensor(HUMAN.bone_lengths(), dtype=torch.float32)
        assert torch.allclose(lengths, rest.expand(3, -1))

    def test_given_lengths_are_used(self):
        lengths = random_bone_lengths(HUMAN, 6, generator=torch.Generator().manual_seed(1))
        p = sample_poses(HUMAN, 6, seed=0, bone_lengths=lengths)
        assert torch.equal(p.bone_lengths, lengths)
        got = (p.joints[:, 2] - p.joints[:, 1]).norm(dim=-1)  # right thigh
        assert torch.allclose(got, lengths[:, 2], atol=1e-5)


class TestSources:
    def test_bank_matches_the_interface(self):
        bank = PoseBank(HUMAN, clips=4, frames=8, seed=0)
        p = bank.sample(12, torch.Generator().manual_seed(1))
        assert p.joints.shape == (12, 22, 3) and len(p.activity) == 12
        assert set(p.activity) <= set(activity_names(HUMAN))
        pos, _ = forward_kinematics(HUMAN, p.rotations, p.bone_lengths, p.root_position)
        assert torch.allclose(pos, p.joints, atol=1e-5)
        assert (human_chirality(p.joints) > 0).all()
        q = bank.sample(12, torch.Generator().manual_seed(2), bone_lengths=p.bone_lengths)
        assert torch.equal(q.bone_lengths, p.bone_lengths)

    def test_bank_draws_activities_by_weight(self):
        bank = PoseBank(HUMAN, ["walk", "free"], clips=4, frames=8, seed=0,
                        weights=[0.75, 0.25])
        drawn = bank.sample(4000, torch.Generator().manual_seed(1)).activity
        assert abs(drawn.count("free") / 4000 - 0.25) < 0.03
        never = PoseBank(HUMAN, ["walk", "free"], clips=4, frames=8, seed=0, weights=[1, 0])
        assert set(never.sample(200, torch.Generator().manual_seed(1)).activity) == {"walk"}
        for bad in ([1.0], [1.0, -1.0], [0.0, 0.0]):
            with pytest.raises(InputError, match="weights: expected 2 non-negative"):
                PoseBank(HUMAN, ["walk", "free"], clips=4, frames=8, seed=0, weights=bad)

    def test_procedural_source(self):
        src = ProceduralPoseSource(QUADRUPED, activities=["walk", "sit"])
        p = src.sample(5, seed=0)
        assert set(p.activity) <= {"walk", "sit"}
        seq = src.sequence(12, fps=10, seed=0, activity="walk")
        assert seq.fps == 10 and seq.joints.shape == (12, 23, 3)

    def test_walking_travels(self):
        seq = generate_sequence(HUMAN, "walk", 50, fps=25, seed=0)
        travel = (seq.joints[-1, 0] - seq.joints[0, 0])[[0, 2]].norm()
        assert 0.6 < travel < 4.0  # about 1.2 m/s for 2 s


def test_matrix_to_euler_round_trip():
    g = torch.Generator().manual_seed(0)
    angles = (torch.rand(100, 3, generator=g) - 0.5) * torch.tensor([2 * math.pi, 3.0,
                                                                       2 * math.pi])
    back = matrix_to_euler(euler_to_matrix(angles))
    assert torch.allclose(euler_to_matrix(back), euler_to_matrix(angles), atol=1e-5)
    assert np.allclose(back.numpy(), angles.numpy(), atol=1e-4)
