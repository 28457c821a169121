import os

import pytest
import torch

import core
from core.checkpoint import (
    FORMAT_VERSION,
    checkpoint_dict,
    default_checkpoint_path,
    load_checkpoint,
    load_model,
    load_state,
    save_checkpoint,
)
from core.errors import CheckpointError
from core.models import AbsPoseModel, ModelConfig, build_discriminators
from core.skeleton import HUMAN

INFERENCE = ("skeleton_image", "keypoints", "confidence", "keypoints_3d", "rotations")
ALL = (*INFERENCE, "skeleton_image_2d", "skeleton_image_3d", "reconstruction")


pytestmark = pytest.mark.usefixtures("one_thread")


def trained_looking(model):
    """Move every weight and batch-norm statistic away from its initial value, so a
    round trip that dropped any of them would show."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.add_(0.1 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.mul_(1.0 + 0.2 * torch.rand_like(b))
    return model.eval()


@pytest.fixture
def tiny():
    return trained_looking(AbsPoseModel(ModelConfig.tiny()))


class TestRoundTrip:
    @pytest.mark.parametrize(("skeleton", "layout"), [("human", "5ch"), ("quadruped", "3ch")])
    def test_outputs_reproduced_exactly(self, tmp_path, skeleton, layout):
        model = trained_looking(AbsPoseModel(ModelConfig.tiny(skeleton=skeleton, layout=layout)))
        path = save_checkpoint(tmp_path / "m.pt", model)
        loaded = load_model(path)
        assert not loaded.training
        assert loaded.skeleton == model.skeleton and loaded.layout == layout
        assert loaded.config == model.config
        x, a = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
        with torch.no_grad():
            out, out2 = model(x, a), loaded(x, a)
        for f in ALL:
            assert torch.equal(getattr(out, f), getattr(out2, f)), f
        p, p2 = model.predict(x), loaded.predict(x)
        for f in INFERENCE:
            assert torch.equal(getattr(p, f), getattr(p2, f)), f

    def test_contents(self, tiny, tmp_path):
        ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", tiny))
        assert ckpt["format_version"] == FORMAT_VERSION
        assert ckpt["skeleton"] == HUMAN.to_dict()
        assert ckpt["layout"] == "5ch" and ckpt["input_size"] == [64, 64]
        assert ckpt["config"]["uplift"]["hidden"] == tiny.config.uplift.hidden
        assert ckpt["weights_dtype"] == "float32"

    def test_extra_entries(self, tiny, tmp_path):
        discs = build_discriminators(tiny.config)
        opt = torch.optim.Adam(tiny.parameters())
        extra = {"discriminators": {k: d.state_dict() for k, d in discs.items()},
                 "optimizer": opt.state_dict(), "step": 123}
        ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", tiny, extra))
        assert ckpt["step"] == 123
        fresh = build_discriminators(tiny.config)["image"]
        fresh.load_state_dict(ckpt["discriminators"]["image"])
        for p, q in zip(fresh.parameters(), discs["image"].parameters(), strict=True):
            assert torch.equal(p, q)
        with pytest.raises(CheckpointError, match="reserved"):
            checkpoint_dict(tiny, {"model": {}})

    def test_custom_skeleton_travels_with_the_checkpoint(self, tmp_path):
        yaml = tmp_path / "mouse.yaml"
        yaml.write_text(
            "name: mouse\nkeypoints: [neck, snout, tail]\n"
            "parents: {neck: null, snout: neck, tail: neck}\n"
            "edges: [[neck, snout], [neck, tail]]\n"
            "rest_pose: {snout: [0, 0, -0.03], tail: [0, 0, 0.08]}\n"
        )
        model = AbsPoseModel(ModelConfig.tiny(skeleton=str(yaml), layout="1ch")).eval()
        path = save_checkpoint(tmp_path / "mouse.pt", model)
        yaml.unlink()  # the checkpoint must not need the YAML file any more
        loaded = load_model(path)
        assert loaded.skeleton.name == "mouse" and loaded.skeleton.num_keypoints == 3
        x = torch.rand(1, 3, 64, 64)
        assert torch.equal(model.predict(x).keypoints, loaded.predict(x).keypoints)

    def test_half_weights(self, tiny, tmp_path):
        full = save_checkpoint(tmp_path / "full.pt", tiny)
        half = save_checkpoint(tmp_path / "half.pt", tiny, half=True)
        assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
        loaded = load_model(half)
        assert all(p.dtype == torch.float32 for p in loaded.parameters())
        x = torch.rand(2, 3, 64, 64)
        torch.testing.assert_close(loaded.predict(x).keypoints, tiny.predict(x).keypoints,
                                   atol=2e-2, rtol=0)

    def test_weights_are_stored_in_the_standard_layout(self, tiny, tmp_path):
        import copy

        trained = copy.deepcopy(tiny).to(memory_format=torch.channels_last)
        assert any(not v.is_contiguous() for v in trained.state_dict().values())
        state = load_checkpoint(save_checkpoint(tmp_path / "m.pt", trained))["model"]
        assert all(v.is_contiguous() and v.device.type == "cpu" for v in state.values())
        for k, v in tiny.state_dict().items():
            assert torch.equal(state[k], v)

    def test_device_argument(self, tiny, tmp_path):
        loaded = load_model(save_checkpoint(tmp_path / "m.pt", tiny), device="cpu")
        assert next(loaded.parameters()).device.type == "cpu"


class TestAtomicWrite:
    def test_failed_save_keeps_previous_file(self, tiny, tmp_path, monkeypatch):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        before = path.read_bytes()
        import core.io

        real_open = core.io.os.fdopen

        class Failing:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                raise OSError("disk full")

        monkeypatch.setattr(core.io.os, "fdopen", lambda fd, mode, **kw: Failing(
            real_open(fd, mode, **kw)))
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(path, trained_looking(tiny))
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary left


class TestBadCheckpoints:
    def test_missing_file(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist"):
            load_model(tmp_path / "nope.pt")
        with pytest.raises(CheckpointError, match=r"is a folder; give the \.pt file"):
            load_model(tmp_path)

    def test_corrupt_file(self, tiny, tmp_path):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        path.write_bytes(path.read_bytes()[:1000])
        with pytest.raises(CheckpointError, match="corrupt"):
            load_model(path)
        path.write_bytes(b"not a checkpoint at all")
        with pytest.raises(CheckpointError, match="corrupt"):
            load_checkpoint(path)

    def test_not_a_checkpoint_dict(self, tmp_path):
        path = tmp_path / "w.pt"
        torch.save({"weight": torch.zeros(3)}, path)
        with pytest.raises(CheckpointError, match="not a napari-abspose checkpoint"):
            load_checkpoint(path)

    def test_pickled_objects_are_refused(self, tiny, tmp_path):
        ckpt = checkpoint_dict(tiny)
        ckpt["config"] = ModelConfig.tiny()  # a dataclass instance, not plain data
        path = tmp_path / "pickled.pt"
        torch.save(ckpt, path)
        with pytest.raises(CheckpointError, match="cannot read") as err:
            load_checkpoint(path)
        # never torch's advice to load an untrusted file with weights_only=False
        assert "weights_only" not in str(err.value) and "\n" not in str(err.value)

    @pytest.mark.parametrize(("version", "hint"), [(FORMAT_VERSION + 1, "upgrade"),
                                                   (0, "older")])
    def test_other_format_version(self, tiny, tmp_path, version, hint):
        ckpt = checkpoint_dict(tiny)
        ckpt["format_version"] = version
        path = tmp_path / "v.pt"
        torch.save(ckpt, path)
        with pytest.raises(CheckpointError, match=f"format version {version}.*{hint}"):
            load_model(path)

    def test_other_skeleton(self, tiny, tmp_path):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        with pytest.raises(CheckpointError, match=r"'human' .*not 'quadruped'"):
            load_model(path, skeleton="quadruped")
        other = AbsPoseModel(ModelConfig.tiny(skeleton="quadruped"))
        with pytest.raises(CheckpointError, match="skeleton 'human'"):
            load_state(other, load_checkpoint(path))
        assert load_model(path, skeleton=HUMAN).skeleton == HUMAN

    def test_same_name_other_definition(self, tiny, tmp_path):
        data = HUMAN.to_dict()
        data["edges"] = data["edges"][:-1]
        for channels in data["layouts"].values():
            for ch in channels.values():
                ch["edges"] = [e for e in ch["edges"] if e != ["right_eye", "right_ear"]]
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        with pytest.raises(CheckpointError, match="different definition"):
            load_model(path, skeleton=data)

    def test_other_layout(self, tiny, tmp_path):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        with pytest.raises(CheckpointError, match="layout '5ch', not '3ch'"):
            load_model(path, layout="3ch")
        with pytest.raises(CheckpointError, match="layout"):
            load_state(AbsPoseModel(ModelConfig.tiny(layout="3ch")), load_checkpoint(path))

    def test_other_input_size(self, tiny, tmp_path):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        model = AbsPoseModel(ModelConfig.tiny(input_size=(128, 128)))
        with pytest.raises(CheckpointError, match=r"\(64, 64\) images"):
            load_state(model, load_checkpoint(path))

    def test_other_architecture(self, tiny, tmp_path):
        path = save_checkpoint(tmp_path / "m.pt", tiny)
        cfg = ModelConfig.tiny()
        cfg.encoder.widths = (8, 16)  # one level fewer
        with pytest.raises(CheckpointError, match="architecture"):
            load_state(AbsPoseModel(cfg), load_checkpoint(path))


class TestDefaultModel:
    def test_default_location(self):
        from pathlib import Path

        path = default_checkpoint_path()
        assert path.name == "default_human_5ch.pt"
        assert path.parent == Path(core.__file__).resolve().parents[1] / "sample_data"

    def test_the_default_is_shipped_and_loads(self):
        path = default_checkpoint_path()
        assert path.is_file(), f"{path} is missing"
        assert path.stat().st_size < 20 * 2**20
        model = core.load_model(None)
        assert model.skeleton == HUMAN and model.layout == "5ch"
        assert tuple(model.input_size) == (128, 128) and not model.training

    def test_a_missing_default_is_named(self, tmp_path, monkeypatch):
        monkeypatch.setattr(core.checkpoint, "default_checkpoint_path",
                            lambda: tmp_path / "default_human_5ch.pt")
        with pytest.raises(CheckpointError, match="no default model is installed"):
            core.load_model(None)
