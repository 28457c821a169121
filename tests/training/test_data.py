import logging

import cv2
import numpy as np
import pytest
import torch

from core.camera import normalized_to_pixel, pixel_to_normalized
from core.errors import InputError
from core.labels import labels_from_track
from core.skeleton import HUMAN
from core.track import Track
from training.data import (
    FrameCache,
    LabelledFrames,
    VideoPairStream,
    find_footage,
    letterbox_square,
    random_crops,
    sample_pairs,
)


def write_video(path, frames, fps=25):
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    out.release()


def numbered_frames(n, h=48, w=64, value_step=8):
    return [np.full((h, w, 3), (i * value_step) % 256, np.uint8) for i in range(n)]


@pytest.fixture
def footage(tmp_path):
    write_video(tmp_path / "a.mp4", numbered_frames(12))
    write_video(tmp_path / "b.avi", numbered_frames(6, 40, 30))
    seq = tmp_path / "seq"
    seq.mkdir()
    for i, f in enumerate(numbered_frames(4, 20, 20)):
        cv2.imwrite(str(seq / f"{i:03d}.png"), f)
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


class TestFindFootage:
    def test_videos_and_sequences(self, footage):
        names = [p.name for p in find_footage(footage)]
        assert names == ["a.mp4", "b.avi", "broken.mp4", "seq"]

    def test_a_picture_next_to_videos_is_not_a_sequence(self, footage):
        """`abspose synth` writes contact_sheet.png beside its clips."""
        cv2.imwrite(str(footage / "contact_sheet.png"), numbered_frames(1)[0])
        names = [p.name for p in find_footage(footage)]
        assert names == ["a.mp4", "b.avi", "broken.mp4", "seq"]

    def test_missing(self, tmp_path):
        with pytest.raises(InputError, match="does not exist"):
            find_footage(tmp_path / "nope")


class TestFrameCache:
    def test_build_skips_unreadable_with_a_warning(self, footage, caplog):
        with caplog.at_level(logging.WARNING):
            cache = FrameCache.build(find_footage(footage), size=32)
        assert "broken.mp4" in caplog.text
        assert [p.name for p in cache.sources] == ["a.mp4", "b.avi", "seq"]
        assert cache.frames.shape == (12 + 6 + 4, 32, 32, 3)
        assert cache.ranges == [(0, 12), (12, 18), (18, 22)]

    def test_memory_mapped(self, footage, tmp_path):
        cache = FrameCache.build([footage / "a.mp4"], size=16, cache_file=tmp_path / "c.npy")
        assert isinstance(cache.frames, np.memmap) and len(cache) == 12
        assert np.load(tmp_path / "c.npy", mmap_mode="r").shape == (12, 16, 16, 3)

    def test_nothing_readable_is_an_error(self, footage):
        with pytest.raises(InputError, match=r"no readable video.*broken\.mp4"):
            FrameCache.build([footage / "broken.mp4"], size=16)


class TestLetterbox:
    def test_wide_frame_centred(self):
        frame = np.full((10, 40, 3), 200, np.uint8)
        out = letterbox_square(frame, 20)
        assert out.shape == (20, 20, 3)
        # 10 rows scaled by 1/2 = 5 rows, centred in 20: rows 7.5 to 12.5 (half-covered
        # pixels at both ends), the same exact mapping as prediction uses
        column = out[:, 10, 0].astype(int).tolist()
        assert column == [0] * 7 + [100, 200, 200, 200, 200, 100] + [0] * 7


class TestPairs:
    def test_same_source_within_gap(self, footage):
        cache = FrameCache.build(find_footage(footage), size=16)
        g = torch.Generator().manual_seed(0)
        t, a = sample_pairs(cache, 200, (2, 4), g)
        assert np.array_equal(cache.video[t], cache.video[a])
        gaps = np.abs(t - a)
        long = cache.video[t] <= 1  # sources of 12 and 6 frames hold the full gap range
        assert gaps[long].min() >= 2 and gaps.max() <= 4 and gaps.min() >= 1
        assert (t > a).any() and (t < a).any()

    def test_stream_shapes_and_determinism(self, footage):
        cache = FrameCache.build(find_footage(footage), size=24)
        s1 = VideoPairStream(cache, 4, 16, torch.device("cpu"), gap=(1, 3), seed=1)
        s2 = VideoPairStream(cache, 4, 16, torch.device("cpu"), gap=(1, 3), seed=1)
        t1, a1 = next(s1)
        t2, a2 = next(s2)
        assert t1.shape == a1.shape == (4, 3, 16, 16)
        assert torch.equal(t1, t2) and torch.equal(a1, a2)
        assert 0.0 <= t1.min() and t1.max() <= 1.0


class TestRandomCrops:
    def test_identity_crop(self):
        x = torch.rand(2, 3, 16, 16)
        y = random_crops(x, 16, (1.0, 1.0), 0.0)
        assert torch.allclose(x, y, atol=1e-5)

    def test_zoom_out_shows_borders(self):
        x = torch.ones(3, 3, 16, 16)
        y = random_crops(x, 16, (1.5, 1.5), 0.0)
        assert y[:, :, 0, 0].max() == 0 and y[:, :, 8, 8].min() == 1.0


def bright_spot(img: torch.Tensor) -> torch.Tensor:
    """(B, 2) pixel (x, y) of the brightest pixel of each (B, 3, H, W) image."""
    b, _, _, w = img.shape
    flat = img.sum(1).reshape(b, -1).argmax(1)
    return torch.stack([flat % w, flat // w], -1).float()


class TestLabelledCrops:
    def test_keypoints_move_with_the_crop(self):
        g = torch.Generator().manual_seed(0)
        x = torch.zeros(64, 3, 48, 48)
        px = torch.randint(12, 36, (64, 2), generator=g)
        x[torch.arange(64), :, px[:, 1], px[:, 0]] = 1.0  # one bright pixel each
        kp = pixel_to_normalized(px.float()[:, None], (48, 48))
        crops, moved = random_crops(x, 32, (0.8, 1.2), 0.1, g, keypoints=kp)
        found = bright_spot(crops)
        where = normalized_to_pixel(moved[:, 0], (32, 32))
        inside = ((where > 1) & (where < 30)).all(1)
        assert inside.sum() > 50
        # bilinear resampling spreads the spot over a pixel or two
        assert (found[inside] - where[inside]).abs().max() <= 1.0

    def test_stream_from_corrected_frames_of_a_video(self, tmp_path):
        frames = np.full((8, 60, 80, 3), 30, np.uint8)
        kp = np.full((8, HUMAN.num_keypoints, 2), np.nan, np.float32)
        for t in range(8):
            x, y = 10 + 5 * t, 20 + 2 * t
            frames[t, y, x] = 255
            kp[t, HUMAN.index("nose")] = (x, y)
        video = tmp_path / "clip.mp4"
        write_video(video, list(frames), fps=10)
        track = Track(list(HUMAN.keypoints), np.nan_to_num(kp), np.ones(kp.shape[:2]),
                      frame_size=(60, 80))
        edited = np.zeros(kp.shape[:2], bool)
        edited[[2, 6], HUMAN.index("nose")] = True
        labels = labels_from_track(track, edited)
        stream = LabelledFrames(labels, video, HUMAN.keypoints, 16, 40, torch.device("cpu"),
                                cache_size=64, crop_scale=(1.0, 1.0), crop_offset=0.0)
        images, points, mask = next(stream)
        assert images.shape == (16, 3, 40, 40) and points.shape == (16, 22, 2)
        assert mask.sum(1).tolist() == [1] * 16 and mask[:, HUMAN.index("nose")].all()
        where = normalized_to_pixel(points[:, HUMAN.index("nose")], (40, 40))
        # the nose label sits on the bright pixel of its frame (mp4 blurs it a little)
        assert (bright_spot(images) - where).abs().max() <= 1.5
        assert torch.isfinite(points).all()
        with pytest.raises(InputError, match="none of its keypoints"):
            LabelledFrames(labels, video, ["a", "b"], 2, 40, torch.device("cpu"))
