import numpy as np
import pytest

from core.crop import (
    CropTransform,
    FollowCrop,
    box_transform,
    check_box,
    crop_frame,
    crop_frames,
    letterbox_transform,
    warp_to_original,
)
from core.errors import InputError, ShapeError


def coordinate_frame(h, w):
    """A float frame whose channels hold each pixel's own x, y and 1 (to mark padding)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys, np.ones_like(xs)], axis=-1)


def blob_frame(h, w, centres, sigma=3.0):
    """A frame with one Gaussian blob per channel at sub-pixel ``centres`` (x, y)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, len(centres)))
    for c, (cx, cy) in enumerate(centres):
        out[..., c] = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
    return out.astype(np.float32)


def centroids(image):
    """(C, 2) intensity-weighted centroid (x, y) of each channel."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    wts = image / image.sum(axis=(0, 1))
    return np.stack([(wts * xs[..., None]).sum((0, 1)), (wts * ys[..., None]).sum((0, 1))], 1)


BOXES = [  # (frame size, box, input size): wide, tall, partly outside, upscaled, odd sizes
    ((720, 1280), (0, 0, 1280, 720), (128, 128)),
    ((406, 720), (0, 0, 720, 406), (96, 128)),
    ((720, 1280), (300, 100, 333, 500), (128, 96)),
    ((720, 1280), (-50, 400, 200, 300), (64, 64)),
    ((200, 300), (10, 10, 50, 60), (128, 128)),
    ((101, 77), (0, 0, 77, 101), (64, 64)),
]


class TestTransform:
    @pytest.mark.parametrize("frame_size, box, input_size", BOXES)
    def test_crop_samples_exactly_where_the_transform_says(self, frame_size, box, input_size):
        # Bilinear and box-average resampling reproduce a linear ramp exactly, so each
        # input pixel holds the original coordinates it was taken from.
        frame = coordinate_frame(*frame_size)
        tr = box_transform(box, input_size)
        out = crop_frame(frame, tr)
        hi, wi = input_size
        u = np.stack(np.meshgrid(np.arange(wi), np.arange(hi)), -1).astype(float)
        p = tr.to_original(u)
        h, w = frame_size
        inside = (p[..., 0] >= 1) & (p[..., 0] <= w - 2) & (p[..., 1] >= 1) & (p[..., 1] <= h - 2)
        inside &= out[..., 2] > 0.999  # away from the frame's border (padding blends in)
        assert inside.sum() > 0.25 * inside.size
        np.testing.assert_allclose(out[..., :2][inside], p[inside], atol=2e-3)

    def test_letterbox_pads_and_centres(self):
        tr = letterbox_transform((720, 1280), (128, 128))
        assert tr.scale == pytest.approx(10.0)
        assert tr.box == pytest.approx((0.0, -280.0, 1280.0, 1280.0))
        assert tr.principal_point == pytest.approx((639.5, 359.5))
        out = crop_frame(np.full((720, 1280, 3), 200, np.uint8), tr)
        assert (out[:27] == 0).all() and (out[-27:] == 0).all() and (out[29:99] == 200).all()

    @pytest.mark.parametrize("frame_size, box, input_size", BOXES)
    def test_round_trips(self, frame_size, box, input_size):
        tr = box_transform(box, input_size)
        p = np.random.default_rng(0).uniform(-100, 1000, (7, 2))
        np.testing.assert_allclose(tr.to_original(tr.to_input(p)), p, atol=1e-9)
        np.testing.assert_allclose(tr.normalized_to_original(tr.original_to_normalized(p)), p,
                                   atol=1e-9)

    def test_normalized_convention(self):
        tr = letterbox_transform((64, 64), (64, 64))  # identity
        assert tr.scale == 1 and tr.offset == (0, 0)
        # pixel i has its centre at -1 + (2 i + 1) / W
        np.testing.assert_allclose(tr.normalized_to_original([[-1 + 1 / 64, -1 + 63 / 64]]),
                                   [[0, 31]])

    def test_warp_matrix_is_the_inverse_map(self):
        tr = box_transform((30, 40, 200, 100), (64, 64))
        p = np.array([123.0, 77.0])
        np.testing.assert_allclose(tr.warp_matrix() @ np.append(p, 1), tr.to_input(p))

    def test_bad_boxes(self):
        with pytest.raises(InputError, match="positive"):
            box_transform((0, 0, 0, 10), (64, 64))
        with pytest.raises(InputError, match="outside"):
            check_box((2000, 0, 10, 10), (720, 1280))
        with pytest.raises(InputError, match="4 numbers"):
            check_box((0, 0, 10), (720, 1280))
        assert check_box(("1", 2, 3, 4), (720, 1280)) == (1.0, 2.0, 3.0, 4.0)


class TestCrop:
    @pytest.mark.parametrize("frame_size, box, input_size", BOXES)
    def test_known_keypoints_map_back(self, frame_size, box, input_size):
        """Blobs at known sub-pixel positions, padded and scaled into the input, found
        there and mapped back, land where they were drawn."""
        h, w = frame_size
        tr = box_transform(box, input_size)
        x, y, bw, bh = box
        lo = np.maximum([x, y], 0) + 0.3 * np.minimum([bw, bh], [w, h])
        hi = np.minimum([x + bw, y + bh], [w, h]) - 0.3 * np.minimum([bw, bh], [w, h])
        rng = np.random.default_rng(1)
        centres = rng.uniform(lo, np.maximum(hi, lo + 1), (3, 2))
        sigma = 2.5 * max(tr.scale, 1.0)
        frame = blob_frame(h, w, centres, sigma)
        found = tr.to_original(centroids(crop_frame(frame, tr)))
        np.testing.assert_allclose(found, centres, atol=0.05 * max(tr.scale, 1.0))

    def test_dtype_and_batch(self):
        frames = np.random.default_rng(0).integers(0, 255, (3, 90, 160, 3), dtype=np.uint8)
        out = crop_frames(frames, letterbox_transform((90, 160), (64, 64)))
        assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
        with pytest.raises(ShapeError):
            crop_frames(frames[0], letterbox_transform((90, 160), (64, 64)))
        with pytest.raises(ShapeError):
            crop_frames(frames, [letterbox_transform((90, 160), (64, 64))] * 2)

    def test_antialias_keeps_thin_lines(self):
        frame = np.zeros((720, 1280, 3), np.uint8)
        frame[:, 640:642] = 255  # a 2-pixel line, 10x downscale
        tr = letterbox_transform((720, 1280), (128, 128))
        smooth = crop_frame(frame, tr).astype(float)
        aliased = crop_frame(frame, tr, antialias=False).astype(float)
        assert smooth.sum() == pytest.approx(255 * 3 * 72 * 2 / 10, rel=0.1)  # energy kept
        assert abs(aliased.sum() - smooth.sum()) > 0.2 * smooth.sum()

    def test_warp_to_original_inverts_crop(self):
        tr = box_transform((100, 50, 200, 200), (64, 64))
        img = np.zeros((2, 64, 64), np.float32)
        img[1, 20, 40] = 1.0
        back = warp_to_original(img, tr, (300, 400))
        assert back.shape == (2, 300, 400) and back[0].max() == 0
        y, x = np.unravel_index(back[1].argmax(), back[1].shape)
        np.testing.assert_allclose(tr.to_input([x, y]), [40, 20], atol=0.5)
        with pytest.raises(ShapeError):
            warp_to_original(img[0], tr, (300, 400))


class TestFollowCrop:
    def test_box_holds_the_keypoints_with_margin(self):
        fc = FollowCrop((720, 1280), (128, 128))
        assert fc.box is None and fc.transform() == letterbox_transform((720, 1280), (128, 128))
        kp = np.array([[[600, 300], [700, 500], [650, 400]]], dtype=float)
        fc.update(kp, np.ones((1, 3)))
        x, y, w, h = fc.transform().box
        assert w == pytest.approx(200 * 1.5) and h == pytest.approx(w)
        assert x < 600 - 40 and x + w > 700 + 40 and y < 300 - 40 and y + h > 500 + 40
        assert fc.transform().scale < letterbox_transform((720, 1280), (128, 128)).scale

    def test_falls_back_to_whole_frame(self):
        fc = FollowCrop((720, 1280), (128, 128))
        kp = np.array([[[600, 300], [700, 500], [650, 400]]], dtype=float)
        fc.update(kp, np.ones((1, 3)))
        assert fc.box is not None
        fc.update(kp, np.full((1, 3), 0.1))  # confidence drops
        assert fc.box is None
        fc.update(kp, np.array([[1.0, 0.0, 0.0]]))  # too few keypoints found
        assert fc.box is None

    def test_minimum_size_and_no_bigger_than_frame(self):
        fc = FollowCrop((720, 1280), (128, 128))
        fc.update(np.array([[[640, 360], [641, 361]]], float), np.ones((1, 2)))
        assert fc.box[2] == pytest.approx(0.15 * 720)
        fc.update(np.array([[[0, 0], [1279, 719]]], float), np.ones((1, 2)))
        assert fc.box is None

    def test_transform_type(self):
        assert isinstance(FollowCrop((10, 10), (8, 8)).transform(), CropTransform)
