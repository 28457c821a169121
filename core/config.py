"""Typed configuration: dataclasses filled from plain dicts / YAML, unknown keys are errors.

    @dataclass
    class Optim:
        lr: float = 1e-4
        betas: tuple[float, float] = (0.5, 0.999)

    @dataclass
    class Config:
        steps: int = 1000
        optim: Optim = field(default_factory=Optim)

    cfg = from_dict(Config, {"steps": 10, "optim": {"lr": 3e-4}})
    cfg = apply_overrides(cfg, ["optim.lr=1e-3", "steps=5"])   # command-line overrides
    to_dict(cfg)  # plain data, for YAML and checkpoints

    # a preset: a YAML file (FOLDER/NAME.yaml, or any path) listing only what differs
    # from the defaults or from the preset it names as ``base:``
    cfg = from_dict(Config, load_preset("fast", FOLDER))
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from core.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; missing keys keep their defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"allowed here: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _convert(hints[name], value, key)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in
                         enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        out = [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp is Path:
        return Path(value)
    return value


def to_dict(obj: Any) -> Any:
    """Plain data (dicts, lists, numbers, strings) from a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def apply_overrides(cfg: T, overrides: list[str] | tuple[str, ...]) -> T:
    """Apply ``key.sub=value`` strings (values parsed as YAML) and re-validate."""
    import yaml

    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optim.lr=1e-4")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"override {item!r}: unknown config key {key!r}")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ConfigError(f"override {item!r}: unknown config key {key!r}")
        value = yaml.safe_load(raw)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        node[parts[-1]] = value
    return from_dict(type(cfg), data)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, mappings merged key by key (neither is changed)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def preset_names(folder: str | Path) -> list[str]:
    """The presets in ``folder``: the stems of its ``*.yaml`` files, sorted."""
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def load_preset(source: str | Path, folder: str | Path, kind: str = "preset",
                sections: dict[str, str | Path] | None = None,
                seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The settings of a preset (``folder/NAME.yaml``) or of a YAML file, as plain data.

    A preset lists only what differs from the defaults, or from the preset (or file) it
    names as ``base:``, whose settings come first. ``sections`` names mappings whose own
    ``base:`` is a preset of another folder (``{"model": core.models.config.PRESET_DIR}``):
    such a section starts from that preset instead of the section the file's ``base``
    gives. A bare name is a preset even when the working folder holds a file or folder
    of that name.
    ``kind`` names the presets in errors (``"model preset"``).
    """
    folder = Path(folder)
    path = Path(source)
    bare = not path.suffix and path.name == str(source)  # a name, not a path
    if bare and (folder / f"{source}.yaml").is_file():
        path = folder / f"{source}.yaml"  # a preset, whatever the working folder holds
    elif path.is_dir():
        raise ConfigError(f"{path} is a folder; give a {kind} name or a YAML file")
    elif not path.suffix and not path.exists():
        raise ConfigError(f"unknown {kind} {str(source)!r}; available: "
                          f"{', '.join(preset_names(folder))}, or give a YAML file")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    seen = (*seen, path.resolve())
    data = load_yaml(path)
    base = data.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise ConfigError(f"{path}: base: expected a preset name or a YAML path, got {base!r}")
    replaced = []
    for name, section_folder in (sections or {}).items():
        section = data.get(name)
        if isinstance(section, dict) and "base" in section:
            section = dict(section)
            name_or_path = section.pop("base")
            if not isinstance(name_or_path, str):
                raise ConfigError(f"{path}: {name}.base: expected a preset name or a YAML "
                                  f"path, got {name_or_path!r}")
            start = load_preset(name_or_path, section_folder,
                                kind=f"{name} preset", seen=seen)
            data[name] = merge(start, section)
            replaced.append(name)
    if base is None:
        return data
    inherited = load_preset(base, folder, kind, sections, seen)
    for name in replaced:
        inherited.pop(name, None)
    return merge(inherited, data)
