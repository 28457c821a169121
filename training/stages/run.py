"""A run on disk and its safety nets: the run folder (configuration, statistics,
snapshots, checkpoints), exact RNG state for resuming, clean Ctrl-C, and the divergence
guard. The loop that uses them is :meth:`training.stages.trainer.Trainer.run_loop`.

A run folder holds::

    config.yaml      the resolved configuration of the run
    stats.jsonl      one JSON object per logged step
    snapshots/       image grids of progress (step_000100.png, ...)
    last.pt          the latest checkpoint (atomic; resume continues from it)
    step_000500.pt   periodic checkpoints
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from core.errors import AbsPoseError, InputError
from core.io import atomic_write_text, write_png

log = logging.getLogger(__name__)


class TrainingDiverged(AbsPoseError):
    """Training kept producing non-finite or exploding losses."""


# -- run folder -------------------------------------------------------------------------
class RunDir:
    """The folder of one training run.

    Args:
        path: the folder (created if needed).
        resume: continue a run that is there; without it, a folder that already holds a
            run is an error (nothing is overwritten).
    """

    def __init__(self, path: str | Path, resume: bool = False):
        self.path = Path(path)
        if not resume and self.last_checkpoint.exists():
            raise InputError(
                f"{self.path} already holds a training run; continue it with "
                f"--resume {self.path} or choose another --out"
            )
        if resume and not self.last_checkpoint.exists():
            raise InputError(f"cannot resume: {self.last_checkpoint} does not exist")
        self.created = not self.path.exists()
        self.snapshots.mkdir(parents=True, exist_ok=True)

    def discard_if_unused(self) -> None:
        """After a failed start: remove the folder if this run made it and it holds no
        checkpoint yet (nothing of the user's is touched)."""
        if self.created and self.path.is_dir() and not any(self.path.glob("*.pt")):
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def stats_path(self) -> Path:
        return self.path / "stats.jsonl"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "last.pt"

    def checkpoint_path(self, step: int) -> Path:
        return self.path / f"step_{step:06d}.pt"

    def write_config(self, config: dict[str, Any]) -> Path:
        return atomic_write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def log_stats(self, step: int, values: dict[str, float]) -> None:
        """Append one line to stats.jsonl (flushed at once, so a crash loses nothing)."""
        row = {"step": int(step), **{k: _to_float(v) for k, v in values.items()}}
        with open(self.stats_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")

    def read_stats(self) -> list[dict[str, float]]:
        if not self.stats_path.exists():
            return []
        return [json.loads(line) for line in self.stats_path.read_text().splitlines() if line]

    def truncate_stats(self, step: int) -> None:
        """Drop rows after ``step`` (used when resuming from a checkpoint at ``step``)."""
        rows = [r for r in self.read_stats() if r["step"] <= step]
        atomic_write_text(self.stats_path, "".join(json.dumps(r) + "\n" for r in rows))

    def save_snapshot(self, step: int, grid: np.ndarray) -> Path:
        """Write an (H, W, 3) uint8 RGB grid as snapshots/step_NNNNNN.png."""
        return write_png(self.snapshots / f"step_{step:06d}.png", grid)


def _to_float(v: Any) -> float:
    if isinstance(v, torch.Tensor):
        v = v.detach().float().item()
    return float(v)


# -- RNG state -------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global RNG others may use)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """Every RNG the training touches, as tensors and plain data (loadable with
    ``weights_only=True``)."""
    np_state = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": np_state[2],
                  "has_gauss": np_state[3], "cached_gaussian": np_state[4]},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_tuples(state["python"]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        ("MT19937", keys, int(n["pos"]), int(n["has_gauss"]), float(n["cached_gaussian"])))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list | tuple) else x


# -- Ctrl-C ----------------------------------------------------------------------------
class GracefulInterrupt:
    """Within this context a first Ctrl-C (SIGINT) only sets :attr:`requested`, so the
    loop can save a checkpoint and stop at the end of the step; a second one interrupts
    at once. Outside the main thread it does nothing (the caller uses its own stop flag).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt received: saving a checkpoint after this step "
                    "(press Ctrl-C again to stop at once)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# -- divergence ------------------------------------------------------------------------
@dataclass
class DivergenceGuard:
    """Spots non-finite or exploding losses in GAN training.

    ``check(loss)`` returns ``"ok"``, ``"skip"`` (do not apply this step's update) or
    ``"rollback"`` (restore the last good state: too many skips in a row). After
    ``max_rollbacks`` rollbacks :class:`TrainingDiverged` is raised with a message that
    says what to try. A loss "explodes" when it exceeds ``factor`` times its running
    average (after ``warmup`` steps).
    """

    factor: float = 25.0
    warmup: int = 20
    max_consecutive_skips: int = 5
    max_rollbacks: int = 3
    momentum: float = 0.98

    def __post_init__(self) -> None:
        self.average: float | None = None
        self.seen = 0
        self.consecutive = 0
        self.rollbacks = 0
        self.skipped = 0

    def check(self, loss: float | torch.Tensor) -> str:
        value = _to_float(loss)
        bad = not math.isfinite(value)
        if not bad and self.average is not None and self.seen >= self.warmup:
            bad = value > self.factor * max(self.average, 1e-8)
        if not bad:
            self.consecutive = 0
            self.seen += 1
            self.average = value if self.average is None else (
                self.momentum * self.average + (1 - self.momentum) * value)
            return "ok"
        self.skipped += 1
        self.consecutive += 1
        if self.consecutive < self.max_consecutive_skips:
            log.warning("step skipped: loss %s (running average %s)", value, self.average)
            return "skip"
        self.rollbacks += 1
        self.consecutive = 0
        if self.rollbacks > self.max_rollbacks:
            raise TrainingDiverged(
                f"training diverged: the loss was non-finite or exploded {self.skipped} "
                f"times and {self.max_rollbacks} rollbacks to the last good state did not "
                "help; lower the learning rate (e.g. optim.lr_g=...) or the adversarial "
                "weights, or start from a pretrained checkpoint"
            )
        log.warning("rolling back to the last good state (%d of at most %d)", self.rollbacks,
                    self.max_rollbacks)
        return "rollback"

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average, "seen": self.seen, "consecutive": self.consecutive,
                "rollbacks": self.rollbacks, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
