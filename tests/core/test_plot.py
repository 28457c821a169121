import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from core.errors import ShapeError
from core.overlay import contact_sheet, draw_skeleton
from core.plot import plot_confidence, plot_frame, plot_pose_3d, plot_skeleton_image
from core.skeleton import HUMAN
from core.skeleton_image import render_skeleton_image
from tests.core.test_flips import walk
from tests.core.test_track import make_track


def rendered(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def has_color(image, rgb01, tol=12):
    target = np.asarray(rgb01) * 255
    return (np.abs(image.astype(float) - target).max(axis=-1) < tol).sum()


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


KP = walk(t=1)[0]  # (22, 2) pixels in a 640 x 480 frame


class TestPlotFrame:
    def test_draws_bones_in_channel_colors(self):
        frame = np.zeros((480, 640, 3), np.uint8)
        ax = plot_frame(frame, KP, HUMAN, "3ch", title="frame 0")
        img = rendered(ax.figure)
        for color in HUMAN.channel_colors("3ch"):
            assert has_color(img, color) > 20
        assert ax.get_title() == "frame 0"

    def test_low_confidence_drawn_grey(self):
        conf = np.ones(22)
        conf[HUMAN.index("left_wrist")] = 0.05
        ax = plot_frame(None, torch.from_numpy(KP), HUMAN, confidence=conf)
        assert len(ax.collections) == 2 and ax.collections[1].get_offsets().shape == (1, 2)

    def test_bad_shape(self):
        with pytest.raises(ShapeError):
            plot_frame(None, KP[:5], HUMAN)


class TestPlotSkeletonImage:
    def test_channels_side_by_side(self):
        kp = torch.from_numpy((2 * KP + 1) / np.array([640, 480]) - 1).float()[None]
        image = render_skeleton_image(kp, HUMAN, "5ch", (96, 128))[0]
        fig = plot_skeleton_image(image, HUMAN, "5ch")
        assert len(fig.axes) == 6
        assert [a.get_title() for a in fig.axes] == [c.name for c in HUMAN.channels("5ch")] + [
            "all"]
        img = rendered(fig)
        for color in HUMAN.channel_colors("5ch"):
            assert has_color(img, color, tol=30) > 5

    def test_wrong_channel_count(self):
        with pytest.raises(ShapeError, match="5ch"):
            plot_skeleton_image(np.zeros((3, 8, 8)), HUMAN, "5ch")


class TestPlotPose3d:
    def test_upright_and_equal_axes(self):
        from core.camera import forward_kinematics

        pos, _ = forward_kinematics(HUMAN, torch.eye(3).repeat(1, 22, 1, 1),
                                    root_position=torch.tensor([[0.0, 0.0, 3.0]]))
        ax = plot_pose_3d(pos[0], HUMAN)
        assert ax.name == "3d" and len(ax.lines) == len(HUMAN.edges)
        spans = [np.diff(lim)[0] for lim in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
        assert np.allclose(spans, spans[0])
        head = ax.lines[HUMAN.edges.index((9, 10))].get_data_3d()[2]
        ankle = ax.lines[HUMAN.edges.index((2, 3))].get_data_3d()[2]
        assert min(head) > max(ankle)  # the head is up
        rendered(ax.figure)

    def test_bad_shape(self):
        with pytest.raises(ShapeError):
            plot_pose_3d(np.zeros((22, 2)), HUMAN)


def test_plot_confidence():
    tr = make_track(t=8)
    ax = plot_confidence(tr, keypoints=["nose"])
    assert len(ax.lines) == 2
    rendered(ax.figure)


class TestOverlay:
    def test_draw_skeleton(self):
        frame = np.zeros((480, 640, 3), np.uint8)
        conf = np.ones(22)
        conf[HUMAN.index("right_wrist")] = 0.0
        out = draw_skeleton(frame, KP, HUMAN, "3ch", conf, flip_suspect=True)
        assert out.shape == frame.shape and not frame.any()  # a copy
        for color in HUMAN.channel_colors("3ch"):
            assert has_color(out, color, tol=3) > 20
        wx, wy = KP[HUMAN.index("right_wrist")].round().astype(int)
        patch = out[wy - 8:wy + 9, wx - 8:wx + 9]
        assert has_color(patch, (150 / 255,) * 3, tol=3) > 0  # the grey low-confidence ring
        assert has_color(out[:40, -120:], (1.0, 40 / 255, 40 / 255), tol=3) > 0  # flip tag

    def test_nan_keypoints_skipped(self):
        kp = KP.copy()
        kp[:] = np.nan
        assert not draw_skeleton(np.zeros((48, 64, 3), np.uint8), kp, HUMAN).any()
        with pytest.raises(ShapeError):
            draw_skeleton(np.zeros((48, 64, 3), np.uint8), kp[:3], HUMAN)

    def test_contact_sheet(self):
        tiles = [np.full((90, 160, 3), 40 * i, np.uint8) for i in range(6)]
        sheet = contact_sheet(tiles, columns=4, tile_width=80, labels=[str(i) for i in range(6)])
        assert sheet.shape == (2 * (45 + 4) + 4, 4 * (80 + 4) + 4, 3)
