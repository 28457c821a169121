"""The real-data stages learn: with the tiny preset on a fixed batch (the same frames,
synthetic samples and prior poses every step) the losses of ``train`` and ``refine``
fall, and with both learning rates at 0 they stay exactly where they were, so the fall
comes from the updates and from nothing else."""

import copy

import numpy as np
import pytest
import torch

from core.checkpoint import save_checkpoint
from core.models import AbsPoseModel
from training.config import load_config
from training.stages import Trainer
from training.stages.refine import refine_iter
from training.stages.train import train_iter

pytestmark = pytest.mark.usefixtures("one_thread")

# The terms that must fall: the render loss (renderer and encoder), the pose path's
# synthetic 2D and 3D keypoints (encoder, keypoint head, uplift) and both discriminators.
FALLING = ("perceptual", "synthetic_keypoints_2d", "synthetic_keypoints_3d", "image_disc",
           "skeleton_disc")
# Stats, snapshots and checkpoints only at the end. Batch norm trains with batch
# statistics here: frozen running statistics of a model that never trained make the pose
# path's output flat (the same keypoints for every image), and its synthetic terms then
# cannot fall in a few steps.
OVERRIDES = ("log_every=100", "snapshot_every=100", "checkpoint_every=100",
             "freeze_batchnorm=false")
STEPS = 20


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A checkpoint of the tiny model at its initial weights, for the stages to start from
    (its architecture is the one they train). Without the uplift's dropout: the same batch
    then gives the same losses until the weights move."""
    torch.manual_seed(0)  # the same weights however many tests ran before
    model = AbsPoseModel(load_config("tiny", ["model.uplift.dropout=0"]).model)
    return save_checkpoint(tmp_path_factory.mktemp("start") / "start.pt", model)


class SameBatch:
    """A stream that gives its first batch at every step."""

    def __init__(self, stream):
        self.stream, self.batch, self.served = stream, None, 0

    def next(self):
        if self.batch is None:
            self.batch = next(self.stream)
        self.served += 1
        return self.batch

    __next__ = next

    def state_dict(self):
        return self.stream.state_dict()


@pytest.fixture
def fixed_batches(monkeypatch):
    """Every stream of a stage, wrapped in :class:`SameBatch` as its loop starts."""
    wrapped: list[dict[str, SameBatch]] = []
    run_loop = Trainer.run_loop

    def same_batches(self, *args, **kwargs):
        self.streams = {k: SameBatch(s) for k, s in self.streams.items()}
        wrapped.append(self.streams)
        return run_loop(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "run_loop", same_batches)
    return wrapped


def loss_history(items, steps: int) -> list[dict[str, float]]:
    history = [p.losses for p in items if p.losses]
    assert len(history) == steps
    return history


def assert_falls(history, keys, fraction: float) -> None:
    for key in keys:
        first = np.mean([h[key] for h in history[:3]])
        last = np.mean([h[key] for h in history[-3:]])
        assert last < fraction * first, (key, first, last)


def assert_constant(history) -> None:
    for key in history[0]:
        values = [h[key] for h in history]
        assert np.allclose(values, values[0], rtol=1e-5, atol=0), (key, values)


def test_train_losses_fall_on_a_fixed_batch(start, clips, tmp_path, fixed_batches):
    def run(name: str, steps: int, lr: float):
        cfg = load_config("tiny", [f"train.steps={steps}", f"train.lr_g={lr}",
                                   f"train.lr_d={lr}", *(f"train.{o}" for o in OVERRIDES)])
        return loss_history(train_iter(cfg, [clips], tmp_path / name, init=start), steps)

    history = run("learns", STEPS, 2e-3)
    streams = fixed_batches[-1]
    assert set(streams) == {"video", "prior", "synthetic"}
    assert all(s.served == STEPS for s in streams.values())  # one batch per stream and step
    assert_falls(history, FALLING, 0.7)
    assert_constant(run("still", 5, 0.0))


def test_refine_losses_fall_on_a_fixed_batch(start, clips, tmp_path, fixed_batches):
    video = tmp_path / "subject.mp4"
    video.write_bytes((clips / "a.mp4").read_bytes())

    def run(name: str, steps: int, lr: float):
        items = list(refine_iter([video], start, out=tmp_path / name, config="tiny",
                                 steps=steps, lr=lr, device="cpu",
                                 overrides=[f"refine.{o}" for o in OVERRIDES]))
        assert items[-1].checkpoint == tmp_path / name / "refined.pt"
        return loss_history(items, steps)

    history = run("learns", STEPS, 2e-3)
    assert fixed_batches[-1]["video"].served == STEPS
    assert_falls(history, FALLING, 0.7)
    assert_constant(run("still", 5, 0.0))


def test_a_trainer_leaves_the_callers_configuration_as_it_was(start, tmp_path):
    """The checkpoint's architecture wins (its uplift has no dropout), on the trainer's
    own copy of the configuration; the object the caller passed is not changed."""
    cfg = load_config("tiny", ["model.uplift.dropout=0.3"])
    before = copy.deepcopy(cfg)
    tr = Trainer(cfg, "train", tmp_path / "run", init=start)
    assert tr.cfg.model.uplift.dropout == 0.0 and cfg.model.uplift.dropout == 0.3
    assert cfg == before
