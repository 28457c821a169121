import dataclasses
import math
import statistics
import time

import pytest
import torch

from core.camera import PerspectiveCamera, euler_to_matrix, forward_kinematics, pixel_centers
from core.config import from_dict, to_dict
from core.errors import ConfigError, InputError, ShapeError
from core.models import (
    AbsPoseModel,
    ImageRenderer,
    KeypointHead,
    ModelConfig,
    MultiScaleDiscriminator,
    SkeletonImageEncoder,
    UNetConfig,
    build_discriminators,
    soft_argmax,
    solve_translation,
)
from core.models.keypoints import concentration, keypoint_channels, sample_evidence
from core.models.uplift import normalize_keypoints_2d, rest_shape
from core.skeleton import HUMAN, QUADRUPED
from core.skeleton_image import render_skeleton_image

pytestmark = pytest.mark.usefixtures("one_thread")


FIELDS = ("skeleton_image", "keypoints", "confidence", "keypoints_3d", "rotations",
          "skeleton_image_2d", "skeleton_image_3d", "reconstruction")


def camera_poses(skeleton, b, size=(64, 64), seed=0, dtype=torch.float32):
    """Random plausible 3D poses in front of the camera and their 2D projections."""
    g = torch.Generator().manual_seed(seed)
    lim = torch.as_tensor(skeleton.joint_limits, dtype=torch.float64)
    u = torch.rand(b, skeleton.num_keypoints, 3, generator=g, dtype=torch.float64)
    angles = lim[..., 0] + 0.25 + u * (lim[..., 1] - lim[..., 0] - 0.5).clamp_min(0) * 0.5
    angles[:, 0] = (torch.rand(b, 3, generator=g, dtype=torch.float64) - 0.5) * \
        torch.tensor([0.4, 6.0, 0.4], dtype=torch.float64)
    root = torch.stack([torch.rand(b, generator=g, dtype=torch.float64) - 0.5,
                        (torch.rand(b, generator=g, dtype=torch.float64) - 0.5) * 0.4,
                        3.0 + 2.0 * torch.rand(b, generator=g, dtype=torch.float64)], dim=1)
    pos, _ = forward_kinematics(skeleton, euler_to_matrix(angles), root_position=root)
    cam = PerspectiveCamera(size)
    return pos.to(dtype), cam.project_normalized(pos).to(dtype)


def tiny_model(**overrides):
    return AbsPoseModel(ModelConfig.tiny(**overrides))


class TestModelConfig:
    def test_presets(self):
        assert ModelConfig().input_size == (128, 128)
        tiny = ModelConfig.tiny()
        assert tiny.input_size == (64, 64) and tiny.uplift.hidden < 1024
        assert ModelConfig.preset("tiny", layout="3ch").layout == "3ch"
        assert ModelConfig.preset("small").uplift.hidden == 512

    def test_unknown_preset(self):
        with pytest.raises(ConfigError, match="tiny"):
            ModelConfig.preset("huge")

    def test_dict_round_trip_and_unknown_keys(self):
        cfg = ModelConfig.tiny(skeleton="quadruped")
        assert from_dict(ModelConfig, to_dict(cfg)) == cfg
        with pytest.raises(ConfigError, match=r"encoder\.width"):
            from_dict(ModelConfig, {"encoder": {"width": 3}})

    def test_skeleton_as_data(self):
        cfg = from_dict(ModelConfig, {"skeleton": QUADRUPED.to_dict(), "input_size": [64, 64]})
        assert AbsPoseModel(dataclasses.replace(ModelConfig.tiny(), skeleton=cfg.skeleton)
                            ).skeleton == QUADRUPED

    def test_input_size_must_fit_levels(self):
        with pytest.raises(ConfigError, match="divisible by 16"):
            ModelConfig(input_size=(100, 100))


class TestSoftArgmax:
    def test_peak_lands_on_pixel_centre(self):
        logits = torch.full((1, 2, 8, 16), -1e4)
        logits[0, 0, 3, 5] = 0.0
        logits[0, 1, 7, 0] = 0.0
        kp, var = soft_argmax(logits)
        xs, ys = pixel_centers((8, 16))
        torch.testing.assert_close(kp[0, 0], torch.stack([xs[5], ys[3]]))
        torch.testing.assert_close(kp[0, 1], torch.tensor([-1 + 1 / 16, 1 - 1 / 8]))
        assert var.abs().max() < 1e-6

    def test_uniform_is_centred_with_known_variance(self):
        w = 10
        kp, var = soft_argmax(torch.zeros(3, 4, w, w))
        assert kp.abs().max() < 1e-6
        # E[x^2] over pixel centres (2i+1)/w - 1 is (1 - 1/w^2)/3, twice for x and y
        torch.testing.assert_close(var, torch.full((3, 4), 2 * (1 - 1 / w**2) / 3))

    @pytest.mark.parametrize("b", [1, 4])
    def test_shapes(self, b):
        kp, var = soft_argmax(torch.randn(b, 7, 6, 5))
        assert kp.shape == (b, 7, 2) and var.shape == (b, 7)

    def test_bad_shape(self):
        with pytest.raises(ShapeError, match=r"\(B, J, h, w\)"):
            soft_argmax(torch.zeros(3, 8, 8))

    def test_gradcheck(self):
        logits = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: soft_argmax(x), (logits,))


class TestConfidence:
    def test_concentration_values(self):
        v = torch.tensor([0.0, 0.05**2, 1.0])
        torch.testing.assert_close(concentration(v, 0.05),
                                   torch.tensor([1.0, 0.5, 0.0025 / 1.0025]))

    def test_two_peaks_less_confident_than_one(self):
        one = torch.full((1, 1, 16, 16), -1e4)
        one[0, 0, 8, 4] = 0.0
        two = one.clone()
        two[0, 0, 8, 11] = 0.0  # pixel centres -0.4375 and 0.4375
        (_, v1), (kp2, v2) = soft_argmax(one), soft_argmax(two)
        assert concentration(v1, 0.05) > 0.99 and concentration(v2, 0.05) < 0.05
        assert abs(kp2[0, 0, 0].item()) < 1e-6  # the mean lands between the peaks

    def test_keypoint_channels(self):
        mask = keypoint_channels(HUMAN, "5ch")
        names = [c.name for c in HUMAN.channels("5ch")]
        assert mask[HUMAN.index("left_wrist")].tolist() == [n == "left_arm" for n in names]
        thorax = {n for n, m in zip(names, mask[HUMAN.index("thorax")], strict=True) if m}
        assert thorax == {"left_arm", "right_arm", "torso_head"}

    def test_evidence_reads_the_right_channel(self):
        kp = torch.zeros(1, HUMAN.num_keypoints, 2)
        kp[0, HUMAN.index("left_elbow")] = torch.tensor([0.3, 0.0])
        kp[0, HUMAN.index("left_wrist")] = torch.tensor([0.6, 0.0])
        y = render_skeleton_image(kp, HUMAN, "5ch", (64, 64))
        mask = torch.as_tensor(keypoint_channels(HUMAN, "5ch"))
        probe = kp.clone()
        probe[0, HUMAN.index("right_wrist")] = torch.tensor([0.45, 0.0])  # on the left arm
        probe[0, HUMAN.index("head_top")] = torch.tensor([0.0, -0.8])  # on nothing
        ev = sample_evidence(y, probe, mask)[0]
        assert ev[HUMAN.index("left_wrist")] > 0.9
        assert ev[HUMAN.index("right_wrist")] < 1e-3  # right arm channel is empty there
        assert ev[HUMAN.index("head_top")] < 1e-3


class TestUplift:
    def test_solve_translation_exact(self):
        pos, kp = camera_poses(HUMAN, 5, dtype=torch.float64)
        shape = pos - pos.mean(1, keepdim=True)
        cam = PerspectiveCamera((64, 64))
        t = solve_translation(shape, kp, (2 * cam.focal / 64, 2 * cam.focal / 64))
        torch.testing.assert_close(t, pos.mean(1), atol=1e-4, rtol=0)  # 0.1 mm

    def test_solve_translation_keeps_depth_positive(self):
        shape = torch.tensor([[[0.0, 0.0, -0.5], [0.1, 0.0, 0.5]]])
        kp = torch.tensor([[[5.0, 0.0], [-5.0, 0.0]]])  # no sensible solution
        t = solve_translation(shape, kp, (1.6, 1.6), min_depth=0.1)
        assert (shape[..., 2] + t[:, None, 2]).min() >= 0.1 - 1e-6

    def test_solve_translation_degenerate_is_finite(self):
        shape = rest_shape(HUMAN)[None]
        t = solve_translation(shape, torch.zeros(1, 22, 2), (1.6, 1.6))
        assert torch.isfinite(t).all() and t[0, 2] > 0

    def test_solve_translation_gradcheck(self):
        pos, kp = camera_poses(QUADRUPED, 2, dtype=torch.float64)
        shape = (pos - pos.mean(1, keepdim=True)).requires_grad_(True)
        kp = kp.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda s, k: solve_translation(s, k, (1.7, 1.7)),
                                        (shape, kp))

    def test_normalization_invariance(self):
        _, kp = camera_poses(HUMAN, 3)
        a, centre, scale = normalize_keypoints_2d(kp)
        b, centre2, scale2 = normalize_keypoints_2d(kp * 0.5 + 0.2)
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(scale2, scale * 0.5)
        torch.testing.assert_close(centre2, centre * 0.5 + 0.2)

    def test_starts_from_rest_pose_facing_camera(self):
        model = tiny_model().eval()
        _, kp = camera_poses(HUMAN, 4)
        p3d, rot = model.uplift(kp)
        shape = p3d - p3d.mean(1, keepdim=True)
        torch.testing.assert_close(shape, rest_shape(HUMAN).expand_as(shape), atol=0.02,
                                   rtol=0)
        torch.testing.assert_close(rot[..., :3], torch.tensor([1.0, 0, 0]).expand(4, 22, 3),
                                   atol=0.02, rtol=0)
        assert (p3d[..., 2] > 0.1).all()

    def test_reprojection_lands_on_keypoints_after_short_fit(self):
        model = tiny_model()
        _, kp = camera_poses(HUMAN, 16, seed=1)
        uplift = model.uplift.train()
        opt = torch.optim.Adam(uplift.parameters(), lr=3e-3)
        before = None
        for _ in range(150):
            p3d, _ = uplift(kp)
            err = (model.reproject(p3d) - kp).square().sum(-1).mean()
            before = err.item() if before is None else before
            opt.zero_grad()
            err.backward()
            opt.step()
        p3d, _ = uplift(kp)
        px = (model.reproject(p3d) - kp).norm(dim=-1) * 32  # normalized -> px at 64
        assert before > 1e-3
        assert px.max() < 0.5, px.max()


class TestComponents:
    def test_encoder_range_and_shape(self):
        enc = SkeletonImageEncoder(3, (8, 16))
        y = enc(torch.rand(2, 3, 32, 48))
        assert y.shape == (2, 3, 32, 48) and 0 <= y.min() and y.max() <= 1
        with pytest.raises(ShapeError):
            enc(torch.rand(2, 1, 32, 32))

    def test_keypoint_head(self):
        head = KeypointHead(QUADRUPED, "3ch", (8, 16))
        kp, conf = head(torch.rand(3, 3, 32, 32))
        assert kp.shape == (3, 23, 2) and conf.shape == (3, 23)
        assert kp.abs().max() <= 1 and 0 <= conf.min() and conf.max() <= 1
        with pytest.raises(ShapeError, match="3"):
            head(torch.rand(3, 5, 32, 32))

    @pytest.mark.parametrize("kind", ["spade", "concat"])
    def test_renderer(self, kind):
        r = ImageRenderer(5, (8, 16, 16), kind)
        x = r(torch.rand(2, 5, 32, 32), torch.rand(2, 3, 32, 32))
        assert x.shape == (2, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
        with pytest.raises(ShapeError, match="same batch size"):
            r(torch.rand(2, 5, 32, 32), torch.rand(2, 3, 64, 64))

    def test_discriminator_outputs(self):
        d = MultiScaleDiscriminator(5, width=8, layers=3, num_scales=3)
        out = d(torch.rand(2, 5, 64, 64))
        assert len(out) == 3 and all(len(o) == 5 for o in out)
        assert [o[-1].shape[1] for o in out] == [1, 1, 1]
        assert out[0][-1].shape[-1] > out[1][-1].shape[-1] > out[2][-1].shape[-1]
        assert out[0][0].shape[1] == 8

    def test_build_discriminators(self):
        ds = build_discriminators(ModelConfig.tiny(layout="3ch"))
        assert ds["image"].in_channels == 3 and ds["skeleton"].in_channels == 3
        ds = build_discriminators(ModelConfig.tiny(layout="1ch"))
        assert ds["skeleton"].in_channels == 1


class TestAbsPoseModel:
    @pytest.mark.parametrize(("skeleton", "layout", "c"), [
        (HUMAN, "1ch", 1), (HUMAN, "3ch", 3), (HUMAN, "5ch", 5),
        (QUADRUPED, "1ch", 1), (QUADRUPED, "3ch", 3), (QUADRUPED, "5ch", 5),
    ])
    def test_forward_shapes(self, skeleton, layout, c):
        model = tiny_model(skeleton=skeleton.name, layout=layout)
        j = skeleton.num_keypoints
        out = model(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
        expected = {"skeleton_image": (2, c, 64, 64), "keypoints": (2, j, 2),
                    "confidence": (2, j), "keypoints_3d": (2, j, 3), "rotations": (2, j, 6),
                    "skeleton_image_2d": (2, c, 64, 64), "skeleton_image_3d": (2, c, 64, 64),
                    "reconstruction": (2, 3, 64, 64)}
        assert {f: tuple(getattr(out, f).shape) for f in FIELDS} == expected
        assert model.skeleton == skeleton and model.layout == layout
        assert model.input_size == (64, 64) and model.num_channels == c

    def test_predict_fills_only_inference_outputs(self):
        model = tiny_model().eval()
        out = model.predict(torch.rand(3, 3, 64, 64))
        assert all(getattr(out, f) is not None for f in FIELDS[:5])
        assert all(getattr(out, f) is None for f in FIELDS[5:])
        assert not out.keypoints.requires_grad
        full = model(torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64))
        assert full.keypoints.requires_grad

    def test_predict_matches_forward(self):
        model = tiny_model().eval()
        x = torch.rand(2, 3, 64, 64)
        a, b = model.predict(x), model(x, x)
        for f in FIELDS[:5]:
            torch.testing.assert_close(getattr(a, f), getattr(b, f))

    def test_channels_last_gives_the_same_predictions(self):
        # float64, so that the two memory layouts' different summation orders stay far
        # below the tolerance (in float32 the solved depth differs by up to ~2e-4 m)
        model = tiny_model().double().eval()
        x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
        a = model.predict(x)
        b = model.to(memory_format=torch.channels_last).predict(
            x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(a.keypoints, b.keypoints, atol=1e-9, rtol=0)
        torch.testing.assert_close(a.keypoints_3d, b.keypoints_3d, atol=1e-8, rtol=0)

    def test_analytic_images_follow_keypoints(self):
        model = tiny_model().eval()
        out = model(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
        torch.testing.assert_close(out.skeleton_image_2d, model.skeleton_image(out.keypoints))
        torch.testing.assert_close(out.skeleton_image_3d,
                                   model.skeleton_image(model.reproject(out.keypoints_3d)))

    def test_bad_inputs(self):
        model = tiny_model()
        with pytest.raises(ShapeError, match=r"\(B, 3, 64, 64\)"):
            model.predict(torch.rand(1, 3, 128, 128))
        with pytest.raises(InputError, match="float"):
            model.predict(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
        with pytest.raises(ShapeError, match="appearance"):
            model(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))

    def test_unknown_layout(self):
        from core.errors import SkeletonError

        with pytest.raises(SkeletonError, match="9ch"):
            tiny_model(layout="9ch")

    def test_tiny_is_fast(self):
        model = tiny_model()
        x, a = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)

        def step():
            out = model(x, a)
            (out.reconstruction.mean() + out.skeleton_image.mean()
             + out.keypoints_3d.mean()).backward()

        step()  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        assert statistics.median(times) < 1.0, times

    def test_default_size(self):
        model = AbsPoseModel()
        inference = sum(p.numel() for m in (model.encoder, model.keypoint_head, model.uplift)
                        for p in m.parameters())
        assert model.uplift.inp[0].out_features == 1024  # Martinez width
        assert inference < 6e6 and math.isfinite(inference)


class TestImageNetEncoder:
    def test_shapes_and_range(self):
        from core.models.encoder import EfficientNetSkeletonEncoder

        enc = EfficientNetSkeletonEncoder(5, (8, 8, 8)).eval()
        for b in (1, 3):
            y = enc(torch.rand(b, 3, 64, 96))
            assert y.shape == (b, 5, 64, 96) and 0 <= float(y.min()) and float(y.max()) <= 1

    def test_a_fresh_model_starts_from_imagenet_and_a_checkpoint_keeps_its_own(self, tmp_path):
        from core.checkpoint import load_model, save_checkpoint
        from core.models.efficientnet import EfficientNetLite0

        model = AbsPoseModel(ModelConfig.preset("imagenet"))
        full = EfficientNetLite0(pretrained=True).state_dict()
        key = "_blocks.10._project_conv.weight"
        assert not torch.equal(model.encoder.backbone.state_dict()[key], full[key])
        model.load_pretrained()
        assert torch.equal(model.encoder.backbone.state_dict()[key], full[key])
        with torch.no_grad():
            model.encoder.backbone._blocks[10]._project_conv.weight.mul_(2)
        save_checkpoint(tmp_path / "m.pt", model.eval())
        back = load_model(tmp_path / "m.pt")
        assert back.config.encoder.backbone == "efficientnet_lite0"
        assert torch.equal(back.encoder.backbone.state_dict()[key], 2 * full[key])

    def test_config_checks(self):
        with pytest.raises(ConfigError, match="3 decoder widths"):
            AbsPoseModel(ModelConfig.preset("imagenet", encoder=UNetConfig(
                widths=(8, 8), backbone="efficientnet_lite0")))
        with pytest.raises(ConfigError, match="divisible by 16"):
            ModelConfig.preset("imagenet", input_size=(72, 72))
