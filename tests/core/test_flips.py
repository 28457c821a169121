import math

import numpy as np
import pytest
import torch

from core.camera import PerspectiveCamera, euler_to_matrix, forward_kinematics
from core.errors import InputError, ShapeError
from core.flips import channel_disagreement, channel_flip_score, one_euro_filter, temporal_flips
from core.skeleton import HUMAN
from core.skeleton_image import render_skeleton_image

CAMERA = PerspectiveCamera((480, 640))


def walk(t=60, yaw_from=20.0, yaw_to=20.0, noise=0.0, seed=0):
    """(T, 22, 2) pixels: the rest pose turning from yaw_from to yaw_to degrees while it
    walks across the picture, 3 m from the camera."""
    j = HUMAN.num_keypoints
    yaws = np.radians(np.linspace(yaw_from, yaw_to, t))
    rot = torch.eye(3).repeat(t, j, 1, 1)
    rot[:, 0] = euler_to_matrix(torch.tensor([[0.0, y, 0.0] for y in yaws]))
    root = torch.tensor([[-0.8 + 1.6 * i / t, 0.0, 3.0] for i in range(t)])
    pos, _ = forward_kinematics(HUMAN, rot, root_position=root)
    kp = CAMERA.project(pos).double().numpy()
    return kp + np.random.default_rng(seed).normal(0, noise, kp.shape)


def swap(kp, frames):
    out = kp.copy()
    out[frames] = HUMAN.mirror(kp[frames])
    return out


class TestTemporalFlips:
    def test_no_flip_nothing_flagged(self):
        assert not temporal_flips(walk(noise=1.0), None, HUMAN).any()

    @pytest.mark.parametrize("frames", [[10], [10, 11, 12], [0], [58, 59], [5, 30]])
    def test_swapped_frames_are_found(self, frames):
        kp = swap(walk(noise=0.5), frames)
        assert np.flatnonzero(temporal_flips(kp, None, HUMAN)).tolist() == frames

    def test_turning_round_is_not_a_flip(self):
        kp = walk(t=90, yaw_from=0.0, yaw_to=180.0, noise=0.5)
        assert not temporal_flips(kp, None, HUMAN).any()

    def test_low_confidence_and_missing_keypoints(self):
        kp = swap(walk(), [20])
        conf = np.ones(kp.shape[:2])
        conf[:, HUMAN.index("left_wrist")] = 0.0  # never usable
        kp[25] = np.nan  # a frame with nothing: skipped, not flagged
        flags = temporal_flips(kp, conf, HUMAN)
        assert np.flatnonzero(flags).tolist() == [20]

    def test_pairs_instead_of_skeleton_and_errors(self):
        kp = swap(walk(), [7])
        assert temporal_flips(kp, None, HUMAN.left_right)[7]
        with pytest.raises(ShapeError):
            temporal_flips(kp[0], None, HUMAN)
        with pytest.raises(InputError):
            temporal_flips(kp, None, [(0, 99)])
        assert not temporal_flips(kp[:1], None, HUMAN).any()


class TestChannelDisagreement:
    def setup_method(self):
        kp = torch.from_numpy(walk(t=4)).float()
        self.kp = (2 * kp + 1) / torch.tensor([640.0, 480.0]) - 1  # normalized
        self.size = (96, 128)

    @pytest.mark.parametrize("layout", ["3ch", "5ch", "7ch"])
    def test_swapped_keypoints_disagree(self, layout):
        image = render_skeleton_image(self.kp, HUMAN, layout, self.size)
        assert not channel_disagreement(image, self.kp, HUMAN, layout).any()
        swapped = HUMAN.mirror(self.kp)
        assert channel_disagreement(image, swapped, HUMAN, layout).all()
        score = channel_flip_score(image, swapped, HUMAN, layout)
        assert (score > 0.9).all() and (channel_flip_score(image, self.kp, HUMAN, layout)
                                        < -0.9).all()

    def test_one_channel_never_disagrees(self):
        image = render_skeleton_image(self.kp, HUMAN, "1ch", self.size)
        swapped = HUMAN.mirror(self.kp)
        assert (channel_flip_score(image, swapped, HUMAN, "1ch") == 0).all()

    def test_shapes_checked(self):
        image = render_skeleton_image(self.kp, HUMAN, "5ch", self.size)
        with pytest.raises(ShapeError):
            channel_disagreement(image[:, :3], self.kp, HUMAN, "5ch")
        with pytest.raises(ShapeError):
            channel_disagreement(image, self.kp[:2], HUMAN, "5ch")


class TestOneEuro:
    def test_worked_example(self):
        # rate 2 pi and cutoff 1 Hz give tau * rate = 1, so alpha = 1/2 (beta = 0)
        out = one_euro_filter(np.array([0.0, 1.0, 1.0]), fps=2 * math.pi, min_cutoff=1.0,
                              beta=0.0)
        np.testing.assert_allclose(out, [0.0, 0.5, 0.75])

    def test_speed_raises_the_cutoff(self):
        # with beta the speed estimate a_d * dx (a_d = 1/2 at d_cutoff 1 Hz) raises the cutoff
        fps = 2 * math.pi
        out = one_euro_filter(np.array([0.0, 1.0]), fps=fps, min_cutoff=1.0, beta=0.1)
        dhat = 0.5 * 1.0 * fps
        alpha = 1 / (1 + fps / (2 * math.pi * (1.0 + 0.1 * dhat)))
        np.testing.assert_allclose(out, [0.0, alpha])

    def test_constant_and_noise(self):
        rng = np.random.default_rng(0)
        assert np.allclose(one_euro_filter(np.full((50, 3, 2), 7.0), 30), 7.0)
        noisy = 100 + rng.normal(0, 2, (300, 4, 2))
        smooth = one_euro_filter(noisy, 30, min_cutoff=1.0, beta=0.0)
        assert smooth.shape == noisy.shape
        assert smooth[30:].std() < 0.4 * noisy[30:].std()

    def test_beta_reduces_lag(self):
        ramp = np.arange(120, dtype=float) * 5.0  # 150 px/s
        lag0 = (ramp - one_euro_filter(ramp, 30, beta=0.0))[-1]
        lag1 = (ramp - one_euro_filter(ramp, 30, beta=0.5))[-1]
        assert 0 < lag1 < 0.3 * lag0

    def test_nan_is_kept_and_skipped(self):
        x = np.array([1.0, np.nan, 1.0, 3.0])
        out = one_euro_filter(x, 10, beta=0.0)
        assert np.isnan(out[1]) and out[0] == 1.0 and out[2] == 1.0 and 1 < out[3] < 3
        assert np.isnan(one_euro_filter(np.full(3, np.nan), 10)).all()

    def test_bad_parameters(self):
        with pytest.raises(InputError):
            one_euro_filter(np.zeros(3), fps=0)
        with pytest.raises(ShapeError):
            one_euro_filter(np.float64(1.0), fps=30)
