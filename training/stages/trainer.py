"""The trainer the three stages share: the model, discriminators and optimizers (fresh,
from a checkpoint, or resumed exactly), the GAN updates behind the divergence guard, and
the loop (:meth:`Trainer.run_loop`: logging, snapshots, checkpoints, Ctrl-C), on a run
folder of :mod:`training.stages.run`.

A stage supplies a ``step(trainer) -> dict[str, float]`` that computes its losses and
calls :meth:`Trainer.update` for the generator and the discriminators, and a
``snapshot(trainer) -> (H, W, 3) uint8`` picture of progress.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from core.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from core.config import to_dict
from core.device import describe_device, resolve_device
from core.io import atomic_write_bytes
from core.models import AbsPoseModel, build_discriminators
from training.config import TrainConfig
from training.losses import lsgan_discriminator_loss
from training.stages.distributed import average_across_ranks, barrier, init_distributed
from training.stages.run import (
    DivergenceGuard,
    GracefulInterrupt,
    RunDir,
    capture_rng_state,
    restore_rng_state,
    seed_everything,
)

log = logging.getLogger("abspose.train")


@dataclass
class Progress:
    """What a stage reports after each step.

    step, total: steps done and planned. losses: the latest loss values. rate: steps/s.
    preview: (H, W, 3) uint8 snapshot when one was made this step, else None.
    checkpoint: the checkpoint written at the end (None before).
    """

    step: int
    total: int
    losses: dict[str, float]
    rate: float = 0.0
    preview: np.ndarray | None = None
    checkpoint: Path | None = None


def freeze_batchnorm(*modules: nn.Module) -> None:
    """Put the batch-norm layers of ``modules`` in eval mode: they normalize with their
    running statistics and no longer update them (their scale and shift still train)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


class Trainer:
    """Model, discriminators, optimizers, run folder and loop state of one stage.

    Args:
        cfg: the resolved training configuration.
        stage: ``"pretrain"``, ``"train"`` or ``"refine"`` (selects ``cfg.<stage>``).
        out: the run folder.
        init: a checkpoint to start from (its architecture wins over ``cfg.model``:
            :attr:`cfg` is then a copy of ``cfg`` with the checkpoint's model).
        resume: continue the run in ``out`` exactly where it stopped.
        stop: optional callable; when it returns True the loop saves and stops.
    """

    def __init__(self, cfg: TrainConfig, stage: str, out: str | Path,
                 init: str | Path | None = None, resume: bool = False,
                 stop: Callable[[], bool] | None = None):
        self.cfg = cfg
        self.stage = stage
        self.scfg = getattr(cfg, stage)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.dist, self.device = init_distributed(resolve_device(cfg.device))
        seed_everything(cfg.seed + 1000 * self.dist.rank)
        self.out = Path(out)
        self.run = RunDir(self.out, resume) if self.dist.is_main else None
        self.stop = stop
        self.step = 0
        self.streams: dict[str, Any] = {}

        with self.starting():
            self._build(cfg, stage, init, resume)

    def _build(self, cfg: TrainConfig, stage: str, init: str | Path | None,
               resume: bool) -> None:
        ckpt = load_checkpoint(self.out / "last.pt") if resume else (
            load_checkpoint(init) if init is not None else None)
        if ckpt is not None:
            model = model_from_checkpoint(ckpt, where=str(self.out / "last.pt" if resume
                                                          else init))
            # the checkpoint's architecture wins; the caller's configuration is left as is
            self.cfg = dataclasses.replace(cfg, model=model.config)
        else:
            model = AbsPoseModel(cfg.model)
            if model.config.encoder.backbone != "unet":
                model.load_pretrained()
                log.info("%s: the encoder starts from ImageNet features (%s)", stage,
                         model.config.encoder.backbone)
        self.model = model.to(self.device).train()
        # Frozen statistics need statistics worth keeping: a run from random weights
        # (no --from) trains with batch statistics, and a resumed run does as it did.
        if resume and ckpt is not None and "batchnorm_frozen" in ckpt:
            self.batchnorm_frozen = bool(ckpt["batchnorm_frozen"])
        else:
            self.batchnorm_frozen = self.scfg.freeze_batchnorm and ckpt is not None
            if self.scfg.freeze_batchnorm and ckpt is None:
                log.info("%s from random weights: batch norm uses batch statistics "
                         "(freeze_batchnorm needs a pretrained model)", stage)
        if self.batchnorm_frozen:
            freeze_batchnorm(self.model.encoder, self.model.keypoint_head, self.model.uplift)
        if self.scfg.freeze_renderer:
            # no gradient reaches its weights (Adam skips them); the gradient still flows
            # through it to the skeleton image and on to the pose path
            self.model.renderer.requires_grad_(False)
            log.info("%s: renderer frozen (freeze_renderer), only the pose path trains", stage)
        self.discriminators = nn.ModuleDict(build_discriminators(self.model.config)).to(
            self.device)
        if ckpt is not None and "discriminators" in ckpt:
            self.discriminators.load_state_dict(ckpt["discriminators"])
        if self.device.type == "cuda" and cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.discriminators.to(memory_format=torch.channels_last)
        s = self.scfg
        self.opt_g = torch.optim.Adam(self.model.parameters(), s.lr_g, betas=s.betas)
        self.opt_d = torch.optim.Adam(self.discriminators.parameters(), s.lr_d, betas=s.betas)
        self.guard = DivergenceGuard()
        self._resume_state = ckpt if resume else None
        self._good: dict[str, Any] | None = None
        self.amp = self.device.type == "cuda" and cfg.amp

    @contextlib.contextmanager
    def starting(self):
        """Around everything a stage sets up before its first step: a failed start
        removes the run folder it made (see :meth:`RunDir.discard_if_unused`)."""
        try:
            yield
        except BaseException:
            if self.run is not None:
                self.run.discard_if_unused()
            raise

    # -- building blocks -------------------------------------------------------------
    def wrap(self, module: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """DistributedDataParallel around ``module`` when running under torchrun."""
        if not self.dist.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False,
                                       find_unused_parameters=find_unused_parameters)

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
               params: Iterator[nn.Parameter]) -> bool:
        """Backward and step, unless the guard rejects the loss. Returns whether applied.

        Rejected losses skip the step; repeated ones roll back to the last good state."""
        verdict = self.guard.check(self._all_ranks_loss(loss))
        optimizer.zero_grad(set_to_none=True)
        if verdict == "rollback":
            self._rollback()
        if verdict != "ok":
            return False
        loss.backward()
        if self.scfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(list(params), self.scfg.grad_clip)
        optimizer.step()
        return True

    def discriminator_step(self, disc: nn.Module, real: torch.Tensor,
                           fake: torch.Tensor) -> torch.Tensor:
        """LSGAN discriminator loss from ONE forward pass on real and fake together
        (fake detached), as DistributedDataParallel needs."""
        n = real.shape[0]
        outs = disc(torch.cat([real.detach(), fake.detach()]))
        real_out = [[t[:n] for t in scale] for scale in outs]
        fake_out = [[t[n:] for t in scale] for scale in outs]
        return lsgan_discriminator_loss(real_out, fake_out)

    def _all_ranks_loss(self, loss: torch.Tensor) -> float:
        value = loss.detach().float()
        if self.dist.enabled:  # every rank must take the same decision
            value = value.clone()
            torch.distributed.all_reduce(value)
        return float(value)

    # -- state ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "step": self.step,
            "batchnorm_frozen": self.batchnorm_frozen,
            "train_config": to_dict(self.cfg),
            "discriminators": self.discriminators.state_dict(),
            "optimizers": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()},
            "rng": capture_rng_state(),
            "guard": self.guard.state_dict(),
            "streams": {k: s.state_dict() for k, s in self.streams.items()},
        }

    def save(self, path: Path | None = None) -> Path | None:
        """Write last.pt (and ``path`` when given) on the main process."""
        barrier(self.dist)
        if not self.dist.is_main:
            return None
        extra = self.state()
        last = save_checkpoint(self.run.last_checkpoint, self.model, extra)
        if path is not None:  # the same bytes, not a second serialisation
            atomic_write_bytes(path, last.read_bytes())
        return last

    def restore(self) -> None:
        """After the stage created its streams: load the resumed run's state, if any."""
        st = self._resume_state
        if st is None:
            self._keep_good()
            return
        if st.get("stage") != self.stage:
            log.warning("resuming a %s checkpoint with the %s stage", st.get("stage"), self.stage)
        self.step = int(st["step"])
        self.opt_g.load_state_dict(st["optimizers"]["g"])
        self.opt_d.load_state_dict(st["optimizers"]["d"])
        self.guard.load_state_dict(st["guard"])
        for k, s in self.streams.items():
            if k in st.get("streams", {}):
                s.load_state_dict(st["streams"][k])
        restore_rng_state(st["rng"])
        if self.run is not None:
            self.run.truncate_stats(self.step)
        self._resume_state = None
        self._keep_good()
        log.info("resumed %s at step %d", self.out, self.step)

    def _keep_good(self) -> None:
        self._good = copy.deepcopy({
            "model": self.model.state_dict(), "d": self.discriminators.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()})

    def _rollback(self) -> None:
        good = self._good
        self.model.load_state_dict(good["model"])
        self.discriminators.load_state_dict(good["d"])
        self.opt_g.load_state_dict(good["opt_g"])
        self.opt_d.load_state_dict(good["opt_d"])

    # -- the loop ---------------------------------------------------------------------
    def learning_rate_scale(self, total: int) -> float:
        """The factor on both learning rates at the current step (``lr_final_*``)."""
        s = self.scfg
        tail = round(s.lr_final_fraction * total)
        return s.lr_final_factor if tail > 0 and self.step >= total - tail else 1.0

    def set_learning_rates(self, total: int) -> None:
        scale = self.learning_rate_scale(total)
        if self.dist.is_main and self.opt_g.param_groups[0]["lr"] != self.scfg.lr_g * scale:
            log.info("%s: step %d, learning rates x%g", self.stage, self.step + 1, scale)
        for opt, lr in ((self.opt_g, self.scfg.lr_g), (self.opt_d, self.scfg.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def run_loop(self, step_fn: Callable[[Trainer], dict[str, float]],
                 snapshot_fn: Callable[[Trainer], np.ndarray] | None = None
                 ) -> Iterator[Progress]:
        """Run the stage to ``steps``, yielding :class:`Progress` after every step; the
        last item carries the checkpoint. Ctrl-C or ``stop()`` saves and ends early."""
        s = self.scfg
        total = s.steps
        if self.run is not None and not self.run.config_path.exists():
            self.run.write_config(to_dict(self.cfg))
        if self.dist.is_main:
            log.info("%s: %d steps on %s, run folder %s", self.stage, total,
                     describe_device(self.device), self.out)
        window: dict[str, list[float]] = {}
        t0, done0 = time.perf_counter(), self.step
        with GracefulInterrupt() as interrupt:
            while self.step < total:
                self.set_learning_rates(total)
                losses = step_fn(self)
                self.step += 1
                for k, v in losses.items():
                    window.setdefault(k, []).append(float(v))
                rate = (self.step - done0) / max(time.perf_counter() - t0, 1e-9)
                preview = None
                if self.step % s.log_every == 0 or self.step == total:
                    means = average_across_ranks(
                        {k: float(np.mean(v)) for k, v in window.items()}, self.dist,
                        self.device)
                    window.clear()
                    if self.run is not None:
                        self.run.log_stats(self.step, {**means, "steps_per_s": rate})
                        log.info("%s %d/%d %s %.2f steps/s", self.stage, self.step, total,
                                 " ".join(f"{k}={v:.4g}" for k, v in means.items()), rate)
                if snapshot_fn is not None and self.dist.is_main and (
                        self.step % s.snapshot_every == 0 or self.step == total):
                    preview = snapshot_fn(self)
                    if preview is not None:
                        self.run.save_snapshot(self.step, preview)
                stopping = interrupt.requested or (self.stop is not None and self.stop())
                if self.step % s.checkpoint_every == 0 and not stopping:
                    self.save(self.run.checkpoint_path(self.step) if self.run else None)
                    self._keep_good()
                if stopping:
                    break
                yield Progress(self.step, total, dict(losses), rate, preview)
            last = self.save()
        if self.dist.is_main:
            log.info("%s: stopped at step %d of %d; checkpoint %s", self.stage, self.step,
                     total, last)
        yield Progress(self.step, total, {}, 0.0, None, last)


def run_to_end(progress: Iterator[Progress], desc: str, enabled: bool = True) -> Progress:
    """Consume a stage's progress with a tqdm bar showing the main losses and steps/s."""
    last = None
    bar = None
    for p in progress:
        if bar is None:
            bar = tqdm(total=p.total, initial=p.step - 1, desc=desc, unit="step",
                       disable=not enabled, dynamic_ncols=True)
        bar.n = p.step
        if p.losses:
            main = dict(list(p.losses.items())[:4])
            bar.set_postfix({k: f"{v:.3g}" for k, v in main.items()}, refresh=False)
        bar.refresh()
        last = p
    if bar is not None:
        bar.close()
    return last
