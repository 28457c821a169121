"""Stage 3 (paper, Section 5): instance-specific refinement on the target footage.

The objective of :mod:`training.stages.end_to_end`, on the target video(s) only, short and with a
low learning rate, starting from a trained checkpoint; with ``labels`` (frames a person
corrected in the review dock) also a supervised term on those frames. The result is a
new checkpoint: ``<video>.refined.pt`` next to the (first) video, or ``refined.pt`` in
``--out``.

:func:`refine_iter` is what interactive front ends call: it yields a
:class:`RefineProgress` after every step (losses, a preview picture every few steps) and
stops cleanly, saving a checkpoint, when ``stop()`` returns True. No Qt in here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from core.checkpoint import default_checkpoint_path, save_checkpoint
from core.errors import InputError
from training.config import load_config
from training.stages import end_to_end
from training.stages.trainer import Progress, run_to_end


class RefineProgress(Progress):
    """A :class:`~training.stages.trainer.Progress` of the refinement; on the last item
    ``checkpoint`` is the refined model (model weights only, ready for load_model)."""


def default_output(videos: Sequence[Path]) -> tuple[Path, Path]:
    """(run folder, final checkpoint) next to the first video, never over an existing
    file: ``clip_refine/`` and ``clip.refined.pt`` (then ``clip.refined-2.pt``, ...)."""
    first = Path(videos[0])
    stem = first.stem if first.is_file() else first.name
    n = 1
    while True:
        tag = "" if n == 1 else f"-{n}"
        run = first.parent / f"{stem}_refine{tag}"
        final = first.parent / f"{stem}.refined{tag}.pt"
        if not run.exists() and not final.exists():
            return run, final
        n += 1


def refine_iter(videos: Sequence[str | Path], checkpoint: str | Path | None,
                out: str | Path | None = None, config: str = "cpu", steps: int | None = None,
                lr: float | None = None, device: str = "auto",
                stop: Callable[[], bool] | None = None, overrides: Sequence[str] = (),
                resume: bool = False, labels: str | Path | None = None
                ) -> Iterator[RefineProgress]:
    """Refine ``checkpoint`` (None: the shipped default) on ``videos``.

    Args:
        videos: video files, image-sequence folders or folders of them (one subject).
        checkpoint: the trained model to start from.
        out: run folder (default: ``<video>_refine/`` next to the first video).
        config: preset name or YAML file; ``steps`` and ``lr`` override its refine section.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        stop: polled after every step; True saves a checkpoint and ends.
        overrides: ``key=value`` config overrides.
        resume: continue the run in ``out``.
        labels: a tidy CSV with frames corrected by hand (the review dock's save): a
            supervised term on their corrected points joins the unsupervised objective.
    """
    videos = [Path(v) for v in videos]
    if not videos:
        raise InputError("refine needs at least one video of the subject")
    for v in videos:
        if not v.exists():
            raise InputError(f"{v} does not exist")
    if checkpoint is None:
        checkpoint = default_checkpoint_path()
        if not checkpoint.is_file():
            raise InputError("no default model is installed; pass --from CHECKPOINT")
    if resume and out is not None and (Path(out) / "config.yaml").exists():
        config = Path(out) / "config.yaml"  # a resumed run keeps its own configuration
    cfg = load_config(config, list(overrides))
    cfg.device = device
    r = cfg.refine
    cfg.refine = replace(r, steps=steps if steps is not None else r.steps,
                         lr_g=lr if lr is not None else r.lr_g,
                         lr_d=lr if lr is not None else r.lr_d)
    if out is None:
        if resume:
            raise InputError("resuming a refinement needs --out, the run folder to continue")
        run, final = default_output(videos)
    else:
        run = Path(out)
        final = run / "refined.pt"
    tr, step, snapshot = end_to_end.trainer_for(cfg, videos, run, "refine",
                                                None if resume else checkpoint, resume, stop,
                                                labels)
    for p in tr.run_loop(step, snapshot):
        if p.checkpoint is not None:  # the refined model alone (no optimizer state)
            save_checkpoint(final, tr.model, {"refined_from_steps": tr.step})
            p = replace(p, checkpoint=final)
        yield RefineProgress(**p.__dict__)


def refine(videos: Sequence[str | Path], checkpoint: str | Path | None, progress: bool = True,
           **kwargs) -> Path:
    """Run :func:`refine_iter` to the end with a progress bar; returns the checkpoint."""
    last = run_to_end(refine_iter(videos, checkpoint, **kwargs), "refine", progress)
    return last.checkpoint
