"""Choosing the compute device: ``"auto"`` takes CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from core.errors import InputError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """A torch.device from ``"auto"``/None, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Asking for a device that is not available is an error that says what is.
    """
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") \
            from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available; "
                         f"use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r} requested but MPS is not available; use cpu")
    return dev


def describe_device(device: torch.device) -> str:
    """Human-readable name: the GPU's name or "CPU (N threads)"."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'' if n == 1 else 's'})"
