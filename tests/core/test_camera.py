import math

import numpy as np
import pytest
import torch

from core.camera import (
    PerspectiveCamera,
    axis_angle_to_matrix,
    euler_to_matrix,
    focal_length,
    forward_kinematics,
    matrix_to_rotation_6d,
    normalized_to_pixel,
    pixel_centers,
    pixel_to_normalized,
    rotation_6d_to_matrix,
)
from core.errors import InputError, ShapeError
from core.skeleton import HUMAN


def _random_rotations(n, dtype=torch.float32):
    return axis_angle_to_matrix(torch.randn(n, 3, dtype=dtype))


class TestPixelNormalized:
    def test_pixel_centres(self):
        # pixel i of W has its centre at -1 + (2i + 1) / W
        n = pixel_to_normalized(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), (2, 4))
        assert torch.allclose(n, torch.tensor([[-0.75, -0.5], [0.75, 0.5]]))
        xs, ys = pixel_centers((2, 4))
        assert torch.allclose(xs, torch.tensor([-0.75, -0.25, 0.25, 0.75]))
        assert torch.allclose(ys, torch.tensor([-0.5, 0.5]))

    def test_image_edges(self):
        n = pixel_to_normalized(torch.tensor([[-0.5, -0.5], [127.5, 63.5]]), (64, 128))
        assert torch.allclose(n, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))

    @pytest.mark.parametrize("batch", [(), (1,), (5, 7)])
    def test_round_trip_shapes(self, batch):
        p = torch.rand(*batch, 2) * 100
        q = normalized_to_pixel(pixel_to_normalized(p, (90, 120)), (90, 120))
        assert q.shape == p.shape and torch.allclose(q, p, atol=1e-4)

    def test_bad_shape(self):
        with pytest.raises(ShapeError, match=r"\(\.\.\., 2\), got \(4, 3\)"):
            pixel_to_normalized(torch.zeros(4, 3), (8, 8))


class TestPerspectiveCamera:
    def test_focal_from_fov(self):
        cam = PerspectiveCamera((128, 128), fov_deg=90.0)
        assert cam.focal == pytest.approx(64.0)
        assert focal_length(62.0, 128) == pytest.approx(64 / math.tan(math.radians(31)))
        k = cam.intrinsics
        assert k.shape == (3, 3) and k[0, 2] == 63.5 and k[1, 2] == 63.5

    def test_project_by_hand(self):
        cam = PerspectiveCamera((100, 200), fov_deg=90.0)  # focal 100, centre (99.5, 49.5)
        p = cam.project(torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0]]]))
        assert torch.allclose(p, torch.tensor([[[99.5, 49.5], [149.5, 24.5]]]))

    def test_image_border_at_fov(self):
        cam = PerspectiveCamera((128, 128), fov_deg=62.0)
        x = math.tan(math.radians(31.0))
        n = cam.project_normalized(torch.tensor([[[x, 0.0, 1.0], [-x, 0.0, 1.0]]]))
        assert torch.allclose(n[..., 0], torch.tensor([[1.0, -1.0]]), atol=1e-5)

    @pytest.mark.parametrize("b", [1, 4])
    def test_backproject_round_trip(self, b):
        cam = PerspectiveCamera((120, 160))
        pts = torch.randn(b, 22, 3) * 0.5 + torch.tensor([0.0, 0.0, 4.0])
        back = cam.backproject(cam.project(pts), pts[..., 2])
        assert torch.allclose(back, pts, atol=1e-5)
        back_n = cam.backproject_normalized(cam.project_normalized(pts), pts[..., 2])
        assert torch.allclose(back_n, pts, atol=1e-5)

    def test_behind_camera_is_finite(self):
        p = PerspectiveCamera().project(torch.tensor([[[0.1, 0.1, 0.0], [0.1, 0.1, -1.0]]]))
        assert torch.isfinite(p).all()

    def test_bad_input(self):
        with pytest.raises(ShapeError, match=r"\(\.\.\., 3\)"):
            PerspectiveCamera().project(torch.zeros(2, 5, 2))
        with pytest.raises(ShapeError, match="depth of shape"):
            PerspectiveCamera().backproject(torch.zeros(2, 5, 2), torch.zeros(2, 4))
        with pytest.raises(InputError, match="field of view"):
            PerspectiveCamera(fov_deg=180)


class TestRotations:
    @pytest.mark.parametrize("n", [1, 8])
    def test_6d_round_trip(self, n):
        r = _random_rotations(n)
        assert torch.allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(r)), r, atol=1e-5)

    def test_6d_gives_rotation(self):
        r = rotation_6d_to_matrix(torch.randn(10, 6))
        eye = torch.eye(3).expand(10, 3, 3)
        assert torch.allclose(r.transpose(-1, -2) @ r, eye, atol=1e-5)
        assert torch.allclose(torch.linalg.det(r), torch.ones(10), atol=1e-5)

    def test_axis_angle_by_hand(self):
        r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
        assert torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]),
                              atol=1e-6)
        assert torch.allclose(axis_angle_to_matrix(torch.zeros(3)), torch.eye(3))

    def test_euler_order(self):
        a = torch.tensor([0.3, -0.7, 1.1])
        rx = axis_angle_to_matrix(torch.tensor([0.3, 0.0, 0.0]))
        ry = axis_angle_to_matrix(torch.tensor([0.0, -0.7, 0.0]))
        rz = axis_angle_to_matrix(torch.tensor([0.0, 0.0, 1.1]))
        assert torch.allclose(euler_to_matrix(a), rx @ ry @ rz, atol=1e-6)

    def test_gradcheck_6d(self):
        x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(rotation_6d_to_matrix, (x,))

    def test_bad_shapes(self):
        with pytest.raises(ShapeError):
            rotation_6d_to_matrix(torch.zeros(3, 5))
        with pytest.raises(ShapeError):
            matrix_to_rotation_6d(torch.zeros(3, 3, 2))


class TestForwardKinematics:
    def test_rest_pose(self):
        pos, glob = forward_kinematics(HUMAN, torch.eye(3).expand(2, 22, 3, 3))
        assert pos.shape == (2, 22, 3) and glob.shape == (2, 22, 4 - 1, 3)
        i = HUMAN.index
        # knee straight below hip, left hip on +x (the subject's left), head up (-y)
        assert torch.allclose(pos[0, i("left_knee")] - pos[0, i("left_hip")],
                              torch.tensor([0.0, 0.44, 0.0], dtype=pos.dtype))
        assert pos[0, i("left_hip"), 0] > 0 > pos[0, i("right_hip"), 0]
        assert pos[0, i("head_top"), 1] < pos[0, i("pelvis"), 1]

    def test_bone_lengths_preserved_under_rotation(self):
        rot = _random_rotations(3 * 22).reshape(3, 22, 3, 3)
        lengths = torch.rand(3, 22) * 0.5 + 0.1
        pos, _ = forward_kinematics(HUMAN, rot, lengths, torch.randn(3, 3))
        for j, p in enumerate(HUMAN.parents):
            if p >= 0:
                assert torch.allclose((pos[:, j] - pos[:, p]).norm(dim=-1), lengths[:, j],
                                      atol=1e-5)

    def test_knee_bends_backwards(self):
        rot = torch.eye(3).repeat(1, 22, 1, 1)
        rot[0, HUMAN.index("left_knee")] = euler_to_matrix(torch.tensor([math.radians(90), 0, 0]))
        pos, _ = forward_kinematics(HUMAN, rot)
        shin = pos[0, HUMAN.index("left_ankle")] - pos[0, HUMAN.index("left_knee")]
        assert shin[2] > 0.4  # +z is backwards in the body frame

    def test_root_rotation_moves_everything(self):
        r = axis_angle_to_matrix(torch.tensor([[0.0, math.pi, 0.0]]))
        rot = torch.eye(3).repeat(1, 22, 1, 1)
        rot[:, 0] = r
        pos, _ = forward_kinematics(HUMAN, rot)
        rest, _ = forward_kinematics(HUMAN, torch.eye(3).repeat(1, 22, 1, 1))
        assert torch.allclose(pos, rest @ r[0].T, atol=1e-6)

    def test_bad_shape(self):
        with pytest.raises(ShapeError, match=r"expected shape \(B, 22, 3, 3\)"):
            forward_kinematics(HUMAN, torch.zeros(2, 21, 3, 3))
        with pytest.raises(ShapeError, match="bone_lengths"):
            forward_kinematics(HUMAN, torch.eye(3).repeat(2, 22, 1, 1), torch.ones(2, 3))
        assert np.isfinite(HUMAN.rest_offsets).all()
