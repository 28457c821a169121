"""Lazy skeleton images over a video: computed for a frame when it is shown."""

import numpy as np
import pytest

from core.video import LazyVideo, write_video
from napari_abspose.skeleton_images import ChannelView, LazySkeletonImages
from tests.core.test_video import numbered_frames


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "numbered.mp4", numbered_frames(150), 30)


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
