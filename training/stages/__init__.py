"""The three training stages (paper, Section 5) and the machinery they share.

A stage is a generator of :class:`Progress`: it builds a :class:`Trainer` on a run
folder, adds its data streams, and hands the trainer a ``step(trainer) -> losses`` and a
``snapshot(trainer) -> picture``; :meth:`Trainer.run_loop` runs the steps, logs,
snapshots, checkpoints, resumes exactly and stops cleanly on Ctrl-C. From the bottom up:

* ``run.py``: the run folder, RNG state, Ctrl-C and the divergence guard;
  ``distributed.py``: DDP under torchrun; ``snapshots.py``: progress pictures;
* ``trainer.py``: :class:`Trainer` (model, discriminators, optimizers, GAN updates, the
  loop), :class:`Progress`, :func:`run_to_end` (a progress bar to the end);
* ``supervision.py``: the synthetic samples and the targets of the supervised losses;
* the stages, each a short file that says what it optimizes: ``pretrain.py`` (stage 1,
  each component on synthetic data), ``end_to_end.py`` (the end-to-end objective on
  unlabelled video), ``train.py`` (stage 2: that objective on many videos) and
  ``refine.py`` (stage 3: that objective on the target footage, with the frames a person
  corrected).
"""

from training.stages.pretrain import pretrain_iter
from training.stages.refine import refine, refine_iter
from training.stages.train import train_iter
from training.stages.trainer import Progress, Trainer, run_to_end

__all__ = ["Progress", "Trainer", "pretrain_iter", "refine", "refine_iter", "run_to_end",
           "train_iter"]
