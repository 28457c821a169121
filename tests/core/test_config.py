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
