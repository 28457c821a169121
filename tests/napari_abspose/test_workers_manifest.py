"""Background jobs without Qt, the npe2 manifest, and the sample data."""

import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.track import Track
from napari_abspose import _sample_data
from napari_abspose.workers import PredictProgress, predict_job, refine_job


@pytest.fixture(scope="module")
def predictor():
    from core.models import AbsPoseModel, ModelConfig
    from core.predict import Predictor

    return Predictor(AbsPoseModel(ModelConfig.tiny()), batch_size=4, progress=False)


def run_to_end(gen):
    items = []
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


class TestPredictJob:
    def test_progress_per_batch_then_the_track(self, predictor, clip):
        items, track = run_to_end(predict_job(predictor, clip, threading.Event()))
        assert [p.done for p in items] == [4, 8, 12]
        assert all(isinstance(p, PredictProgress) and p.total == 12 for p in items)
        assert isinstance(track, Track) and len(track) == 12

    def test_frames_array(self, predictor):
        frames = np.full((5, 80, 96, 3), 120, np.uint8)
        items, track = run_to_end(predict_job(predictor, frames, threading.Event(), fps=10))
        assert items[-1].done == 5 and len(track) == 5 and track.fps == 10

    def test_stop_returns_none_at_the_next_batch(self, predictor, clip):
        stop = threading.Event()
        gen = predict_job(predictor, clip, stop)
        first = next(gen)
        stop.set()
        items, track = run_to_end(gen)
        assert first.done == 4 and track is None and len(items) <= 1

    def test_errors_reach_the_caller(self, predictor, tmp_path):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"nothing")
        with pytest.raises(InputError):
            run_to_end(predict_job(predictor, bad, threading.Event()))


def test_refine_job_passes_options_and_the_stop_callable():
    seen = {}

    def fake(videos, checkpoint, out=None, config="cpu", steps=None, lr=None, device="auto",
             stop=None):
        seen.update(videos=videos, checkpoint=checkpoint, config=config, steps=steps, lr=lr,
                    device=device, stopped=stop())
        yield "progress"

    stop = threading.Event()
    stop.set()
    out = list(refine_job(["a.mp4"], None, stop, config="tiny", steps=3, lr=1e-4, device="cpu",
                          refine_iter=fake))
    assert out == ["progress"]
    assert seen == {"videos": [Path("a.mp4")], "checkpoint": None, "config": "tiny",
                    "steps": 3, "lr": 1e-4, "device": "cpu", "stopped": True}


class TestManifest:
    def test_manifest_contributions(self):
        from npe2 import PluginManifest

        path = Path(_sample_data.__file__).with_name("napari.yaml")
        mf = PluginManifest.from_file(path)
        c = mf.contributions
        assert [w.display_name for w in c.widgets] == ["Pose estimation"]
        patterns = c.readers[0].filename_patterns
        assert {"*.mp4", "*.avi", "*.mov", "*.mkv", "*.csv", "*.json"} <= set(patterns)
        assert [w.filename_extensions for w in c.writers] == [[".csv"], [".csv"], [".json"]]
        assert {s.key for s in c.sample_data} == {"sample_clip", "sample_clip_predicted"}
        for command in c.commands:  # every command imports
            assert command.python_name and command.exec is not None

    def test_registered_with_npe2(self):
        from npe2 import PluginManager

        pm = PluginManager.instance()
        pm.discover()
        assert pm.get_manifest("napari-abspose").name == "napari-abspose"


class TestSampleData:
    def test_missing_clip_is_a_clear_error(self, tmp_path):
        with pytest.raises(InputError, match="no sample clip"):
            _sample_data.sample_clip_path(tmp_path)

    def test_clip_and_clip_with_predictions(self, tmp_path, clip, tiny_checkpoint,
                                            monkeypatch):
        import shutil

        import core.checkpoint

        shutil.copy(clip, tmp_path / _sample_data.SAMPLE_CLIP)
        monkeypatch.setattr(_sample_data, "SAMPLE_DIR", tmp_path)
        ((video, _kwargs, kind),) = _sample_data.sample_clip()
        assert kind == "image" and video.shape == (12, 120, 160, 3)
        real = core.checkpoint.load_model
        monkeypatch.setattr(core.checkpoint, "load_model",
                            lambda path=None, **kw: real(tiny_checkpoint, **kw))
        layers = _sample_data.sample_clip_predicted()
        assert [k for _, _, k in layers] == ["image", "points"]
        assert len(layers[1][0]) == 12 * 22
