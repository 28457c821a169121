import json
import math
import os
import random
import signal

import numpy as np
import pytest
import torch

from core.device import describe_device, resolve_device
from core.errors import InputError
from training.stages.run import (
    DivergenceGuard,
    GracefulInterrupt,
    RunDir,
    TrainingDiverged,
    capture_rng_state,
    restore_rng_state,
    seed_everything,
)


class TestRunDir:
    def test_layout_and_stats(self, tmp_path):
        run = RunDir(tmp_path / "run")
        run.write_config({"steps": 3, "optim": {"lr": 1e-4}})
        run.log_stats(1, {"loss": torch.tensor(0.5), "lr": 1e-4})
        run.log_stats(2, {"loss": 0.25})
        assert run.read_stats() == [{"step": 1, "loss": 0.5, "lr": 1e-4},
                                    {"step": 2, "loss": 0.25}]
        run.truncate_stats(1)
        assert [r["step"] for r in run.read_stats()] == [1]
        path = run.save_snapshot(7, np.zeros((8, 12, 3), np.uint8))
        assert path.name == "step_000007.png" and path.stat().st_size > 0
        assert "lr: 0.0001" in run.config_path.read_text()
        assert json.loads(run.stats_path.read_text().splitlines()[0])["step"] == 1

    def test_never_overwrites_a_run(self, tmp_path):
        run = RunDir(tmp_path)
        run.last_checkpoint.write_bytes(b"x")
        with pytest.raises(InputError, match=r"already holds a training run.*--resume"):
            RunDir(tmp_path)
        assert RunDir(tmp_path, resume=True).path == tmp_path

    def test_resume_needs_a_run(self, tmp_path):
        with pytest.raises(InputError, match="cannot resume"):
            RunDir(tmp_path / "empty", resume=True)


class TestRngState:
    def test_round_trip_through_weights_only_load(self, tmp_path):
        seed_everything(3)
        state = capture_rng_state()
        torch.save(state, tmp_path / "rng.pt")
        expected = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
        restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
        again = (random.random(), np.random.rand(), torch.rand(2))  # noqa: NPY002
        assert expected[0] == again[0] and expected[1] == again[1]
        assert torch.equal(expected[2], again[2])


class TestDivergenceGuard:
    def test_ok_skip_rollback_raise(self):
        g = DivergenceGuard(warmup=3, max_consecutive_skips=2, max_rollbacks=1)
        assert [g.check(1.0) for _ in range(5)] == ["ok"] * 5
        assert g.check(float("nan")) == "skip"
        assert g.check(float("inf")) == "rollback"
        assert g.check(1.1) == "ok"
        assert g.check(1000.0) == "skip"  # exploding: > 25x the running average
        with pytest.raises(TrainingDiverged, match="lower the learning rate"):
            g.check(math.nan)

    def test_state_round_trip(self):
        g = DivergenceGuard()
        g.check(2.0)
        h = DivergenceGuard()
        h.load_state_dict(g.state_dict())
        assert h.average == 2.0 and h.seen == 1


class TestGracefulInterrupt:
    def test_first_sigint_sets_flag(self):
        with GracefulInterrupt() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class TestResolveDevice:
    def test_auto_and_cpu(self):
        assert resolve_device("cpu").type == "cpu"
        assert resolve_device("auto").type in ("cpu", "cuda", "mps")
        assert "CPU" in describe_device(torch.device("cpu"))

    def test_errors(self):
        with pytest.raises(InputError, match="unknown device"):
            resolve_device("tpu9")
        if not torch.cuda.is_available():
            with pytest.raises(InputError, match="CUDA is not available"):
                resolve_device("cuda")
