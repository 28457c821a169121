import weakref
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.camera import focal_length
from core.crop import box_transform, letterbox_transform
from core.errors import InputError, ShapeError
from core.flips import OneEuro
from core.models import AbsPoseModel, AbsPoseOutput, ModelConfig
from core.predict import Predictor, to_frame_camera
from core.skeleton import load_skeleton
from core.video import write_video

BLOBS = load_skeleton({
    "name": "blobs", "keypoints": ["c", "l", "r"], "parents": {"c": None, "l": "c", "r": "c"},
    "edges": [["c", "l"], ["c", "r"]], "left_right": [["l", "r"]],
})


class BlobModel(torch.nn.Module):
    """A stand-in that honours the model contract: keypoint j is the centroid of colour
    channel j of the input, at a fixed depth of 3 m in the 62-degree input camera."""

    def __init__(self, input_size=(64, 64)):
        super().__init__()
        self.skeleton, self.layout, self.input_size = BLOBS, "1ch", input_size
        self.config = SimpleNamespace(fov_deg=62.0, gamma=250.0)
        self.calls = 0

    def predict(self, image):
        self.calls += 1
        b, _, h, w = image.shape
        assert image.dtype == torch.float32 and (h, w) == self.input_size
        wts = image.clamp(0, 1) + 1e-12  # linear: resampling keeps the centroid
        wts = wts / wts.sum(dim=(2, 3), keepdim=True)
        u = (wts * torch.arange(w)).sum(dim=(2, 3))
        v = (wts * torch.arange(h)[:, None]).sum(dim=(2, 3))
        uv = torch.stack([u, v], dim=-1)  # (B, 3, 2) input pixels
        f = focal_length(62.0, w)
        xyz = torch.cat([(uv - torch.tensor([(w - 1) / 2, (h - 1) / 2])) / f * 3.0,
                         torch.full((b, 3, 1), 3.0)], dim=-1)
        return AbsPoseOutput(torch.zeros(b, 1, h, w), (2 * uv + 1) / torch.tensor([w, h]) - 1,
                             torch.ones(b, 3), xyz, torch.zeros(b, 3, 6))


def blob_frames(centres, size=(360, 640), sigma=25.0):
    """uint8 frames, one Gaussian blob per colour channel: centres (T, 3, 2) pixels."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((len(centres), h, w, 3), np.uint8)
    for t, frame_centres in enumerate(centres):
        for c, (cx, cy) in enumerate(frame_centres):
            blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
            out[t, ..., c] = np.round(255 * blob)
    return out


def moving_centres(t=12, seed=0):
    rng = np.random.default_rng(seed)
    base = np.array([[300.0, 150.0], [250.0, 220.0], [350.0, 220.0]])
    drift = np.linspace(0, 120, t)[:, None, None] * np.array([1.0, 0.2])
    return base + drift + rng.uniform(-3, 3, (t, 3, 2))


class TestMappingBack:
    def test_letterboxed_keypoints_land_on_the_blobs(self):
        centres = moving_centres()
        pred = Predictor(BlobModel(), device="cpu", batch_size=5, progress=False)
        track = pred.predict_frames(blob_frames(centres), fps=24)
        assert track.keypoint_names == ["c", "l", "r"] and track.fps == 24
        assert track.frame_size == (360, 640) and len(track) == 12
        np.testing.assert_allclose(track.keypoints, centres, atol=0.5)  # scale 10: 0.05 px in
        assert track.boxes[0] == pytest.approx([0, -140, 640, 640])

    def test_fixed_box(self):
        centres = moving_centres()
        pred = Predictor(BlobModel(), device="cpu", bbox=(150, 40, 400, 300), progress=False)
        track = pred.predict_frames(blob_frames(centres))
        assert pred.crop == "box" and track.boxes[0] == pytest.approx([150, -10, 400, 400])
        np.testing.assert_allclose(track.keypoints, centres, atol=0.3)

    def test_follow_crop_zooms_in(self):
        centres = moving_centres(t=20)
        pred = Predictor(BlobModel(), device="cpu", crop="follow", batch_size=4, progress=False)
        frames = blob_frames(centres, sigma=6.0)  # small blobs: all inside the followed box
        track = pred.predict_frames(iter(frames))  # a stream of frames
        full = letterbox_transform((360, 640), (64, 64)).box
        assert track.boxes[0] == pytest.approx(full)
        assert (track.boxes[4:, 2] < 0.5 * full[2]).all()  # zoomed in after the first batch
        np.testing.assert_allclose(track.keypoints, centres, atol=0.5)

    @pytest.mark.parametrize("bbox", [None, (150, 40, 400, 300)])
    def test_3d_projects_onto_the_2d_keypoints(self, bbox):
        # the stand-in's poses are planar and face the camera, so their frame-camera
        # projection must coincide with the 2D keypoints, whatever the crop
        pred = Predictor(BlobModel(), device="cpu", bbox=bbox, progress=False)
        track = pred.predict_frames(blob_frames(moving_centres(t=3)))
        k = track.intrinsics
        p = track.keypoints_3d[..., :2] / track.keypoints_3d[..., 2:] * k[0, 0] + k[:2, 2]
        np.testing.assert_allclose(p, track.keypoints, atol=1e-3)
        assert k[0, 0] == pytest.approx(focal_length(62.0, 64) * 10.0)

    def test_to_frame_camera_keeps_shape(self):
        full = letterbox_transform((720, 1280), (128, 128))
        crop = box_transform((600, 200, 200, 200), (128, 128))
        pts = np.random.default_rng(0).normal(0, 0.3, (4, 22, 3)) + np.array([0, 0, 3])
        out = to_frame_camera(pts, crop, full, 100.0)
        np.testing.assert_allclose(out - out.mean(1, keepdims=True),
                                   pts - pts.mean(1, keepdims=True), atol=1e-9)
        assert to_frame_camera(pts, full, full, 100.0) is pts


class TestOptions:
    def test_skeleton_images_only_on_request(self):
        frames = blob_frames(moving_centres(t=7))
        pred = Predictor(BlobModel(), device="cpu", batch_size=3, progress=False)
        seen = []
        pred.predict_frames(frames, on_batch=lambda b: seen.append(
            (b.start, None if b.skeleton_images is None else tuple(b.skeleton_images.shape))))
        assert seen == [(0, None), (3, None), (6, None)]
        seen.clear()
        pred.predict_frames(frames, skeleton_images=True, on_batch=lambda b: seen.append(
            (b.start, tuple(b.skeleton_images.shape))))
        assert seen == [(0, (3, 1, 64, 64)), (3, (3, 1, 64, 64)), (6, (1, 1, 64, 64))]
        assert pred.skeleton_images(frames[:2]).shape == (2, 1, 360, 640)
        assert pred.skeleton_images(frames[:2], in_frame=False).shape == (2, 1, 64, 64)

    def test_a_swapped_frame_is_flagged(self):
        centres = moving_centres(t=15)
        frames = blob_frames(centres)
        frames[6] = frames[6][..., [0, 2, 1]]  # left and right colours swapped in frame 6
        track = Predictor(BlobModel(), device="cpu", progress=False).predict_frames(frames)
        assert np.flatnonzero(track.flip_suspect).tolist() == [6]

    def test_smoothing(self):
        centres = moving_centres(t=30)
        centres += np.random.default_rng(3).normal(0, 4, centres.shape)  # jitter
        frames = blob_frames(centres)
        raw = Predictor(BlobModel(), device="cpu", progress=False).predict_frames(frames)
        smooth = Predictor(BlobModel(), device="cpu", progress=False,
                           smoothing=OneEuro(min_cutoff=1.0, beta=0.0)).predict_frames(frames)
        jitter = lambda tr: np.abs(np.diff(tr.keypoints, 2, axis=0)).mean()  # noqa: E731
        assert jitter(smooth) < 0.5 * jitter(raw)
        assert np.isfinite(smooth.keypoints_3d).all()

    def test_bad_inputs(self):
        pred = Predictor(BlobModel(), device="cpu", progress=False)
        with pytest.raises(InputError, match="smaller than the model input"):
            pred.predict_frames(np.zeros((2, 40, 50, 3), np.uint8))
        with pytest.raises(InputError, match="uint8"):
            pred.predict_frames(np.zeros((2, 64, 64, 3), np.float32))
        with pytest.raises(InputError, match="no frames"):
            pred.predict_frames(iter([]))
        with pytest.raises(ShapeError):
            pred.predict_frames(np.zeros((64, 64, 3), np.uint8))
        with pytest.raises(ShapeError):
            pred.predict_frames([np.zeros((64, 64, 3), np.uint8), np.zeros((65, 64, 3),
                                                                           np.uint8)])
        with pytest.raises(InputError, match="outside"):
            Predictor(BlobModel(), bbox=(900, 0, 10, 10), progress=False).predict_frames(
                np.zeros((1, 64, 64, 3), np.uint8))
        with pytest.raises(InputError):
            Predictor(BlobModel(), crop="zoom")
        with pytest.raises(InputError):
            Predictor(BlobModel(), batch_size=0)


class TestRealModel:
    @pytest.fixture(scope="class")
    def model(self):
        torch.manual_seed(0)
        return AbsPoseModel(ModelConfig.tiny())

    def test_predict_video(self, model, tmp_path):
        rng = np.random.default_rng(0)
        path = write_video(tmp_path / "clip.mp4",
                           rng.integers(0, 255, (11, 72, 128, 3), dtype=np.uint8), fps=15)
        pred = Predictor(model, device="auto", batch_size=4, progress=False)
        assert pred.device.type in ("cpu", "cuda", "mps")
        track = pred.predict_video(path)
        assert len(track) == 11 and track.keypoints.shape == (11, 22, 2)
        assert track.fps == 15 and track.frame_size == (72, 128) and track.source == str(path)
        assert ((track.confidence >= 0) & (track.confidence <= 1)).all()
        assert np.isfinite(track.keypoints).all() and np.isfinite(track.keypoints_3d).all()
        assert track.skeleton is model.skeleton and track.flip_suspect.shape == (11,)
        x, y = track.keypoints[..., 0], track.keypoints[..., 1]
        assert (x > -1).all() and (x < 128).all() and (y > -29).all() and (y < 100).all()

    def test_same_result_streamed_or_batched(self, model):
        frames = np.random.default_rng(1).integers(0, 255, (9, 64, 96, 3), dtype=np.uint8)
        a = Predictor(model, device="cpu", batch_size=9, progress=False).predict_frames(frames)
        b = Predictor(model, device="cpu", batch_size=2, progress=False).predict_frames(
            iter(frames))
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)

    def test_channels_last_changes_nothing_but_speed(self):
        import copy

        torch.manual_seed(0)
        model = AbsPoseModel(ModelConfig.tiny())
        frames = np.random.default_rng(2).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8)
        a = Predictor(copy.deepcopy(model), device="cpu", progress=False,
                      channels_last=False).predict_frames(frames)
        fast = Predictor(model, device="cpu", progress=False)
        convs = [p for p in fast.model.parameters() if p.ndim == 4]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
        b = fast.predict_frames(frames)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
        np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)

    def test_memory_does_not_grow_with_length(self, model):
        """Frames are streamed: how many are alive at once does not depend on the length."""
        pred = Predictor(model, device="cpu", batch_size=8, progress=False)
        rng = np.random.default_rng(0)

        def most_alive(n):
            alive, most = [0], [0]

            def gone():
                alive[0] -= 1

            def frames():
                for _ in range(n):
                    frame = rng.integers(0, 255, (72, 96, 3), dtype=np.uint8)
                    alive[0] += 1
                    most[0] = max(most[0], alive[0])
                    weakref.finalize(frame, gone)
                    yield frame

            track = pred.predict_frames(frames())
            assert len(track) == n
            return most[0]

        short, long = most_alive(24), most_alive(160)
        assert long <= 4 * 8 + 1 and long <= short + 8, (short, long)
