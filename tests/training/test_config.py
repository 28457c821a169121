import pytest

from core.errors import ConfigError
from tests.core.test_config import repeated
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


def test_the_tiny_preset_trains_the_tiny_model():
    from core.models.config import ModelConfig

    assert load_config("tiny").model == ModelConfig.tiny()


def test_a_model_preset_as_the_model_sections_base(tmp_path):
    from core.models.config import ModelConfig

    path = tmp_path / "mine.yaml"
    path.write_text("base: cpu\nmodel: {base: tiny, layout: 3ch}\n")
    cfg = load_config(path)
    # the model starts from the preset, not from cpu's lighter renderer
    assert cfg.model == ModelConfig.tiny(layout="3ch")
    assert cfg.train.steps == load_config("cpu").train.steps
    path.write_text("base: tiny\nmodel: {base: imagenet}\n")
    assert load_config(path).model == ModelConfig.preset("imagenet")
    path.write_text("model: {base: huge}\n")
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge'.*tiny"):
        load_config(path)


def test_presets_list_only_what_differs():
    """No preset repeats a value it would have without it: the defaults, or its base."""
    from core.config import load_preset, load_yaml, merge, to_dict
    from core.models.config import model_preset_data
    from training.config import PRESET_DIR, TrainConfig

    defaults = to_dict(TrainConfig())
    for name in preset_names():
        data = load_yaml(PRESET_DIR / f"{name}.yaml")
        base = data.pop("base", None)
        start = merge(defaults, load_preset(base, PRESET_DIR)) if base else defaults
        model = data.get("model", {})
        if "base" in model:
            data["model"] = {k: v for k, v in model.items() if k != "base"}
            start = {**start, "model": merge(defaults["model"], model_preset_data(model["base"]))}
        assert not repeated(data, start), name
