import logging

import cv2
import numpy as np
import pytest
import torch

from core.errors import InputError
from training.data import (
    FrameCache,
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
