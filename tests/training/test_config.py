import pytest

from core.errors import ConfigError
from training.config import load_config, preset_names


def test_presets_load():
    assert {"tiny", "cpu", "gpu"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert cfg.pretrain.steps > 0 and cfg.refine.steps > 0


def test_stage_defaults_survive_partial_sections():
    cfg = load_config("tiny")
    # the YAML sets only steps/batches: the stage's own loss weights stay
    assert cfg.pretrain.weights.skeleton_gan == 0.0
    assert cfg.train.weights.skeleton_gan > 0.0
    assert cfg.train.weights.synthetic_keypoints_2d < cfg.pretrain.weights.synthetic_keypoints_2d


def test_file_with_base_and_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\ntrain:\n  steps: 7\nmodel:\n  layout: 3ch\n")
    cfg = load_config(path, ["refine.lr_g=1e-5"])
    assert cfg.train.steps == 7 and cfg.model.layout == "3ch"
    assert cfg.model.input_size == (64, 64) and cfg.refine.lr_g == 1e-5


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config preset 'huge'"):
        load_config("huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: tiny\ntrain:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"train\.stepz"):
        load_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(loop)
