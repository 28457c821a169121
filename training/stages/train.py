"""Stage 2 (paper, Section 5): end-to-end, unsupervised training on unlabelled video,
from a pretrained model: the objective of :mod:`training.stages.end_to_end` (render loss,
pose prior, skeleton-image consistency, synthetic supervision at reduced weight) on the
videos given, with the ``train`` section of the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from training.config import TrainConfig
from training.stages import end_to_end
from training.stages.trainer import Progress


def train_iter(cfg: TrainConfig, videos: Sequence[str | Path], out: str | Path,
               init: str | Path | None = None, resume: bool = False,
               stop: Callable[[], bool] | None = None, stage: str = "train",
               labels: str | Path | None = None) -> Iterator[Progress]:
    """Run the end-to-end stage (``stage="refine"`` uses the refine section of the
    config), yielding :class:`Progress` after every step. The footage is checked before
    a run folder is made; a failed start removes the folder it made.

    ``labels``: a tidy CSV with frames corrected by hand (its ``edited`` points): a
    supervised term on them (``labels_keypoints_2d``) joins the objective, with
    ``labels_batch_size`` of them in every step."""
    tr, step, snapshot = end_to_end.trainer_for(cfg, videos, out, stage, init, resume, stop, labels)
    yield from tr.run_loop(step, snapshot)
