import logging

import pytest
import torch

from core.camera import axis_angle_to_matrix, matrix_to_rotation_6d
from core.errors import CheckpointError, ConfigError, ShapeError
from core.models import AbsPoseModel, ModelConfig, build_discriminators
from training.losses import (
    LossWeights,
    analytic_skeleton_image_loss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_losses,
    keypoints_2d_l2,
    keypoints_3d_l2,
    lsgan_discriminator_loss,
    lsgan_generator_loss,
    rotations_l2,
    skeleton_image_l2,
    weighted_sum,
)
from training.perceptual import (
    PerceptualConfig,
    PerceptualLoss,
    VGG19Features,
    find_vgg19_weights,
    laplacian_pyramid,
    pyramid_l1,
    ssim,
    vgg19_layer_indices,
)

COMPONENTS = ("encoder", "keypoint_head", "uplift", "renderer")


pytestmark = pytest.mark.usefixtures("one_thread")


def const_outputs(values, features=1.0):
    """Discriminator outputs: one scale per value, one feature map and a prediction."""
    return [[torch.full((2, 4, 3, 3), features), torch.full((2, 1, 3, 3), v)] for v in values]


class TestAdversarial:
    def test_lsgan_values(self):
        real, fake = const_outputs([1.0, 0.5]), const_outputs([0.0, 0.5])
        # scale 1: (1-1)^2 + 0^2 = 0; scale 2: 0.25 + 0.25 = 0.5; mean 0.25
        assert lsgan_discriminator_loss(real, fake).item() == pytest.approx(0.25)
        # generator: (0-1)^2 = 1 and (0.5-1)^2 = 0.25
        assert lsgan_generator_loss(fake).item() == pytest.approx(0.625)

    def test_feature_matching_values_and_targets(self):
        real = const_outputs([0.0, 0.0], features=1.0)
        fake = const_outputs([0.0, 0.0], features=0.25)
        for r in real:
            r[0].requires_grad_(True)
        fm = feature_matching_loss(real, fake)
        assert fm.item() == pytest.approx(0.75)
        assert not fm.requires_grad  # real features are targets, fake ones here are constant

    def test_discriminator_step_does_not_reach_generator(self):
        model = AbsPoseModel(ModelConfig.tiny())
        disc = build_discriminators(model.config)
        x = torch.rand(2, 3, 64, 64)
        out = model(x, torch.rand(2, 3, 64, 64))
        loss = (discriminator_loss(disc["image"], x, out.reconstruction)
                + discriminator_loss(disc["skeleton"], out.skeleton_image_2d,
                                     out.skeleton_image))
        loss.backward()
        assert all(p.grad is None for p in model.parameters())
        for d in disc.values():
            assert all(p.grad is not None for p in d.parameters())

    def test_generator_step_reaches_generator(self):
        model = AbsPoseModel(ModelConfig.tiny())
        disc = build_discriminators(model.config)["image"]
        x = torch.rand(2, 3, 64, 64)
        out = model(x, torch.rand(2, 3, 64, 64))
        gan, fm = generator_adversarial_losses(disc, x, out.reconstruction)
        (gan + fm).backward()
        assert gan.item() > 0 and fm.item() > 0
        assert grad_norm(model.renderer) > 0 and grad_norm(model.encoder) > 0
        gan_only, none = generator_adversarial_losses(disc, None, out.reconstruction.detach())
        assert none is None and gan_only.item() == pytest.approx(gan.item())


def grad_norm(module):
    return sum(p.grad.norm().item() for p in module.parameters() if p.grad is not None)


def reached(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name for name in COMPONENTS if grad_norm(getattr(model, name)) > 0}


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = AbsPoseModel(ModelConfig.tiny())
    return model, build_discriminators(model.config)


class TestGradientsReachTheRightComponents:
    """Every loss trains what it should, and nothing else."""

    def run(self, setup, term):
        model, disc = setup
        torch.manual_seed(1)
        x, a = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
        out = model(x, a)
        return reached(model, term(out, x, disc))

    def test_perceptual(self, setup):
        loss = PerceptualLoss(PerceptualConfig(fallback="pyramid_l1"))
        got = self.run(setup, lambda o, x, d: loss(x, o.reconstruction))
        assert got == set(COMPONENTS)

    def test_image_gan_and_feature_matching(self, setup):
        got = self.run(setup, lambda o, x, d: sum(
            generator_adversarial_losses(d["image"], x, o.reconstruction)))
        assert got == set(COMPONENTS)

    def test_pose_prior_gan_trains_only_the_encoder(self, setup):
        got = self.run(setup, lambda o, x, d: generator_adversarial_losses(
            d["skeleton"], None, o.skeleton_image)[0])
        assert got == {"encoder"}

    def test_analytic_skeleton_image_loss(self, setup):
        got = self.run(setup, lambda o, x, d: analytic_skeleton_image_loss(
            o.skeleton_image, o.skeleton_image_2d, o.skeleton_image_3d))
        assert got == {"encoder", "keypoint_head", "uplift"}

    def test_synthetic_supervision(self, setup):
        j = setup[0].skeleton.num_keypoints
        target_y = torch.rand(2, 5, 64, 64)
        target_2d, target_3d = torch.rand(2, j, 2) - 0.5, torch.rand(2, j, 3) + 2.0
        target_rot = matrix_to_rotation_6d(axis_angle_to_matrix(torch.randn(2, j, 3)))
        assert self.run(setup, lambda o, x, d: skeleton_image_l2(o.skeleton_image, target_y)
                        ) == {"encoder"}
        assert self.run(setup, lambda o, x, d: keypoints_2d_l2(o.keypoints, target_2d)
                        ) == {"encoder", "keypoint_head"}
        assert self.run(setup, lambda o, x, d: keypoints_3d_l2(o.keypoints_3d, target_3d)
                        ) == {"encoder", "keypoint_head", "uplift"}
        assert self.run(setup, lambda o, x, d: rotations_l2(o.rotations, target_rot)
                        ) == {"encoder", "keypoint_head", "uplift"}


class TestSupervisionLosses:
    def test_keypoints_2d(self):
        pred, true = torch.zeros(1, 2, 2), torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
        assert keypoints_2d_l2(pred, true).item() == pytest.approx(13.0)
        visible = torch.tensor([[False, True]])
        assert keypoints_2d_l2(pred, true, visible).item() == pytest.approx(1.0)
        with pytest.raises(ShapeError):
            keypoints_2d_l2(pred, torch.zeros(1, 3, 2))

    def test_keypoints_3d_root_relative(self):
        true = torch.randn(2, 5, 3)
        moved = true + torch.tensor([0.3, -0.2, 1.5])
        assert keypoints_3d_l2(moved, true).item() == pytest.approx(0.0, abs=1e-10)
        assert keypoints_3d_l2(moved, true, root=None).item() == pytest.approx(
            0.09 + 0.04 + 2.25)

    def test_rotations(self):
        eye = torch.eye(3).expand(1, 2, 3, 3)
        flip = axis_angle_to_matrix(torch.tensor([[[0.0, 0.0, torch.pi]] * 2]))
        pred = matrix_to_rotation_6d(flip) * 3.0  # scale does not matter after Gram-Schmidt
        # |I - Rz(pi)|_F^2 = 2 (3 - trace) = 8
        assert rotations_l2(pred, eye).item() == pytest.approx(8.0, abs=1e-5)
        assert rotations_l2(pred, matrix_to_rotation_6d(flip)).item() == pytest.approx(
            0.0, abs=1e-10)

    def test_skeleton_image_l2(self):
        a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
        assert skeleton_image_l2(a, b).item() == pytest.approx(0.25)
        with pytest.raises(ShapeError):
            skeleton_image_l2(a, torch.zeros(1, 5, 4, 4))

    def test_weighted_sum(self):
        w = LossWeights(perceptual=2.0, skeleton_gan=0.5)
        total = weighted_sum({"perceptual": torch.tensor(3.0),
                              "skeleton_gan": torch.tensor(4.0)}, w)
        assert total.item() == pytest.approx(8.0)
        with pytest.raises(ConfigError, match="reconstruction"):
            weighted_sum({"reconstruction": torch.tensor(1.0)}, w)


def fake_torchvision_vgg19(path, upto=7):
    """A file with torchvision's VGG19 key names and shapes (random values) up to
    ``features.<upto>``, plus a classifier entry that must be ignored."""
    index = vgg19_layer_indices()
    shapes, cin = {}, 3
    for name, i in sorted(index.items(), key=lambda kv: kv[1]):
        if name.startswith("conv") and i <= upto:
            cout = 64 if name.startswith("conv1") else 128
            shapes[f"features.{i}.weight"] = (cout, cin, 3, 3)
            shapes[f"features.{i}.bias"] = (cout,)
            cin = cout
    state = {k: 0.1 * torch.randn(s) for k, s in shapes.items()}
    state["classifier.0.weight"] = torch.randn(4, 4)
    torch.save(state, path)
    return state


class TestPerceptual:
    def test_layer_indices_match_torchvision(self):
        index = vgg19_layer_indices()
        assert [index[n] for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")] == \
            [1, 6, 11, 20, 29]
        assert index["relu3_4"] == 17 and index["pool5"] == 36

    def test_loads_torchvision_weights_from_path(self, tmp_path):
        path = tmp_path / "vgg19.pth"
        state = fake_torchvision_vgg19(path)
        loss = PerceptualLoss(PerceptualConfig(vgg19_path=str(path),
                                               layers=("relu1_1", "relu2_1")))
        assert loss.kind == "vgg19"
        assert torch.equal(loss.vgg.features[5].weight, state["features.5.weight"])
        x = torch.rand(2, 3, 32, 32)
        y = torch.rand(2, 3, 32, 32, requires_grad=True)
        assert loss(x, x).item() == 0.0
        value = loss(x, y)
        value.backward()
        assert value.item() > 0 and y.grad.abs().sum() > 0
        assert all(p.grad is None for p in loss.parameters())

    def test_eq2_by_hand(self, tmp_path):
        path = tmp_path / "vgg19.pth"
        fake_torchvision_vgg19(path)
        loss = PerceptualLoss(PerceptualConfig(vgg19_path=str(path),
                                               layers=("relu1_1", "relu2_1")))
        x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
        fx, fy = loss.vgg(x), loss.vgg(y)
        expected = 0.5 * (((fx[0] - fy[0]) ** 2).mean() + ((fx[1] - fy[1]) ** 2).mean())
        torch.testing.assert_close(loss(x, y), expected)

    def test_found_in_hub_cache(self, tmp_path, monkeypatch):
        (tmp_path / "checkpoints").mkdir()
        fake_torchvision_vgg19(tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth")
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
        assert find_vgg19_weights() == tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth"
        assert PerceptualLoss(PerceptualConfig(layers=("relu1_1",))).kind == "vgg19"

    def test_not_vgg19(self, tmp_path):
        path = tmp_path / "other.pth"
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
        with pytest.raises(CheckpointError, match="not torchvision's VGG19"):
            VGG19Features(("relu1_1",)).load_torchvision(path)

    def test_missing_path_is_an_error(self, tmp_path):
        with pytest.raises(ConfigError, match="does not exist"):
            PerceptualLoss(PerceptualConfig(vgg19_path=str(tmp_path / "nope.pth")))

    def test_unknown_layer(self):
        with pytest.raises(ConfigError, match="relu9_9"):
            VGG19Features(("relu9_9",))

    @pytest.mark.parametrize("fallback", ["efficientnet", "random_vgg", "pyramid_l1",
                                          "l1_ssim", "l1"])
    def test_fallback_with_warning(self, tmp_path, monkeypatch, caplog, fallback):
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
        with caplog.at_level(logging.WARNING, logger="training.perceptual"):
            loss = PerceptualLoss(PerceptualConfig(fallback=fallback, layers=("relu1_1",)))
        assert loss.kind == fallback
        assert "no VGG19 weights" in caplog.text and fallback in caplog.text
        x = torch.rand(1, 3, 16, 16)
        y = torch.rand(1, 3, 16, 16, requires_grad=True)
        assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
        loss(x, y).backward()
        assert y.grad.abs().sum() > 0

    def test_efficientnet_features_are_imagenet_and_fixed(self, tmp_path, monkeypatch):
        from core.models.efficientnet import EfficientNetLite0

        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
        loss = PerceptualLoss(PerceptualConfig(fallback="efficientnet"))
        reference = EfficientNetLite0(pretrained=True, num_blocks=11)
        assert torch.equal(loss.vgg.net._conv_stem.weight, reference._conv_stem.weight)
        assert not any(p.requires_grad for p in loss.parameters())
        x = torch.rand(2, 3, 32, 32)
        feats = loss.vgg(x)
        assert [f.shape[1] for f in feats] == [16, 24, 40, 112]  # strides 2, 4, 8, 16
        # Eq. 2 on those features, by hand
        y = torch.rand(2, 3, 32, 32)
        expected = torch.stack([((a - b) ** 2).mean()
                                for a, b in zip(loss.vgg(x), loss.vgg(y), strict=True)]).mean()
        assert loss(x, y).item() == pytest.approx(expected.item(), rel=1e-5)

    def test_random_vgg_is_the_same_every_time(self, tmp_path, monkeypatch):
        monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
        cfg = PerceptualConfig(fallback="random_vgg", layers=("relu1_1",))
        a, b = PerceptualLoss(cfg), PerceptualLoss(cfg)
        assert torch.equal(a.vgg.features[0].weight, b.vgg.features[0].weight)

    def test_pyramid_by_hand(self):
        x = torch.zeros(1, 3, 16, 16)
        assert len(laplacian_pyramid(x, 4)) == 4
        # a constant offset lives only in the low-pass residual, weighted 2^3
        assert pyramid_l1(x + 0.1, x, levels=4).item() == pytest.approx(0.8)
        y = torch.rand(1, 3, 16, 16)
        bands = laplacian_pyramid(y, 3)
        up = torch.nn.functional.interpolate
        rebuilt = bands[-1]
        for band in reversed(bands[:-1]):
            rebuilt = up(rebuilt, size=band.shape[-2:], mode="bilinear",
                         align_corners=False) + band
        torch.testing.assert_close(rebuilt, y)  # the pyramid is invertible

    def test_ssim(self):
        x = torch.rand(1, 3, 16, 16)
        assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
        assert ssim(x, torch.rand(1, 3, 16, 16)).item() < 0.3


def test_skeleton_image_bce_is_zero_at_the_target_and_pulls_dark_bones_harder():
    import torch

    from training.losses import skeleton_image_bce, skeleton_image_l2, skeleton_image_loss

    target = torch.zeros(1, 2, 8, 8)
    target[0, 0, 3:5, :] = 1.0
    target[0, 1, 2, 2] = 0.4  # a soft label
    assert float(skeleton_image_bce(target.clone(), target)) == pytest.approx(0.0, abs=1e-4)
    grads = []
    for loss in (skeleton_image_l2, skeleton_image_bce):
        logits = torch.full_like(target, -4.0, requires_grad=True)  # the encoder's start
        loss(torch.sigmoid(logits), target).backward()
        grads.append(-float(logits.grad[0, 0, 3, 0]))  # a bone pixel drawn dark
    assert grads[0] > 0 and grads[1] > 0
    assert grads[1] > 20 * grads[0]  # the sigmoid's slope no longer scales it down
    with pytest.raises(ConfigError, match="skeleton_image_loss"):
        skeleton_image_loss("l1")
