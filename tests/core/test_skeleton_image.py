import math

import numpy as np
import pytest
import torch

from core.camera import euler_to_matrix, forward_kinematics, pixel_centers
from core.errors import InputError, ShapeError
from core.skeleton import HUMAN, QUADRUPED, Skeleton
from core.skeleton_image import (
    SkeletonImage,
    cutoff_radius,
    render_skeleton_image,
    render_skeleton_image_dense,
    skeleton_image_to_rgb,
)

ONE_BONE = Skeleton.from_dict({
    "name": "stick", "keypoints": ["a", "b"], "parents": {"a": None, "b": "a"},
    "edges": [["a", "b"]],
})
TWO_CHANNELS = Skeleton.from_dict({
    "name": "vee", "keypoints": ["root", "left_tip", "right_tip"],
    "parents": {"root": None, "left_tip": "root", "right_tip": "root"},
    "edges": [["root", "left_tip"], ["root", "right_tip"]],
    "left_right": [["left_tip", "right_tip"]],
    "layouts": {"2ch": {"left": [["root", "left_tip"]], "right": [["root", "right_tip"]]}},
})


def random_poses(skeleton, b, dtype=torch.float32, spread=0.6, seed=0):
    """Plausible random poses: random joint rotations, projected, scaled into the image."""
    g = torch.Generator().manual_seed(seed)
    j = skeleton.num_keypoints
    angles = (torch.rand(b, j, 3, generator=g) - 0.5) * 1.2
    pos, _ = forward_kinematics(skeleton, euler_to_matrix(angles.double()))
    xy = pos[..., :2] - pos[..., :2].mean(1, keepdim=True)
    xy = xy / xy.abs().amax((1, 2), keepdim=True) * spread
    xy = xy + (torch.rand(b, 1, 2, generator=g, dtype=xy.dtype) - 0.5) * 0.4
    return xy.to(dtype)


class TestRenderSkeletonImage:
    def test_smoke(self):
        y = render_skeleton_image(random_poses(HUMAN, 2), HUMAN)
        assert y.shape == (2, 5, 128, 128) and y.dtype == torch.float32
        assert 0.0 <= y.min() and y.max() <= 1.0 and y.max() > 0.99

    @pytest.mark.parametrize("b", [1, 3, 8])
    @pytest.mark.parametrize(("skeleton", "layout", "c"), [
        (HUMAN, "1ch", 1), (HUMAN, "3ch", 3), (HUMAN, "5ch", 5), (HUMAN, "7ch", 7),
        (QUADRUPED, "1ch", 1), (QUADRUPED, "5ch", 5),
    ])
    def test_shapes(self, b, skeleton, layout, c):
        y = render_skeleton_image(random_poses(skeleton, b), skeleton, layout, (32, 48))
        assert y.shape == (b, c, 32, 48)

    def test_bad_shape_names_expected_and_actual(self):
        with pytest.raises(ShapeError, match=r"expected shape \(B, 22, 2\), got \(2, 21, 2\)"):
            render_skeleton_image(torch.zeros(2, 21, 2), HUMAN)
        with pytest.raises(ShapeError, match=r"got \(22, 2\)"):
            render_skeleton_image(torch.zeros(22, 2), HUMAN)
        with pytest.raises(ShapeError):
            render_skeleton_image(torch.zeros(1, 22, 3), HUMAN)

    def test_nan_and_inf_raise(self):
        kp = random_poses(HUMAN, 2)
        kp[1, 4, 0] = float("nan")
        with pytest.raises(InputError, match="NaN"):
            render_skeleton_image(kp, HUMAN)
        kp[1, 4, 0] = float("inf")
        with pytest.raises(InputError, match="infinite"):
            render_skeleton_image(kp, HUMAN)

    def test_bad_arguments(self):
        kp = random_poses(HUMAN, 1)
        with pytest.raises(InputError, match="gamma"):
            render_skeleton_image(kp, HUMAN, gamma=0.0)
        with pytest.raises(InputError, match="size"):
            render_skeleton_image(kp, HUMAN, size=(0, 10))
        with pytest.raises(InputError, match=r"torch\.Tensor"):
            render_skeleton_image(kp.numpy(), HUMAN)

    def test_horizontal_bone_by_hand(self):
        # 16x16: row 5 has its centre at -1 + 11/16; the bone spans x in [-0.5, 0.5],
        # which holds the centres of columns 4..11 exactly.
        h = w = 16
        yc = -1 + 11 / 16
        kp = torch.tensor([[[-0.5, yc], [0.5, yc]]])
        y = render_skeleton_image(kp, ONE_BONE, "1ch", (h, w), gamma=250.0)[0, 0]
        assert torch.all(y[5, 4:12] == 1.0)
        one_row = math.exp(-250.0 * (2 / 16) ** 2)  # centres of the next rows: 2/16 away
        assert torch.allclose(y[4, 4:12], torch.full((8,), one_row))
        assert torch.allclose(y[6, 4:12], torch.full((8,), one_row))
        # beyond the end the distance is to the endpoint: column 3 is 1/16 past x=-0.5
        assert y[5, 3].item() == pytest.approx(math.exp(-250.0 * (1 / 16) ** 2), rel=1e-6)
        # with a sharp kernel exactly the bone's pixels are lit
        sharp = render_skeleton_image(kp, ONE_BONE, "1ch", (h, w), gamma=5000.0)[0, 0]
        expected = torch.zeros(h, w, dtype=torch.bool)
        expected[5, 4:12] = True
        assert torch.equal(sharp > 0.5, expected)

    def test_left_and_right_land_in_their_own_channels(self):
        c = 17 / 32  # a pixel centre: -1 + (2 * 24 + 1) / 32
        kp = torch.tensor([[[0.0, c], [c, -c], [-c, -c]]])
        y = render_skeleton_image(kp, TWO_CHANNELS, "2ch", (32, 32))[0]
        xs, ys = pixel_centers((32, 32))
        col_left = int(torch.argmin((xs - c).abs()))
        col_right = int(torch.argmin((xs + c).abs()))
        row = int(torch.argmin((ys + c).abs()))
        assert y[0, row, col_left] == 1.0 and y[1, row, col_left] < 1e-3
        assert y[1, row, col_right] == 1.0 and y[0, row, col_right] < 1e-3

    def test_human_sides_in_5ch(self):
        rest, _ = forward_kinematics(HUMAN, torch.eye(3).repeat(1, 22, 1, 1))
        kp = rest[..., :2] / 1.2  # metres -> roughly fills the image, facing the viewer
        y = render_skeleton_image(kp, HUMAN, "5ch", (64, 64))[0]
        names = [c.name for c in HUMAN.channels("5ch")]
        for kpname, channel in [("left_wrist", "left_arm"), ("right_wrist", "right_arm"),
                                ("left_ankle", "left_leg"), ("right_ankle", "right_leg"),
                                ("head_top", "torso_head")]:
            x_, y_ = kp[0, HUMAN.index(kpname)]
            col = int(((x_ + 1) * 64 - 1) / 2 + 0.5)
            row = int(((y_ + 1) * 64 - 1) / 2 + 0.5)
            values = y[:, row, col]
            assert names[int(values.argmax())] == channel, (kpname, values)

    @pytest.mark.parametrize("layout", ["1ch", "3ch", "5ch", "7ch"])
    def test_matches_dense(self, layout):
        kp = random_poses(HUMAN, 6, seed=1)
        kp[0, 3] = torch.tensor([3.0, -2.0])  # a keypoint outside the image
        fast = render_skeleton_image(kp, HUMAN, layout, (48, 64))
        dense = render_skeleton_image_dense(kp, HUMAN, layout, (48, 64))
        assert (fast - dense).abs().max() < 1e-5

    def test_gradient_matches_dense(self):
        kp = random_poses(HUMAN, 4, dtype=torch.float64, seed=2)
        weights = torch.rand(4, 5, 40, 40, dtype=torch.float64)
        grads = []
        for fn in (render_skeleton_image, render_skeleton_image_dense):
            x = kp.clone().requires_grad_(True)
            (fn(x, HUMAN, "5ch", (40, 40)) * weights).sum().backward()
            grads.append(x.grad)
        assert torch.allclose(grads[0], grads[1], rtol=1e-6, atol=1e-8)

    def test_gradcheck(self):
        kp = random_poses(HUMAN, 1, dtype=torch.float64, seed=3).requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda k: render_skeleton_image(k, HUMAN, "3ch", (10, 12)), (kp,), eps=1e-6,
            atol=1e-5)
        kp = random_poses(HUMAN, 3, dtype=torch.float64, seed=4).requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda k: render_skeleton_image(k, HUMAN, "7ch", (24, 20)), (kp,), eps=1e-6,
            atol=1e-5, fast_mode=True)

    def test_gradcheck_partly_outside(self):
        # (A zero-length bone has no derivative w.r.t. its endpoints' separation: the
        # limit depends on the direction. It is tested for finite gradients below.)
        kp = torch.tensor([[[0.1, 0.2], [0.9, 1.6], [-0.3, 0.1]],
                           [[0.0, 0.0], [2.5, -3.0], [0.2, 0.3]]], dtype=torch.float64)
        kp.requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda k: render_skeleton_image(k, TWO_CHANNELS, "2ch", (12, 12)), (kp,), eps=1e-6,
            atol=1e-5)

    def test_zero_length_bone_is_a_dot(self):
        kp = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]], requires_grad=True)
        y = render_skeleton_image(kp, ONE_BONE, "1ch", (16, 16))
        xs, ys = pixel_centers((16, 16))
        r2 = xs[None, :] ** 2 + ys[:, None] ** 2
        assert torch.allclose(y[0, 0], torch.exp(-250.0 * r2), atol=1e-6)
        (y * torch.rand_like(y)).sum().backward()
        assert torch.isfinite(kp.grad).all() and kp.grad.abs().sum() > 0

    def test_far_outside_is_empty_and_finite(self):
        kp = torch.tensor([[[1e6, -1e6], [1e6 + 1.0, -1e6]]], requires_grad=True)
        y = render_skeleton_image(kp, ONE_BONE, "1ch", (16, 16))
        assert torch.all(y == 0)
        y.sum().backward()
        assert torch.all(kp.grad == 0)

    def test_bone_through_image_from_far_away(self):
        kp = torch.tensor([[[-50.0, 0.0], [50.0, 0.0]]])
        fast = render_skeleton_image(kp, ONE_BONE, "1ch", (16, 16))
        dense = render_skeleton_image_dense(kp, ONE_BONE, "1ch", (16, 16))
        assert (fast - dense).abs().max() < 1e-5

    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_low_precision_input(self, dtype):
        kp = random_poses(HUMAN, 2)
        y = render_skeleton_image(kp.to(dtype), HUMAN, "5ch", (32, 32))
        assert y.dtype == dtype
        ref = render_skeleton_image(kp.to(dtype).float(), HUMAN, "5ch", (32, 32))
        assert torch.allclose(y.float(), ref, atol=1e-2)

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_cuda_matches_cpu(self):
        kp = random_poses(HUMAN, 4)
        cpu = render_skeleton_image(kp, HUMAN)
        gpu = render_skeleton_image(kp.cuda(), HUMAN).cpu()
        assert (cpu - gpu).abs().max() < 1e-5


class TestSkeletonImageModule:
    def test_module_matches_function(self):
        m = SkeletonImage(HUMAN, "3ch", (24, 40))
        kp = random_poses(HUMAN, 3)
        assert torch.equal(m(kp), render_skeleton_image(kp, HUMAN, "3ch", (24, 40)))
        assert m.num_channels == 3 and list(m.parameters()) == []
        assert "layout=3ch" in repr(m)

    def test_module_checks_input(self):
        with pytest.raises(ShapeError):
            SkeletonImage(HUMAN)(torch.zeros(1, 23, 2))


class TestCutoffRadius:
    def test_values_below_resolution(self):
        r = cutoff_radius(250.0)
        assert math.exp(-250.0 * r * r) == pytest.approx(1e-7)
        assert cutoff_radius(250.0, torch.float64) > r


class TestSkeletonImageToRgb:
    def test_colours(self):
        img = torch.zeros(2, 4, 4)
        img[0, 0, 0] = 1.0
        img[1, 1, 1] = 0.5
        img[0, 2, 2], img[1, 2, 2] = 0.9, 0.3  # overlap: the strongest channel wins in "max"
        colors = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        rgb = skeleton_image_to_rgb(img, colors)
        assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
        assert rgb[0, 0].tolist() == [255, 0, 0]
        assert rgb[1, 1].tolist() == [0, 0, 128]
        assert rgb[2, 2].tolist() == [230, 0, 0]
        added = skeleton_image_to_rgb(img, colors, mode="add")
        assert added[2, 2].tolist() == [230, 0, 77]

    def test_batch(self):
        assert skeleton_image_to_rgb(np.zeros((3, 5, 8, 8)), HUMAN.channel_colors("5ch")).shape \
            == (3, 8, 8, 3)

    def test_bad_input(self):
        with pytest.raises(ShapeError):
            skeleton_image_to_rgb(np.zeros((5, 8, 8)), np.zeros((3, 3)))
        with pytest.raises(InputError):
            skeleton_image_to_rgb(np.zeros((3, 8, 8)), np.zeros((3, 3)), mode="screen")
