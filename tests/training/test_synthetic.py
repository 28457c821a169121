import numpy as np
import pytest
import torch

from core.camera import forward_kinematics, pixel_to_normalized, rotation_6d_to_matrix
from core.errors import InputError
from core.skeleton import HUMAN, QUADRUPED
from tests.training.test_poses import CHIRALITY
from training.cli import main
from training.clips import load_clip, write_clip
from training.synthetic.body import body_model
from training.synthetic.mesh import MeshBody
from training.synthetic.stream import SyntheticStream
from training.synthetic.style import style_config
from training.synthetic.target import TARGET_TEST, TARGET_TRAIN, TargetWorld, prior_poses
from training.synthetic.video import render_clip

SIZE = (64, 64)


@pytest.fixture(scope="module")
def human_stream():
    return SyntheticStream("randomized", "human", batch_size=12, size=SIZE, seed=3)


@pytest.fixture(scope="module")
def human_batch(human_stream):
    return human_stream.next()


@pytest.fixture(scope="module")
def capsule_batch():
    return SyntheticStream(style_config("randomized", body="capsules"), "human", batch_size=12,
                           size=SIZE, seed=3).next()


@pytest.fixture(scope="module")
def target_batch():
    return SyntheticStream("target", "human", batch_size=8, size=SIZE, seed=3).next()


@pytest.fixture(scope="module")
def quadruped_batch():
    return SyntheticStream("randomized", "quadruped", batch_size=8, size=SIZE, seed=3).next()


def _project(k: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) intrinsics and (B, J, 3) points -> (B, J, 2) pixels."""
    h = (k[:, None] @ p[..., None])[..., 0]
    return h[..., :2] / h[..., 2:]


def _check_labels(b, skeleton, body_names):
    bsz, j = len(b), skeleton.num_keypoints
    assert b.image.shape == (bsz, 3, *SIZE) and b.image.dtype == torch.float32
    assert b.image.min() >= 0 and b.image.max() <= 1
    assert b.appearance.shape == b.image.shape
    assert b.keypoints_2d.shape == b.keypoints_px.shape == (bsz, j, 2)
    assert b.keypoints_3d.shape == (bsz, j, 3) and b.visibility.dtype == torch.bool
    assert b.rotations.shape == (bsz, j, 3, 3) and b.rotations_6d.shape == (bsz, j, 6)
    assert b.intrinsics.shape == (bsz, 3, 3) and len(b.activity) == bsz
    assert b.part_mask.shape == (bsz, *SIZE) and b.part_names == body_names
    # the stored intrinsics project the 3D joints onto the stored 2D joints
    assert (_project(b.intrinsics, b.keypoints_3d) - b.keypoints_px).abs().max() < 0.5
    assert torch.allclose(pixel_to_normalized(b.keypoints_px, SIZE), b.keypoints_2d, atol=1e-5)
    assert torch.allclose(_project(b.intrinsics, b.partner_keypoints_3d),
                          b.partner_keypoints_px, atol=0.5)
    # rotations + bone lengths rebuild the 3D joints in the camera frame
    pos, _ = forward_kinematics(skeleton, b.rotations, b.bone_lengths, b.keypoints_3d[:, 0])
    assert torch.allclose(pos, b.keypoints_3d, atol=1e-4)
    assert torch.allclose(rotation_6d_to_matrix(b.rotations_6d), b.rotations, atol=1e-5)
    # left is the subject's own left, in the camera frame too
    assert (CHIRALITY[skeleton.name](b.keypoints_3d) > 0).all()
    assert (CHIRALITY[skeleton.name](b.partner_keypoints_3d) > 0).all()


def _check_visibility(b, body):
    """A keypoint flagged visible lies on the pixels of one of its own parts."""
    owners = body.owners
    px = torch.round(b.keypoints_px).long()
    for i in range(len(b)):
        for j in torch.nonzero(b.visibility[i]).flatten().tolist():
            x, y = px[i, j].tolist()
            part = int(b.part_mask[i, y, x])
            assert part >= 0 and owners[j, part], (i, j, part)
    assert b.visibility.float().mean() > 0.4  # most keypoints are seen ...
    assert not b.visibility.all()  # ... and some are hidden (self-occlusion, crops)


class TestRandomized:
    def test_people_are_meshes(self, human_stream):
        assert isinstance(human_stream.body, MeshBody)

    def test_labels(self, human_batch, human_stream):
        _check_labels(human_batch, HUMAN, human_stream.body.names)

    def test_visibility(self, human_batch, human_stream):
        _check_visibility(human_batch, human_stream.body)

    def test_capsule_people(self, capsule_batch):
        _check_labels(capsule_batch, HUMAN, body_model(HUMAN).names)
        _check_visibility(capsule_batch, body_model(HUMAN))

    def test_quadruped(self, quadruped_batch):
        _check_labels(quadruped_batch, QUADRUPED, body_model(QUADRUPED).names)
        _check_visibility(quadruped_batch, body_model(QUADRUPED))

    def test_partner_is_the_same_subject_in_another_pose(self, human_batch):
        b = human_batch
        assert b.partner_visibility.shape == b.visibility.shape
        kids = [j for j, p in enumerate(HUMAN.parents) if p >= 0]
        parents = [HUMAN.parents[j] for j in kids]
        bones = (b.keypoints_3d[:, kids] - b.keypoints_3d[:, parents]).norm(dim=-1)
        partner = (b.partner_keypoints_3d[:, kids] - b.partner_keypoints_3d[:, parents]).norm(
            dim=-1)
        assert torch.allclose(bones, partner, atol=1e-4)  # same proportions
        rel = b.keypoints_3d - b.keypoints_3d[:, :1]
        prel = b.partner_keypoints_3d - b.partner_keypoints_3d[:, :1]
        assert ((rel - prel).norm(dim=-1).mean(-1) > 0.01).all()  # another pose

    def test_the_training_config_sets_the_fill(self):
        from core.models import AbsPoseModel, ModelConfig
        from training.config import load_config
        from training.stages.supervision import synthetic_stream

        model = AbsPoseModel(ModelConfig.tiny())
        cfg = load_config("tiny", ["synthetic.fill=[0.45,0.9]"])
        assert synthetic_stream(cfg, model, 4, "cpu", 0).style.fill == (0.45, 0.9)
        assert synthetic_stream(load_config("tiny"), model, 4, "cpu", 0).style.fill == \
            style_config("randomized").fill
        for bad in ("[0.9,0.45]", "[0.5]", "[0,0.5]"):
            with pytest.raises(InputError, match=r"synthetic\.fill must be"):
                synthetic_stream(load_config("tiny", [f"synthetic.fill={bad}"]), model, 4,
                                 "cpu", 0)

    def test_people_fill_their_share_of_the_image(self):
        # fill (0.6, 0.9) is the subject's box in the image, as a person's box crop is
        # framed: the part mask's larger span, over a batch, centres on 0.75 (a few
        # subjects are cut by the image's edge, so they span less); three batches, so the
        # median of the sample is within about 0.01 of the stream's
        stream = SyntheticStream("randomized", "human", batch_size=48, size=(96, 96),
                                 seed=5, with_appearance=False)
        fg = torch.cat([stream.next().part_mask for _ in range(3)]) >= 0

        def span(a):
            idx = torch.arange(a.shape[-1])
            return (torch.where(a, idx, -1).amax(-1) - torch.where(a, idx, 10**6).amin(-1)
                    + 1).float()

        box = torch.maximum(span(fg.any(-1)), span(fg.any(-2))) / 96
        assert abs(box.median().item() - 0.75) < 0.05
        assert ((box > 0.56) & (box < 0.93)).float().mean() > 0.85

    def test_same_seed_same_images(self):
        a = SyntheticStream("randomized", "human", batch_size=3, size=(32, 32), seed=11)
        b = SyntheticStream("randomized", "human", batch_size=3, size=(32, 32), seed=11)
        c = SyntheticStream("randomized", "human", batch_size=3, size=(32, 32), seed=12)
        x, y, z = a.next(), b.next(), c.next()
        assert torch.equal(x.image, y.image) and torch.equal(x.appearance, y.appearance)
        assert torch.equal(x.keypoints_3d, y.keypoints_3d)
        assert not torch.equal(x.image, z.image)
        assert torch.equal(a.next().image, b.next().image)  # the streams stay in step

    def test_resume_from_state(self):
        a = SyntheticStream("randomized", "human", batch_size=2, size=(32, 32), seed=5)
        a.next()
        state = a.state_dict()
        expected = [a.next().image for _ in range(2)]
        b = SyntheticStream("randomized", "human", batch_size=2, size=(32, 32), seed=5)
        b.load_state_dict(state)
        assert all(torch.equal(b.next().image, e) for e in expected)

    def test_without_partner(self):
        s = SyntheticStream("randomized", "human", batch_size=2, size=(32, 32), seed=0,
                            with_appearance=False)
        b = next(iter(s))
        assert b.appearance is None and b.image.shape == (2, 3, 32, 32)

    def test_labels_only_match_the_rendered_labels(self):
        drawn = SyntheticStream("randomized", "human", batch_size=3, size=(32, 32), seed=5,
                                with_appearance=False).next()
        bare = SyntheticStream("randomized", "human", batch_size=3, size=(32, 32), seed=5,
                               images=False).next()
        assert bare.image.numel() == 0 and bare.appearance is None
        for key in ("keypoints_2d", "keypoints_px", "keypoints_3d", "rotations",
                    "bone_lengths", "intrinsics"):
            torch.testing.assert_close(getattr(bare, key), getattr(drawn, key), msg=key)
        with pytest.raises(InputError, match="randomized style only"):
            SyntheticStream("target", "human", images=False)

    def test_a_share_of_free_poses(self):
        # the randomized style can mix in any pose the joints allow; labels only: fast
        drawn = []
        s = SyntheticStream(style_config("randomized", free_poses=0.3), "human",
                            batch_size=500, seed=0, images=False)
        for _ in range(4):
            drawn += s.next().activity
        assert abs(drawn.count("free") / len(drawn) - 0.3) < 0.04
        assert len(set(drawn) - {"free"}) >= 15  # the everyday ones share the rest
        # by default everyday poses only (measured no better on real photos)
        assert style_config("randomized").free_poses == 0.0
        none = SyntheticStream("randomized", "human", batch_size=500, seed=0,
                               images=False).next().activity
        assert "free" not in none
        assert style_config("target").free_poses == 0.0  # the benchmark keeps its poses
        with pytest.raises(InputError, match="free_poses must be in"):
            SyntheticStream(style_config("randomized", free_poses=1.5), "human")
        # the training config sets it for the stages' streams
        from core.models import AbsPoseModel, ModelConfig
        from training.config import load_config
        from training.stages.supervision import synthetic_stream

        cfg = load_config("tiny", ["synthetic.free_poses=0.5"])
        stream = synthetic_stream(cfg, AbsPoseModel(ModelConfig.tiny()), 4, "cpu", 0)
        assert stream.style.free_poses == 0.5 and float(stream.pose_source.weights[-1]) == 0.5

    def test_bad_arguments(self):
        with pytest.raises(InputError, match="unknown style"):
            SyntheticStream("cartoon", "human")
        with pytest.raises(InputError, match="batch_size"):
            SyntheticStream("randomized", "human", batch_size=0)
        assert style_config("randomized", occluders=0.0).occluders == 0.0


class TestTarget:
    def test_labels_and_visibility(self, target_batch):
        world = TargetWorld(HUMAN)
        _check_labels(target_batch, HUMAN, world.body.names)
        _check_visibility(target_batch, world.body)
        assert set(target_batch.subject.tolist()) <= set(range(len(TARGET_TRAIN)))

    def test_fixed_identities(self):
        world = TargetWorld(HUMAN)
        a1, l1 = world.identity("S9")
        a2, l2 = world.identity("S9")
        a3, l3 = world.identity("S11")
        assert torch.equal(a1.colors, a2.colors) and torch.equal(l1, l2)
        assert not torch.equal(a1.colors, a3.colors) and not torch.equal(l1, l3)
        assert set(TARGET_TRAIN).isdisjoint(TARGET_TEST)

    def test_looks_differ_from_randomized(self, human_batch, target_batch):
        # target rooms are fixed and evenly lit: far less colour spread between images
        def spread(b):
            return b.image.mean((2, 3)).std(0).mean()
        assert spread(target_batch) < spread(human_batch)

    def test_prior_poses_are_reproducible(self):
        a, b = prior_poses(HUMAN, 4, seed=1), prior_poses(HUMAN, 4, seed=1)
        assert torch.equal(a.joints, b.joints)


class TestClips:
    def test_render_write_load(self, tmp_path):
        arrays = render_clip(HUMAN, "target", "S9", "walk", frames=6, size=(48, 48), seed=2)
        again = render_clip(HUMAN, "target", "S9", "walk", frames=6, size=(48, 48), seed=2)
        assert np.array_equal(arrays["frames"], again["frames"])  # same seed, same clip
        assert arrays["frames"].shape == (6, 48, 48, 3)
        video, labels = write_clip(tmp_path / "S9_walk", arrays)
        assert video.is_file() and labels.is_file()
        clip = load_clip(video)
        assert clip["frames"].shape == (6, 48, 48, 3)
        assert list(clip["keypoint_names"]) == list(HUMAN.keypoints)
        assert clip["keypoints_2d"].shape == (6, 22, 2) and clip["visibility"].shape == (6, 22)
        assert clip["keypoints_3d"].shape == (6, 22, 3) and clip["intrinsics"].shape == (3, 3)
        assert clip["rotations"].shape == (6, 22, 3, 3) and str(clip["subject"]) == "S9"
        assert list(clip["activity"]) == ["walk"] * 6
        k, p = clip["intrinsics"], clip["keypoints_3d"]
        proj = (p @ k.T)[..., :2] / (p @ k.T)[..., 2:]
        assert np.abs(proj - clip["keypoints_2d"]).max() < 0.5
        assert (CHIRALITY["human"](torch.as_tensor(p)) > 0).all()
        # the video is the rendered frames, up to compression
        assert np.abs(clip["frames"].astype(float) - arrays["frames"]).mean() < 12

    def test_randomized_clip(self):
        arrays = render_clip(QUADRUPED, "randomized", "R1", "trot", frames=8, size=(32, 32))
        assert arrays["frames"].shape == (8, 32, 32, 3) and str(arrays["style"]) == "randomized"
        # one camera per clip: no flicker of colour or brightness from frame to frame
        means = arrays["frames"].reshape(8, -1, 3).mean(1)
        assert np.abs(np.diff(means, axis=0)).max() < 4.0  # of 255

    def test_randomized_human_clips_are_mesh_people(self):
        from training.synthetic.mesh import SEGMENTS

        arrays = render_clip(HUMAN, "randomized", "R1", "walk", frames=6, size=(64, 64))
        again = render_clip(HUMAN, "randomized", "R1", "walk", frames=6, size=(64, 64))
        assert np.array_equal(arrays["frames"], again["frames"])  # the same clip
        assert list(arrays["part_names"]) == [n for _, n in SEGMENTS]
        # one body through the clip: the bone lengths are the subject's own
        assert np.allclose(arrays["bone_lengths"], arrays["bone_lengths"][:1])
        # the visible keypoints lie on the person's mesh segments
        mask, px, vis = arrays["part_mask"], arrays["keypoints_2d"], arrays["visibility"]
        t, j = np.nonzero(vis)
        x = np.clip(np.rint(px[t, j, 0]).astype(int), 0, 63)
        y = np.clip(np.rint(px[t, j, 1]).astype(int), 0, 63)
        assert len(t) > 0 and (mask[t, y, x] >= 0).mean() > 0.9
        other = render_clip(HUMAN, "randomized", "R2", "walk", frames=6, size=(64, 64))
        assert not np.allclose(other["bone_lengths"][0], arrays["bone_lengths"][0])


class TestCommand:
    def test_synth_writes_clips(self, tmp_path, capsys):
        out = tmp_path / "clips"
        code = main(["synth", "--out", str(out), "--subjects", "S11", "--activities", "wave",
                     "--frames", "3", "--size", "32"])
        assert code == 0
        assert (out / "S11_wave.mp4").is_file() and (out / "S11_wave.npz").is_file()
        assert (out / "contact_sheet.png").is_file()

    def test_unknown_activity_is_a_one_line_error(self, tmp_path, capsys):
        code = main(["synth", "--out", str(tmp_path), "--activities", "moonwalk"])
        assert code == 2
        assert "unknown activity moonwalk" in capsys.readouterr().err

    def test_print_bvh_map(self, capsys):
        assert main(["synth", "--print-bvh-map"]) == 0
        assert "keypoints:" in capsys.readouterr().out


class TestRasterizer:
    @staticmethod
    def _caps(a, b, r):
        from training.synthetic.raster_capsules import project_capsules

        a, b = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
        r = torch.tensor(r, dtype=torch.float32)
        return project_capsules(a, b, r, r, 100.0, (15.5, 15.5))

    def test_sphere_by_hand(self):
        from training.synthetic.raster_capsules import rasterize

        # a sphere of radius 0.2 m at 2 m: 10 px radius around the image centre
        cap = self._caps([[[0.0, 0.0, 2.0]]], [[[0.0, 0.0, 2.0]]], [[0.2]])
        part, depth = rasterize(cap, (32, 32))
        part, depth = part.view(32, 32), depth.view(32, 32)
        assert part[15, 15] == 0 and depth[15, 15] == pytest.approx(1.8, abs=2e-3)
        assert part[15, 24] == 0 and part[15, 27] == -1  # 8.5 px in, 11.5 px out
        assert depth[15, 24] > depth[15, 15]  # the surface curves away from the camera
        assert torch.isinf(depth[0, 0]) and part[0, 0] == -1

    def test_nearer_part_wins(self):
        from training.synthetic.raster_capsules import rasterize

        cap = self._caps([[[0.0, 0.0, 3.0], [0.1, 0.0, 2.0]]],
                         [[[0.0, 0.0, 3.0], [0.1, 0.0, 2.0]]], [[0.3, 0.1]])
        part, _ = rasterize(cap, (32, 32))
        part = part.view(32, 32)
        assert part[15, 20] == 1  # both cover it, the second is nearer
        assert part[15, 8] == 0  # only the first reaches here

    def test_behind_the_camera_and_off_screen(self):
        from training.synthetic.raster_capsules import rasterize

        cap = self._caps([[[0.0, 0.0, -1.0], [5.0, 0.0, 1.0]]],
                         [[[0.0, 0.0, -1.0], [6.0, 0.0, 1.0]]], [[0.3, 0.1]])
        part, depth = rasterize(cap, (32, 32))
        assert (part == -1).all() and torch.isinf(depth).all()

    def test_batch_split_gives_the_same(self, monkeypatch):
        import training.synthetic.raster_capsules as render_mod

        g = torch.Generator().manual_seed(0)
        a = torch.rand(5, 4, 3, generator=g) * torch.tensor([1.0, 1.0, 1.0]) + torch.tensor(
            [-0.5, -0.5, 2.0])
        b = a + 0.3 * torch.randn(5, 4, 3, generator=g)
        r = 0.05 + 0.1 * torch.rand(5, 4, generator=g)
        cap = render_mod.project_capsules(a, b, r, r, 100.0, (15.5, 15.5))
        whole = render_mod.rasterize(cap, (32, 32))
        monkeypatch.setattr(render_mod, "_EXACT", 2 * 32 * 32)
        split = render_mod.rasterize(cap, (32, 32))
        assert torch.equal(whole[0], split[0]) and torch.equal(whole[1], split[1])


def test_blur_matches_a_convolution():
    import torch.nn.functional as F

    from training.synthetic.post import _blur

    x = torch.rand(3, 20, 24, 3)
    sigma = torch.tensor([0.6, 1.0, 1.3])
    got = _blur(x, sigma)
    taps = torch.arange(-2, 3.0)
    for i in range(3):
        k = torch.exp(-taps ** 2 / (2 * sigma[i] ** 2))
        k = (k / k.sum()).view(1, 1, 1, 5).repeat(3, 1, 1, 1)
        y = F.pad(x[i].permute(2, 0, 1)[None], (2, 2, 2, 2), mode="replicate")
        y = F.conv2d(F.conv2d(y, k, groups=3), k.transpose(2, 3), groups=3)
        assert torch.allclose(got[i], y[0].permute(1, 2, 0), atol=1e-5)


def test_frame_subject_projected_box_spans_the_fill():
    from training.synthetic.camera import camera_rotation, frame_subject
    g = torch.Generator().manual_seed(0)
    points = torch.randn(5, 40, 3, generator=g) * torch.tensor([0.3, 0.8, 0.25])
    rot = camera_rotation(torch.rand(5, generator=g) * 6, torch.full((5,), 0.5),
                          torch.zeros(5))
    fill, focal, size = torch.tensor([0.6, 0.7, 0.8, 0.9, 0.75]), 120.0, (128, 128)

    def box(cam):
        c = cam.to_camera(points)
        uv = focal * c[..., :2] / c[..., 2:]
        return (uv.amax(1) - uv.amin(1)).amax(-1) / 128

    zero = torch.zeros(5, 2)
    exact = box(frame_subject(points, rot, focal, size, fill, zero, pad=0.0, projected=True))
    assert torch.allclose(exact, fill, rtol=0.01)
    # the default measures the extent at the nearest depth: the box comes out smaller
    assert (box(frame_subject(points, rot, focal, size, fill, zero, pad=0.0)) < fill).all()


def _share_facing(stream) -> float:
    """Share of the people of one batch whose left shoulder and hip are on the image's
    right: who face the camera."""
    batch = stream.next()
    kp = batch.keypoints_px
    pairs = [(HUMAN.index(f"left_{p}"), HUMAN.index(f"right_{p}")) for p in ("shoulder", "hip")]
    return float(sum((kp[:, a, 0] > kp[:, b, 0]).float().mean() for a, b in pairs) / 2)


def test_a_share_of_people_face_the_camera():
    """The randomized style shows people from every side alike; ``facing`` turns that
    share of them towards the camera (0 and 1: all away, all towards it); an animal is
    always seen from every side."""
    def stream(**kw):
        return SyntheticStream(style_config("randomized", body="capsules", **kw), HUMAN,
                               batch_size=256, size=(64, 64), seed=5, images=False)

    assert 0.4 < _share_facing(stream()) < 0.6
    assert 0.65 < _share_facing(stream(facing=0.75)) < 0.85
    assert _share_facing(stream(facing=1.0)) > 0.88
    assert _share_facing(stream(facing=0.0)) < 0.12
    with pytest.raises(InputError, match="facing"):
        stream(facing=-0.1)
    animals = SyntheticStream(style_config("randomized", facing=1.0), QUADRUPED,
                              batch_size=256, size=(64, 64), seed=5, images=False)
    kp = animals.next().keypoints_px
    a, b = QUADRUPED.index("left_front_shoulder"), QUADRUPED.index("right_front_shoulder")
    assert 0.4 < float((kp[:, a, 0] > kp[:, b, 0]).float().mean()) < 0.6
