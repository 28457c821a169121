"""Checkpoints: plain dicts of state dicts that carry their own architecture.

A checkpoint holds::

    format_version   int, FORMAT_VERSION of the writer
    config           the resolved ModelConfig as plain data (to_dict)
    skeleton         the skeleton as data (Skeleton.to_dict()), so a model trained on a
                     custom YAML skeleton loads anywhere
    layout           channel layout, e.g. "5ch"
    input_size       [H, W]
    weights_dtype    "float32" or "float16" (how the model weights are stored)
    model            the AbsPoseModel state dict
    ...              anything the training adds through ``extra`` (discriminators,
                     optimizers, step counters)

Written atomically (temporary file + rename, core/io.py), read with
``torch.load(weights_only=True)``: no pickled code, ever.
"""

from __future__ import annotations

import importlib.resources
import io
import logging
from pathlib import Path
from typing import Any

import torch

from core.config import from_dict, to_dict
from core.errors import AbsPoseError, CheckpointError
from core.io import atomic_write_bytes
from core.skeleton import BUILTIN_SKELETONS, Skeleton, load_skeleton

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = "default_human_5ch.pt"
RESERVED_KEYS = ("format_version", "config", "skeleton", "layout", "input_size",
                 "weights_dtype", "model")


def sample_data_dir() -> Path:
    """The folder of the shipped sample data (the default model, its model card, the
    sample clip): the installed ``sample_data`` package (a wheel carries its files), else
    ``<repository root>/sample_data`` of a clone used without installing it."""
    try:
        return Path(str(importlib.resources.files("sample_data")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "sample_data"


def default_checkpoint_path() -> Path:
    """Where the shipped default model lives: in :func:`sample_data_dir`."""
    return sample_data_dir() / DEFAULT_CHECKPOINT


def checkpoint_dict(model: Any, extra: dict[str, Any] | None = None, *,
                    half: bool = False) -> dict[str, Any]:
    """The checkpoint of ``model`` (an AbsPoseModel) as a dict, see the module docstring.

    half: store the model's floating-point weights as float16 (half the file size; they
    are read back as float32). Exact round trips need the default, float32.

    The weights are stored on the CPU in the standard memory layout, whatever device and
    layout (channels_last) the model trains in, so the file reads anywhere.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    ckpt = {
        "format_version": FORMAT_VERSION,
        "config": to_dict(model.config),
        "skeleton": model.skeleton.to_dict(),
        "layout": model.layout,
        "input_size": list(model.input_size),
        "weights_dtype": "float16" if half else "float32",
        "model": state,
    }
    clash = sorted(set(extra or {}) & set(RESERVED_KEYS))
    if clash:
        raise CheckpointError(f"extra checkpoint entries may not use the reserved key(s) {clash}")
    ckpt.update(extra or {})
    return ckpt


def save_checkpoint(path: str | Path, model: Any, extra: dict[str, Any] | None = None, *,
                    half: bool = False) -> Path:
    """Write ``model`` (and ``extra``: discriminator / optimizer state dicts, counters)
    atomically to ``path``: an interrupted save never corrupts an existing file."""
    buffer = io.BytesIO()
    torch.save(checkpoint_dict(model, extra, half=half), buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint dict (tensors on the CPU) and check its format version."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; give the .pt file (a run "
                              "folder's model is its last.pt)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many kinds for corrupt or foreign files
        # torch's own message advises loading with weights_only=False, which runs any
        # code the file carries: never pass that on for a file that is not ours.
        raise CheckpointError(
            f"cannot read checkpoint {path}: it is not a napari-abspose checkpoint, or the "
            "file is corrupt or cut short"
        ) from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt or "model" not in ckpt:
        raise CheckpointError(
            f"{path} is not a napari-abspose checkpoint (no format_version / model entries)"
        )
    version = ckpt["format_version"]
    if version != FORMAT_VERSION:
        hint = ("it was written by a newer napari-abspose: upgrade napari-abspose"
                if isinstance(version, int) and version > FORMAT_VERSION else
                "it was written by an older napari-abspose: retrain, or load it with the "
                "version that wrote it")
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, this napari-abspose reads "
            f"version {FORMAT_VERSION}; {hint}"
        )
    return ckpt


def check_compatible(ckpt: dict[str, Any], skeleton: str | Path | dict | Skeleton | None = None,
                     layout: str | None = None, where: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` unless the checkpoint is for this skeleton and layout
    (None: anything goes)."""
    stored = Skeleton.from_dict(ckpt["skeleton"])
    if skeleton is not None:
        wanted = load_skeleton(skeleton)
        if wanted != stored:
            same_name = " (a different definition with the same name)" \
                if wanted.name == stored.name else ""
            raise CheckpointError(
                f"{where} was trained for the skeleton {stored.name!r} "
                f"({stored.num_keypoints} keypoints), not {wanted.name!r} "
                f"({wanted.num_keypoints} keypoints){same_name}; use a checkpoint trained "
                f"for {wanted.name!r}, or pretrain one with that skeleton"
            )
    if layout is not None and layout != ckpt["layout"]:
        raise CheckpointError(
            f"{where} uses the channel layout {ckpt['layout']!r}, not {layout!r}; use a "
            f"checkpoint trained with {layout!r}, or use layout {ckpt['layout']!r}"
        )


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device | None = None,
                          where: str = "checkpoint") -> Any:
    """Build the AbsPoseModel a checkpoint describes and load its weights (eval mode)."""
    from core.models import AbsPoseModel, ModelConfig

    try:
        config = from_dict(ModelConfig, ckpt["config"])
    except AbsPoseError as err:
        raise CheckpointError(f"{where}: its model config cannot be read: {err}") from None
    name = config.skeleton
    builtin = BUILTIN_SKELETONS.get(name.lower()) if isinstance(name, str) else None
    if builtin is None or builtin.to_dict() != ckpt["skeleton"]:
        # the checkpoint's own skeleton: a YAML path may not exist here, a built-in may
        # have changed since
        config.skeleton = ckpt["skeleton"]
    model = AbsPoseModel(config)
    load_state(model, ckpt, where=where)
    return model.to(device).eval() if device is not None else model.eval()


def load_state(model: Any, ckpt: dict[str, Any], where: str = "checkpoint") -> None:
    """Load a checkpoint's weights into an existing model of the same skeleton, layout,
    input size and architecture; raises :class:`CheckpointError` saying what differs."""
    check_compatible(ckpt, model.skeleton, model.layout, where)
    if list(ckpt["input_size"]) != list(model.input_size):
        raise CheckpointError(
            f"{where} is for {tuple(ckpt['input_size'])} images, the model takes "
            f"{tuple(model.input_size)}; build the model with "
            f"input_size={tuple(ckpt['input_size'])}"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and own[k].shape != state[k].shape]
    problems = [f"{len(keys)} {kind} (e.g. {keys[0]})" for kind, keys in
                (("missing", missing), ("unexpected", unexpected),
                 ("differently shaped", resized)) if keys]
    if problems:
        raise CheckpointError(
            f"{where} does not match the model's architecture: {', '.join(problems)} "
            "weights; build the model from the checkpoint's own config (load_model)"
        )
    model.load_state_dict(state)


def load_model(path: str | Path | None = None, device: str | torch.device | None = None, *,
               skeleton: str | Path | dict | Skeleton | None = None,
               layout: str | None = None) -> Any:
    """An AbsPoseModel in eval mode from a checkpoint file.

    Args:
        path: a checkpoint written by :func:`save_checkpoint`; None for the shipped
            default model (``sample_data/default_human_5ch.pt``).
        device: where to put it (default: the CPU).
        skeleton, layout: when given, the checkpoint must be for this skeleton / layout.
    """
    if path is None:
        path = default_checkpoint_path()
        if not path.is_file():
            raise CheckpointError(
                f"no default model is installed (looked for {path}); pass the path of a "
                "checkpoint, e.g. one written by `abspose train` or `abspose pretrain`"
            )
    ckpt = load_checkpoint(path)
    where = f"checkpoint {path}"
    check_compatible(ckpt, skeleton, layout, where)
    model = model_from_checkpoint(ckpt, device, where)
    log.info("loaded %s (%s, %s, %dx%d)", path, model.skeleton.name, model.layout,
             *model.input_size)
    return model
