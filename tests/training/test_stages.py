"""The three training stages with the tiny preset: they run, losses are finite, a loss
falls on a fixed batch, resuming is exact, Ctrl-C leaves a checkpoint, DDP keeps ranks
in step, and bad footage is reported."""

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoint import load_checkpoint, load_model
from core.errors import InputError
from tests.training.conftest import write_clip
from training.config import load_config
from training.stages import Trainer, run_to_end
from training.stages.pretrain import pretrain_iter
from training.stages.refine import refine_iter
from training.stages.train import train_iter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "run"
    last = run_to_end(pretrain_iter(load_config("tiny"), out), "pretrain", enabled=False)
    return last.checkpoint


def params_changed(before, after, part: str) -> bool:
    """Whether any weight of ``part`` (e.g. ``"encoder"``) differs between two models."""
    old = dict(getattr(before, part).named_parameters())
    return any(not torch.equal(old[n], p) for n, p in getattr(after, part).named_parameters())


def all_finite(losses):
    return all(math.isfinite(v) for v in losses.values())


class TestPretrain:
    def test_runs_and_writes_a_run_folder(self, pretrained):
        run = pretrained.parent
        assert (run / "config.yaml").exists() and (run / "snapshots").is_dir()
        rows = [line for line in (run / "stats.jsonl").read_text().splitlines() if line]
        assert len(rows) == 2  # log_every 2, 4 steps
        ckpt = load_checkpoint(pretrained)
        assert ckpt["stage"] == "pretrain" and ckpt["step"] == 4
        assert load_model(pretrained).input_size == (64, 64)

    def test_components_with_zero_weights_are_not_trained(self, tmp_path):
        off = ["pretrain.weights.perceptual=0", "pretrain.weights.image_gan=0",
               "pretrain.weights.image_feature_matching=0"]
        cfg = load_config("tiny", [*off, "pretrain.steps=2"])
        last = run_to_end(pretrain_iter(cfg, tmp_path / "pose"), "pretrain", enabled=False)
        model = load_model(last.checkpoint)
        torch.manual_seed(cfg.seed)
        from core.models import AbsPoseModel

        fresh = AbsPoseModel(model.config)
        # the renderer never ran: its weights are still the initial ones, the encoder's moved
        for name, p in model.renderer.state_dict().items():
            assert torch.equal(p, fresh.renderer.state_dict()[name]), name
        assert not all(torch.equal(p, q) for p, q in zip(model.encoder.parameters(),
                                                         fresh.encoder.parameters(), strict=True))
        rows = (tmp_path / "pose" / "stats.jsonl").read_text()
        assert "perceptual" not in rows and "synthetic_keypoints_2d" in rows

    def test_the_uplift_alone_needs_no_images(self, tmp_path, monkeypatch):
        import training.synthetic as synthetic

        def no_drawing(*args, **kwargs):
            raise AssertionError("an image was drawn")

        monkeypatch.setattr(synthetic, "render", no_drawing)
        monkeypatch.setattr("training.synthetic.sampling.render", no_drawing)
        off = [f"pretrain.weights.{w}=0" for w in (
            "perceptual", "image_gan", "image_feature_matching", "synthetic_skeleton_image",
            "synthetic_keypoints_2d")]
        cfg = load_config("tiny", [*off, "pretrain.steps=2", "pretrain.batch_size=64"])
        last = run_to_end(pretrain_iter(cfg, tmp_path / "up"), "pretrain", enabled=False)
        assert last.checkpoint.exists()
        assert not list((tmp_path / "up" / "snapshots").glob("*.png"))
        rows = (tmp_path / "up" / "stats.jsonl").read_text()
        assert "synthetic_keypoints_3d" in rows and "synthetic_keypoints_2d" not in rows

    def test_keypoints_from_the_encoder_train_the_encoder(self, tmp_path):
        """With keypoints_input=encoder the keypoint loss reaches the encoder even when
        the encoder's own loss is off."""
        off = [f"pretrain.weights.{w}=0" for w in (
            "perceptual", "image_gan", "image_feature_matching", "synthetic_skeleton_image",
            "synthetic_keypoints_3d", "synthetic_rotations")]
        cfg = load_config("tiny", [*off, "pretrain.steps=2", "pretrain.keypoints_input=encoder"])
        last = run_to_end(pretrain_iter(cfg, tmp_path / "e2e"), "pretrain", enabled=False)
        from core.models import AbsPoseModel

        torch.manual_seed(cfg.seed)
        fresh = AbsPoseModel(load_model(last.checkpoint).config)
        model = load_model(last.checkpoint)
        assert not all(torch.equal(p, q) for p, q in zip(model.encoder.parameters(),
                                                         fresh.encoder.parameters(), strict=True))
        from core.errors import ConfigError

        with pytest.raises(ConfigError, match="keypoints_input"):
            load_config("tiny", ["pretrain.keypoints_input=both"])

    def test_all_weights_zero_is_a_clear_error(self, tmp_path):
        from core.errors import ConfigError

        zero = [f"pretrain.weights.{w}=0" for w in (
            "perceptual", "image_gan", "image_feature_matching", "synthetic_skeleton_image",
            "synthetic_keypoints_2d", "synthetic_keypoints_3d", "synthetic_rotations")]
        with pytest.raises(ConfigError, match="nothing would be trained"):
            run_to_end(pretrain_iter(load_config("tiny", zero), tmp_path / "r"), "pretrain",
                       enabled=False)
        assert not (tmp_path / "r").exists()  # refused before a run folder is made

    def test_loss_falls_on_a_fixed_batch(self, tmp_path, monkeypatch):
        from training.synthetic import SyntheticStream

        original = SyntheticStream.next
        cache = {}

        def same_batch(self):
            if "b" not in cache:
                cache["b"] = original(self)
            return cache["b"]

        monkeypatch.setattr(SyntheticStream, "next", same_batch)
        cfg = load_config("tiny", ["pretrain.steps=30", "pretrain.lr_g=2e-3",
                                   "pretrain.log_every=100", "pretrain.snapshot_every=100",
                                   "pretrain.checkpoint_every=100"])
        history = [p.losses for p in pretrain_iter(cfg, tmp_path / "run") if p.losses]
        assert all(all_finite(h) for h in history)
        for key in ("synthetic_keypoints_2d", "synthetic_skeleton_image"):
            first = np.mean([h[key] for h in history[:3]])
            last = np.mean([h[key] for h in history[-3:]])
            assert last < 0.7 * first, (key, first, last)

    def test_resume_is_exact(self, tmp_path):
        cfg = load_config("tiny")
        straight = run_to_end(pretrain_iter(cfg, tmp_path / "a"), "a", enabled=False)
        stopped = run_to_end(pretrain_iter(load_config("tiny"), tmp_path / "b",
                                           stop=lambda: True), "b", enabled=False)
        assert stopped.step == 1
        resumed = run_to_end(pretrain_iter(load_config("tiny"), tmp_path / "b", resume=True),
                             "b", enabled=False)
        assert resumed.step == straight.step == 4
        a = load_checkpoint(straight.checkpoint)
        b = load_checkpoint(resumed.checkpoint)
        for part in ("model", "discriminators"):
            for k, v in a[part].items():
                assert torch.equal(v, b[part][k]), (part, k)

    def test_cli_resume_keeps_the_runs_config(self, tmp_path, capsys):
        from training.cli import main

        run = tmp_path / "run"
        list(pretrain_iter(load_config("tiny"), run, stop=lambda: True))
        # no --config: the run's own (tiny) configuration is used, not the cpu preset
        assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 0
        assert "finished at step 4/4" in capsys.readouterr().out

    def test_never_overwrites_a_run(self, pretrained):
        with pytest.raises(InputError, match="already holds a training run"):
            next(pretrain_iter(load_config("tiny"), pretrained.parent))


class TestTrainAndRefine:
    def test_train_runs(self, pretrained, clips, tmp_path):
        last = None
        for p in train_iter(load_config("tiny"), [clips], tmp_path / "run", init=pretrained):
            assert not p.losses or all_finite(p.losses)
            if p.losses:
                assert {"perceptual", "skeleton_gan", "skeleton_image", "image_disc",
                        "skeleton_disc", "synthetic_keypoints_2d"} <= set(p.losses)
            last = p
        assert last.step == 4 and load_checkpoint(last.checkpoint)["stage"] == "train"

    @pytest.mark.parametrize("prior_input", ["analytic", "predicted"])
    def test_pose_prior_judges_the_configured_skeleton_image(self, pretrained, clips,
                                                             tmp_path, monkeypatch,
                                                             prior_input):
        import training.stages.end_to_end as train_module
        from core.models.abspose import AbsPoseModel

        outputs, judged = [], []
        forward = AbsPoseModel.forward
        adversarial = train_module.generator_adversarial_losses

        def spy_forward(self, image, appearance):
            out = forward(self, image, appearance)
            outputs.append(out)
            return out

        def spy_adversarial(disc, real, fake):
            if real is None:  # the pose prior's generator side
                judged.append(fake.detach())
            return adversarial(disc, real, fake)

        monkeypatch.setattr(AbsPoseModel, "forward", spy_forward)
        monkeypatch.setattr(train_module, "generator_adversarial_losses", spy_adversarial)
        cfg = load_config("tiny", ["train.steps=1", f"train.prior_input={prior_input}",
                                   "amp=false"])
        list(train_iter(cfg, [clips], tmp_path / "run", init=pretrained))
        assert len(outputs) == 1 and len(judged) == 1
        out, n = outputs[0], judged[0].shape[0]
        assert n == cfg.train.batch_size  # real frames only, never the synthetic ones
        expected = out.skeleton_image_3d if prior_input == "analytic" else out.skeleton_image
        other = out.skeleton_image if prior_input == "analytic" else out.skeleton_image_3d
        assert torch.equal(judged[0], expected[:n].detach().float())
        assert not torch.allclose(judged[0], other[:n].detach().float(), atol=1e-3)

    @pytest.mark.parametrize("freeze", [True, False])
    def test_freeze_batchnorm_keeps_the_pose_paths_statistics(self, pretrained, clips,
                                                             tmp_path, freeze):
        def stats(model, part):
            return {n: b.clone() for n, b in getattr(model, part).named_buffers()
                    if n.endswith("running_mean")}

        before = load_model(pretrained)
        cfg = load_config("tiny", ["train.steps=2", f"train.freeze_batchnorm={freeze}"])
        last = list(train_iter(cfg, [clips], tmp_path / "run", init=pretrained))[-1]
        after = load_model(last.checkpoint)
        for part in ("encoder", "keypoint_head", "uplift"):
            old, new = stats(before, part), stats(after, part)
            assert old, part
            same = all(torch.equal(old[n], new[n]) for n in old)
            assert same == freeze, part
        # the weights train either way; the renderer's statistics are never frozen
        assert params_changed(before, after, "encoder")
        r0, r1 = stats(before, "renderer"), stats(after, "renderer")
        assert not all(torch.equal(r0[n], r1[n]) for n in r0)

    @pytest.mark.parametrize("freeze", [True, False])
    def test_freeze_renderer_trains_only_the_pose_path(self, pretrained, clips, tmp_path,
                                                       freeze):
        before = load_model(pretrained)
        cfg = load_config("tiny", ["train.steps=2", f"train.freeze_renderer={freeze}"])
        last = list(train_iter(cfg, [clips], tmp_path / "run", init=pretrained))[-1]
        after = load_model(last.checkpoint)
        assert params_changed(before, after, "renderer") != freeze
        # the reconstruction loss still reaches the pose path through the frozen renderer
        assert params_changed(before, after, "encoder")
        assert params_changed(before, after, "keypoint_head")

    def test_frozen_renderer_passes_the_render_loss_to_the_pose(self, pretrained, clips,
                                                                tmp_path):
        """With every other loss off, the encoder still trains: its only gradient is the
        reconstruction loss through the frozen renderer."""
        off = [f"train.weights.{k}=0" for k in (
            "skeleton_gan", "skeleton_image", "synthetic_skeleton_image",
            "synthetic_keypoints_2d", "synthetic_keypoints_3d", "synthetic_rotations")]
        before = load_model(pretrained)
        cfg = load_config("tiny", ["train.steps=1", "train.freeze_renderer=true",
                                   "train.synthetic_batch_size=0", *off])
        last = list(train_iter(cfg, [clips], tmp_path / "run", init=pretrained))[-1]
        after = load_model(last.checkpoint)
        assert params_changed(before, after, "encoder")
        assert not params_changed(before, after, "renderer")

    def test_final_phase_lowers_both_learning_rates(self, pretrained, clips, tmp_path):
        cfg = load_config("tiny", ["train.steps=4", "train.checkpoint_every=2",
                                   "train.lr_final_fraction=0.5", "train.lr_final_factor=0.1",
                                   "train.lr_g=1e-3", "train.lr_d=2e-3"])
        last = list(train_iter(cfg, [clips], tmp_path / "run", init=pretrained))[-1]

        def rates(path):
            opt = load_checkpoint(path)["optimizers"]
            return opt["g"]["param_groups"][0]["lr"], opt["d"]["param_groups"][0]["lr"]

        assert rates(tmp_path / "run" / "step_000002.pt") == (1e-3, 2e-3)
        assert rates(last.checkpoint) == pytest.approx((1e-4, 2e-4))
        # the phase is placed by the run's total steps
        cfg = load_config("tiny", ["train.steps=4", "train.lr_final_fraction=0.5"])
        tr = Trainer(cfg, "train", tmp_path / "other", init=pretrained)
        scales = []
        for step in range(4):
            tr.step = step
            scales.append(tr.learning_rate_scale(4))
        assert scales == [1, 1, 0.25, 0.25]
        assert tr.learning_rate_scale(40) == 1 and tr.learning_rate_scale(5) == 0.25

    def test_from_random_weights_batch_statistics_are_used(self, clips, tmp_path):
        cfg = load_config("tiny", ["train.steps=2", "train.freeze_batchnorm=true"])
        last = list(train_iter(cfg, [clips], tmp_path / "run"))[-1]
        ckpt = load_checkpoint(last.checkpoint)
        assert ckpt["batchnorm_frozen"] is False
        means = [b for n, b in load_model(last.checkpoint).encoder.named_buffers()
                 if n.endswith("running_mean")]
        assert any(m.abs().sum() > 0 for m in means)  # updated from the zeros of a new layer

    def test_refine_writes_next_to_the_video(self, pretrained, clips, tmp_path):
        video = tmp_path / "subject.mp4"
        video.write_bytes((clips / "a.mp4").read_bytes())
        items = list(refine_iter([video], pretrained, config="tiny", steps=3, device="cpu"))
        assert [p.step for p in items[:-1]] == [1, 2, 3]
        final = items[-1].checkpoint
        assert final == tmp_path / "subject.refined.pt"
        assert load_model(final).layout == "5ch"
        again = list(refine_iter([video], pretrained, config="tiny", steps=1))[-1].checkpoint
        assert again == tmp_path / "subject.refined-2.pt"  # never over the first

    def test_refine_learns_the_frames_corrected_by_hand(self, pretrained, clips, tmp_path):
        from core.export import write_tidy_csv
        from core.predict import Predictor
        from core.track import Track

        video = tmp_path / "subject.mp4"
        video.write_bytes((clips / "a.mp4").read_bytes())

        def predicted(ckpt):
            return Predictor(load_model(ckpt), device="cpu", progress=False).predict_video(video)

        before = predicted(pretrained)
        target = before.keypoints.copy()
        target[[2, 8]] = np.array([20.0, 40.0])  # every point of two frames put elsewhere
        edited = np.zeros(target.shape[:2], bool)
        edited[[2, 8]] = True
        labels = write_tidy_csv(Track(before.keypoint_names, target, before.confidence,
                                      frame_size=before.frame_size),
                                tmp_path / "subject_keypoints.csv", edited=edited)

        def error(track):
            return np.linalg.norm(track.keypoints[[2, 8]] - target[[2, 8]], axis=-1).mean()

        # the labelled term alone (every other weight 0), the crop fixed: it must pull
        # the predictions of the corrected frames onto the corrections (14.3 -> 4.0 px)
        others = ("perceptual", "image_gan", "image_feature_matching", "skeleton_gan",
                  "skeleton_image", "synthetic_skeleton_image", "synthetic_keypoints_2d",
                  "synthetic_keypoints_3d", "synthetic_rotations")
        only = [f"refine.weights.{k}=0" for k in others] + [
            "data.crop_scale=[1.0,1.0]", "data.crop_offset=0.0", "refine.synthetic_batch_size=0"]
        items = list(refine_iter([video], pretrained, out=tmp_path / "r", config="tiny",
                                 steps=20, lr=3e-3, device="cpu", labels=labels,
                                 overrides=only))
        assert all("labels_keypoints_2d" in p.losses for p in items if p.losses)
        after = predicted(items[-1].checkpoint)
        assert error(after) < 0.5 * error(before)
        plain = list(refine_iter([video], pretrained, out=tmp_path / "plain", config="tiny",
                                 steps=1, device="cpu"))
        assert not any("labels_keypoints_2d" in p.losses for p in plain if p.losses)

    def test_refine_labels_errors_before_a_run_folder(self, pretrained, clips, tmp_path):
        from core.export import write_tidy_csv
        from core.track import Track

        video = tmp_path / "subject.mp4"
        video.write_bytes((clips / "a.mp4").read_bytes())
        plain = write_tidy_csv(Track(["nose"], np.zeros((12, 1, 2)), np.ones((12, 1))),
                               tmp_path / "plain.csv")
        for bad, message in ((tmp_path / "none.csv", "no such labels file"),
                             (plain, "no 'edited' column")):
            with pytest.raises(InputError, match=message):
                list(refine_iter([video], pretrained, out=tmp_path / "r", config="tiny",
                                 steps=1, labels=bad))
            assert not (tmp_path / "r").exists()

    def test_refine_stop_flag(self, pretrained, clips, tmp_path):
        items = list(refine_iter([clips / "a.mp4"], pretrained, out=tmp_path / "r",
                                 config="tiny", steps=50, stop=lambda: True))
        assert items[-1].step == 1 and items[-1].checkpoint.exists()

    def test_bad_footage(self, pretrained, clips, tmp_path, caplog):
        folder = tmp_path / "mixed"
        folder.mkdir()
        (folder / "good.mp4").write_bytes((clips / "a.mp4").read_bytes())
        (folder / "corrupt.mp4").write_bytes(b"\x00" * 100)
        (folder / "empty.avi").write_bytes(b"")
        it = train_iter(load_config("tiny", ["train.steps=1"]), [folder], tmp_path / "run",
                        init=pretrained)
        assert list(it)[-1].step == 1
        assert "corrupt.mp4" in caplog.text and "empty.avi" in caplog.text
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "x.mp4").write_bytes(b"junk")
        with pytest.raises(InputError, match="no usable footage"):
            list(train_iter(load_config("tiny"), [bad], tmp_path / "run2", init=pretrained))
        assert not (tmp_path / "run2").exists()

    def test_footage_predict_refuses_is_refused_before_a_run_folder(self, pretrained,
                                                                   tmp_path):
        small = write_clip(tmp_path / "small.mp4", size=32)  # the tiny model takes 64 x 64
        (tmp_path / "zero.mp4").write_bytes(b"")
        (tmp_path / "notes.mp4").write_text("not a video")
        (tmp_path / "empty").mkdir()
        for video, reason in ((small, "frames of 32x32 pixels are smaller than the model "
                                      "input 64x64"),
                              (tmp_path / "zero.mp4", "zero.mp4"),
                              (tmp_path / "notes.mp4", "not a video OpenCV can read"),
                              (tmp_path / "empty", "no video or image sequence found")):
            with pytest.raises(InputError, match=reason):
                list(refine_iter([video], pretrained, config="tiny", steps=1, device="cpu"))
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "empty", "notes.mp4", "small.mp4", "zero.mp4"]  # no <name>_refine/ left

    def test_a_bad_synthetic_setting_leaves_no_run_folder(self, tmp_path):
        for bad, message in (("synthetic.free_poses=1.5", "free_poses must be in"),
                             ("synthetic.fill=[0.9,0.4]", r"synthetic\.fill must be")):
            with pytest.raises(InputError, match=message):
                list(pretrain_iter(load_config("tiny", ["pretrain.steps=1", bad]),
                                   tmp_path / "run"))
            assert not (tmp_path / "run").exists()

    def test_a_failed_start_removes_the_run_folder_it_made(self, clips, tmp_path):
        garbage = tmp_path / "garbage.pt"
        garbage.write_bytes(b"not a checkpoint")
        with pytest.raises(Exception):  # noqa: B017, the checkpoint's own error
            Trainer(load_config("tiny"), "train", tmp_path / "run", init=garbage)
        assert not (tmp_path / "run").exists()
        kept = tmp_path / "mine"
        kept.mkdir()  # a folder the user made is left where it was
        with pytest.raises(Exception):  # noqa: B017
            Trainer(load_config("tiny"), "train", kept, init=garbage)
        assert kept.is_dir()


def test_ctrl_c_leaves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "training.cli", "pretrain", "--config", "tiny",
           "--steps", "10000", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not (out / "stats.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output.decode()[-2000:]
    ckpt = load_checkpoint(out / "last.pt")
    assert 2 <= ckpt["step"] < 10000
    assert load_model(out / "last.pt") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_stay_in_step(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "weights0.pt", weights_only=True)
    b = torch.load(tmp_path / "weights1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3


def _ddp_rank_main(rank: int, world: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from training import stages
    from training.stages.distributed import shutdown_distributed

    created = []
    original = stages.Trainer.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        created.append(self)

    stages.Trainer.__init__ = remember
    cfg = load_config("tiny", ["pretrain.steps=3"])
    for _ in pretrain_iter(cfg, Path(folder) / "run"):
        pass
    # parameters, not buffers: batch-norm statistics stay per process
    params = {k: v.detach().clone() for k, v in created[0].model.named_parameters()}
    torch.save(params, Path(folder) / f"weights{rank}.pt")
    shutdown_distributed()


def test_export_model_writes_the_model_alone(pretrained, tmp_path, capsys):
    from training.cli import main

    out = tmp_path / "model.pt"
    assert main(["export-model", str(pretrained), str(out), "--half"]) == 0
    assert "float16" in capsys.readouterr().out
    assert out.stat().st_size < pretrained.stat().st_size / 3  # no optimizer, half weights
    a, b = load_model(pretrained).eval(), load_model(out).eval()
    x = torch.rand(2, 3, *a.input_size)
    with torch.no_grad():
        pa, pb = a.predict(x), b.predict(x)
    assert torch.allclose(pa.keypoints, pb.keypoints, atol=2e-2)
    assert main(["export-model", str(pretrained), str(out)]) == 2  # exists: not replaced
    assert "--overwrite" in capsys.readouterr().err


def test_export_model_takes_the_renderer_of_another_model(pretrained, tmp_path, capsys):
    from core.checkpoint import save_checkpoint
    from core.models import AbsPoseModel
    from training.cli import main

    base = load_model(pretrained)
    donor = AbsPoseModel(base.config)  # other (random) weights, same architecture
    save_checkpoint(tmp_path / "donor.pt", donor)
    out = tmp_path / "model.pt"
    assert main(["export-model", str(pretrained), str(out), "--renderer-from",
                 str(tmp_path / "donor.pt")]) == 0
    got = load_model(out)
    for k, v in donor.renderer.state_dict().items():
        assert torch.equal(got.renderer.state_dict()[k], v), k
    for k, v in base.encoder.state_dict().items():
        assert torch.equal(got.encoder.state_dict()[k], v), k
    other = AbsPoseModel(dataclasses.replace(base.config, layout="3ch"))
    save_checkpoint(tmp_path / "other.pt", other)
    assert main(["export-model", str(pretrained), str(tmp_path / "x.pt"), "--renderer-from",
                 str(tmp_path / "other.pt")]) == 2
    assert "does not fit" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_labels_belong_to_the_video_they_are_named_after(tmp_path):
    from training.stages.end_to_end import labelled_video

    a, b = tmp_path / "walk.mp4", tmp_path / "walk_fast.mp4"
    assert labelled_video(Path("walk_corrections.csv"), [a, b]) == a
    assert labelled_video(Path("walk_fast_corrections.csv"), [a, b]) == b
    assert labelled_video(Path("fixes.csv"), [a]) == a  # the only one
    with pytest.raises(InputError, match="cannot tell which of the 2 videos"):
        labelled_video(Path("fixes.csv"), [a, b])
