from dataclasses import dataclass, field
from typing import Literal

import pytest

from core.config import apply_overrides, from_dict, load_yaml, to_dict
from core.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)


@dataclass
class Config:
    steps: int = 1000
    layout: Literal["1ch", "3ch", "5ch"] = "5ch"
    name: str | None = None
    optim: Optim = field(default_factory=Optim)
    flags: list[str] = field(default_factory=list)


class TestFromDict:
    def test_defaults_and_nested(self):
        cfg = from_dict(Config, {"steps": 10, "optim": {"lr": 3}})
        assert cfg.steps == 10 and cfg.optim.lr == 3.0 and cfg.optim.betas == (0.5, 0.999)
        assert isinstance(cfg.optim.lr, float)

    def test_round_trip(self):
        cfg = from_dict(Config, {"name": "x", "flags": ["a"], "optim": {"betas": [0.9, 0.99]}})
        assert from_dict(Config, to_dict(cfg)) == cfg
        assert to_dict(cfg)["optim"]["betas"] == [0.9, 0.99]

    @pytest.mark.parametrize(("data", "message"), [
        ({"stepz": 1}, "unknown config key.*stepz.*allowed here: flags, layout"),
        ({"optim": {"lr": 1, "momentum": 0.9}}, r"optim\.momentum"),
        ({"steps": "ten"}, "steps: expected an integer"),
        ({"steps": 1.5}, "steps: expected an integer"),
        ({"layout": "4ch"}, r"layout: expected one of \['1ch', '3ch', '5ch'\]"),
        ({"optim": {"betas": [0.5]}}, r"optim\.betas: expected 2 values"),
        ({"optim": 3}, "optim: expected a mapping"),
    ])
    def test_errors_name_the_key(self, data, message):
        with pytest.raises(ConfigError, match=message):
            from_dict(Config, data)


class TestOverrides:
    def test_apply(self):
        cfg = apply_overrides(Config(), ["optim.lr=1e-3", "steps=5", "flags=[a, b]"])
        assert cfg.optim.lr == 1e-3 and cfg.steps == 5 and cfg.flags == ["a", "b"]

    def test_unknown(self):
        with pytest.raises(ConfigError, match=r"unknown config key 'optim\.momentum'"):
            apply_overrides(Config(), ["optim.momentum=0.9"])
        with pytest.raises(ConfigError, match="expected key=value"):
            apply_overrides(Config(), ["steps"])


class TestLoadYaml:
    def test_errors(self, tmp_path):
        with pytest.raises(ConfigError, match="does not exist"):
            load_yaml(tmp_path / "none.yaml")
        bad = tmp_path / "bad.yaml"
        bad.write_text("- 1\n- 2\n")
        with pytest.raises(ConfigError, match="mapping at the top level"):
            load_yaml(bad)


class TestAtomicWrite:
    def test_replaces_and_keeps_mode(self, tmp_path):
        import os
        import stat

        from core.io import atomic_open, atomic_write_text

        path = atomic_write_text(tmp_path / "a.txt", "one")
        assert path.read_text() == "one"
        mask = os.umask(0)
        os.umask(mask)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
        with pytest.raises(RuntimeError), atomic_open(path, "w") as fh:
            fh.write("half")
            raise RuntimeError("interrupted")
        assert path.read_text() == "one"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


class TestPresets:
    """core.config.load_preset: YAML presets that list only what differs."""

    @pytest.fixture
    def folders(self, tmp_path):
        main, sub = tmp_path / "main", tmp_path / "sub"
        main.mkdir()
        sub.mkdir()
        (sub / "big.yaml").write_text("steps: 50\noptim: {lr: 0.5}\n")
        (sub / "bigger.yaml").write_text("base: big\nsteps: 80\n")
        (main / "one.yaml").write_text("steps: 1\nsection: {steps: 2, layout: 3ch}\n")
        (main / "two.yaml").write_text("base: one\nname: two\n")
        (main / "three.yaml").write_text("base: one\nsection: {base: bigger, layout: 1ch}\n")
        return main, sub

    def test_names_and_base_chain(self, folders):
        from core.config import load_preset, preset_names

        main, _ = folders
        assert preset_names(main) == ["one", "three", "two"]
        assert load_preset("two", main) == {
            "steps": 1, "section": {"steps": 2, "layout": "3ch"}, "name": "two"}
        assert load_preset(main / "two.yaml", main) == load_preset("two", main)

    def test_section_base_starts_the_section_afresh(self, folders):
        from core.config import load_preset

        main, sub = folders
        data = load_preset("three", main, sections={"section": sub})
        # from bigger (on big), the file's own key on top; one's section is not kept
        assert data == {"steps": 1,
                        "section": {"steps": 80, "optim": {"lr": 0.5}, "layout": "1ch"}}

    def test_a_name_is_a_preset_whatever_the_working_folder_holds(self, folders, tmp_path,
                                                                   monkeypatch):
        from core.config import load_preset

        main, _ = folders
        monkeypatch.chdir(tmp_path)
        (tmp_path / "one").mkdir()  # a folder named like the preset
        (tmp_path / "two").write_text("steps: 99\n")  # a file named like the preset
        assert load_preset("one", main) == {"steps": 1, "section": {"steps": 2, "layout": "3ch"}}
        assert load_preset("two", main)["name"] == "two"
        with pytest.raises(ConfigError, match="is a folder"):
            load_preset(tmp_path / "one", main)

    def test_errors(self, folders):
        from core.config import load_preset

        main, sub = folders
        with pytest.raises(ConfigError, match=r"unknown thing 'four'; available: one, three"):
            load_preset("four", main, kind="thing")
        with pytest.raises(ConfigError, match=r"unknown section preset 'huge'"):
            (main / "bad.yaml").write_text("section: {base: huge}\n")
            load_preset("bad", main, sections={"section": sub})
        (main / "loop.yaml").write_text("base: loop\n")
        with pytest.raises(ConfigError, match="loops back"):
            load_preset("loop", main)
        (main / "num.yaml").write_text("base: 3\n")
        with pytest.raises(ConfigError, match="expected a preset name"):
            load_preset("num", main)


def repeated(data: dict, start: dict, where: str = "") -> list[str]:
    """The keys of ``data`` whose value is already the one in ``start``."""
    out = []
    for k, v in data.items():
        if isinstance(v, dict) and isinstance(start.get(k), dict):
            out += repeated(v, start[k], f"{where}{k}.")
        elif start.get(k) == v:
            out.append(where + k)
    return out


class TestModelPresets:
    def test_every_model_preset_loads(self):
        from core.config import preset_names
        from core.models.config import PRESET_DIR, ModelConfig, model_preset_data

        names = preset_names(PRESET_DIR)
        assert {"default", "small", "imagenet", "tiny"} <= set(names)
        default = to_dict(ModelConfig())
        for name in names:
            cfg = ModelConfig.preset(name)
            assert from_dict(ModelConfig, to_dict(cfg)) == cfg
            assert not repeated(model_preset_data(name), default), name
        assert ModelConfig.preset("default") == ModelConfig()

    def test_the_presets(self):
        from core.models.config import ModelConfig

        tiny = ModelConfig.tiny()
        assert tiny.input_size == (64, 64) and tiny.encoder.widths == (8, 16, 16)
        assert tiny.uplift.dropout == 0.0 and tiny.discriminator.num_scales == 3
        assert ModelConfig.preset("imagenet").encoder.backbone == "efficientnet_lite0"
        assert ModelConfig.preset("small").renderer.widths == (32, 64, 128)

    def test_a_yaml_file(self, tmp_path):
        from core.models.config import ModelConfig

        path = tmp_path / "mine.yaml"
        path.write_text("base: tiny\nlayout: 3ch\n")
        assert ModelConfig.preset(path) == ModelConfig.tiny(layout="3ch")
        with pytest.raises(ConfigError, match=r"unknown model preset 'huge'.*tiny"):
            ModelConfig.preset("huge")


def test_the_presets_ship_in_the_wheel():
    """Every preset file is named by the package data of its package in pyproject.toml."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = data["package-data"]
    files = sorted([*root.glob("core/models/presets/*.yaml"),
                    *root.glob("training/presets/*.yaml")])
    assert len(files) >= 8
    for path in files:
        rel = path.relative_to(root)
        shipped = False
        for package, globs in patterns.items():
            folder = Path(*package.split("."))
            if rel.is_relative_to(folder):
                inner = rel.relative_to(folder).as_posix()
                shipped |= any(fnmatch.fnmatch(inner, g) for g in globs)
        assert shipped, rel
