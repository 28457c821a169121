"""The project's errors: one base class, so callers can catch everything we raise."""

from __future__ import annotations

from collections.abc import Sequence


class AbsPoseError(Exception):
    """Base class of every error raised on purpose by napari-abspose."""


class ShapeError(AbsPoseError, ValueError):
    """A tensor or array has the wrong shape; the message gives expected and actual."""


class InputError(AbsPoseError, ValueError):
    """An input value is invalid (NaN, out of range, unknown name, ...)."""


class SkeletonError(AbsPoseError, ValueError):
    """A skeleton definition is inconsistent; the message names the offending key."""


class CheckpointError(AbsPoseError):
    """A checkpoint cannot be used: other skeleton, layout, format version or corrupt file."""


def check_shape(name: str, shape: Sequence[int], expected: Sequence[int | str | None]) -> None:
    """Raise ShapeError unless ``shape`` matches ``expected``.

    ``expected`` entries are ints (must match), None (any size) or a letter from the
    shape glossary (any size, used in the message). Example: ``("B", 22, 2)``.
    """
    shape = tuple(shape)
    ok = len(shape) == len(expected) and all(
        not isinstance(e, int) or e == s for e, s in zip(expected, shape, strict=False)
    )
    if not ok:
        exp = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ShapeError(f"{name}: expected shape {exp}, got {shape}")


class ConfigError(AbsPoseError, ValueError):
    """A configuration is invalid: unknown key, wrong type; the message names the key."""
