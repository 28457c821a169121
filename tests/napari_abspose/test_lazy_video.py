"""LazyVideo: frames on demand, exact at random access; lazy skeleton images."""

import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.video import VideoReader, write_video
from napari_abspose.lazy_video import READ_AHEAD, ChannelView, LazySkeletonImages, LazyVideo

SHARED_CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "dance_part1.mp4"


def numbered_frames(n, size=(40, 100)):
    """Frame i shows i in binary as ten black/white bars (survives lossy coding)."""
    h, w = size
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        for b in range(10):
            if (i >> b) & 1:
                f[:, b * 10:(b + 1) * 10] = 255
        out.append(f)
    return out


def number(frame):
    return sum(1 << b for b in range(10) if frame[:, b * 10 + 5].mean() > 127)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "numbered.mp4", numbered_frames(150), 30)


class TestLazyVideo:
    def test_array_like(self, numbered):
        v = LazyVideo(numbered)
        assert v.shape == (150, 40, 100, 3) and v.dtype == np.uint8 and v.ndim == 4
        assert len(v) == 150 and v.fps == pytest.approx(30)
        assert v[3].shape == (40, 100, 3) and v[3].dtype == np.uint8

    def test_random_access_is_exact(self, numbered):
        v = LazyVideo(numbered, cache_size=4)
        order = np.random.default_rng(0).permutation(150)[:60]
        assert [number(v[int(i)]) for i in order] == order.tolist()
        assert v.stats["seeks"] > 0  # far jumps seek rather than decode from the start

    def test_playback_reads_on_without_seeking(self, numbered):
        v = LazyVideo(numbered)
        assert [number(v[i]) for i in range(40)] == list(range(40))
        assert v.stats["seeks"] == 0 and v.stats["sequential"] == 40
        v[40 + READ_AHEAD // 2]  # a short jump ahead grabs forward
        assert v.stats["grabbed"] == 1 and v.stats["seeks"] == 0

    def test_numpy_indexing(self, numbered):
        v = LazyVideo(numbered)
        assert number(v[-1]) == 149
        assert [number(f) for f in v[10:13]] == [10, 11, 12]
        assert [number(f) for f in v[[5, 2]]] == [5, 2]
        assert v[7, :5, 10:20, 0].shape == (5, 10)
        assert v[2:4, ::2].shape == (2, 20, 100, 3)
        assert v[..., 0].shape == (150, 40, 100)
        assert v[5:5].shape == (0, 40, 100, 3)
        with pytest.raises(IndexError):
            v[150]

    def test_cache_serves_repeats(self, numbered):
        v = LazyVideo(numbered, cache_size=3)
        v[50], v[50], v[51]
        assert v.stats["cached"] == 1

    def test_frames_match_a_full_decode(self, numbered):
        v = LazyVideo(numbered)
        frames = list(VideoReader(numbered))
        for i in (0, 77, 3, 149, 76):
            assert np.array_equal(v[i], frames[i])

    def test_stated_count_too_high_gives_black_not_a_crash(self, numbered, caplog):
        v = LazyVideo(numbered, frame_count=160)
        assert v.shape[0] == 160
        assert not v[155].any()
        assert "could not be decoded" in caplog.text
        assert number(v[20]) == 20  # still usable

    def test_not_a_video(self, tmp_path):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"not a video at all")
        with pytest.raises(InputError):
            LazyVideo(bad)

    def test_threads_get_the_right_frames(self, numbered):
        v = LazyVideo(numbered, cache_size=2)
        errors = []

        def read(offset):
            for i in range(offset, 150, 7):
                if number(v[i]) != i:
                    errors.append(i)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    @pytest.mark.skipif(not SHARED_CLIP.is_file(), reason="development clip not present")
    def test_real_phone_video_random_access(self):
        v = LazyVideo(SHARED_CLIP, cache_size=2)
        frames = list(VideoReader(SHARED_CLIP))
        assert v.shape[0] == len(frames)
        for i in np.random.default_rng(1).integers(0, len(frames), 8):
            assert np.array_equal(v[int(i)], frames[int(i)])


class FakePredictor:
    """Skeleton images whose channel c is c + (frame mean) / 255, to check plumbing."""

    class model:
        num_channels = 3

    def __init__(self):
        self.calls = []

    def skeleton_images(self, frames, boxes=None):
        self.calls.append(None if boxes is None else boxes.copy())
        b, h, w, _ = frames.shape
        base = frames.mean(axis=(1, 2, 3)) / 255.0
        return np.stack([np.stack([np.full((h, w), c + base[i], np.float32)
                                   for c in range(3)]) for i in range(b)])


class TestLazySkeletonImages:
    def test_channels_are_lazy_views(self, numbered):
        video = LazyVideo(numbered)
        pred = FakePredictor()
        boxes = np.tile(np.float32([0, 0, 100, 40]), (150, 1))
        images = LazySkeletonImages(video, pred, boxes)
        assert pred.calls == []  # nothing computed until a frame is asked for
        ch = images.channel(2)
        assert isinstance(ch, ChannelView) and ch.shape == (150, 40, 100)
        assert ch.dtype == np.float32 and ch.ndim == 3
        frame = ch[9]
        assert frame.shape == (40, 100)
        assert frame[0, 0] == pytest.approx(2 + video[9].mean() / 255.0, abs=1e-5)
        images.channel(0)[9]
        assert len(pred.calls) == 1  # every channel of a frame from one model run
        assert pred.calls[0].tolist() == [[0, 0, 100, 40]]
        assert ch[3:5].shape == (2, 40, 100)

    def test_without_boxes_the_predictor_chooses(self, numbered):
        pred = FakePredictor()
        LazySkeletonImages(LazyVideo(numbered), pred).channel(1)[0]
        assert pred.calls == [None]

    def test_channel_out_of_range(self, numbered):
        images = LazySkeletonImages(LazyVideo(numbered), FakePredictor())
        with pytest.raises(IndexError):
            images.channel(3)

    def test_with_a_real_model(self, clip):
        from core.models import AbsPoseModel, ModelConfig
        from core.predict import Predictor

        model = AbsPoseModel(ModelConfig.tiny())
        images = LazySkeletonImages(LazyVideo(clip), Predictor(model, progress=False))
        img = images.frame(4)
        assert img.shape == (model.num_channels, 120, 160) and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0
