import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import core.checkpoint
from core.checkpoint import save_checkpoint
from core.models import AbsPoseModel, ModelConfig
from core.video import VideoReader, write_video
from training.cli import main
from training.commands import demo


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return save_checkpoint(path, AbsPoseModel(ModelConfig.tiny()))


def make_clip(path, n=10, size=(72, 128), fps=20):
    rng = np.random.default_rng(0)
    return write_video(path, rng.integers(0, 255, (n, *size, 3), dtype=np.uint8), fps=fps)


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


class TestPredict:
    def test_writes_everything_next_to_the_input(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "walk.mp4")
        code, out, err = run(["predict", str(clip), "--checkpoint", str(checkpoint),
                              "--format", "all", "--overlay", "--no-progress"], capsys)
        assert code == 0, err
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["walk.mp4", "walk_3d.csv", "walk_3d.npz", "walk_coco.json",
                         "walk_contact_sheet.png", "walk_dlc.csv", "walk_keypoints.csv",
                         "walk_overlay.mp4"]
        assert "walk.mp4: 10 frames, 128x72, 20 fps" in out
        assert "frames/s end to end" in out and "confidence   mean" in out and "flips" in out
        tidy = pd.read_csv(tmp_path / "walk_keypoints.csv")
        assert len(tidy) == 10 * 22 and tidy["x"].notna().all()
        dlc = pd.read_csv(tmp_path / "walk_dlc.csv", header=[0, 1, 2], index_col=0)
        assert dlc.shape == (10, 66)
        coco = json.loads((tmp_path / "walk_coco.json").read_text())
        assert len(coco["images"]) == 10
        overlay = VideoReader(tmp_path / "walk_overlay.mp4")
        assert overlay.size == (72, 128) and len(list(overlay)) == 10

    def test_out_folder_and_never_overwriting(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "a.mp4")
        out_dir = tmp_path / "results"
        args = ["predict", str(clip), "--checkpoint", str(checkpoint), "--out", str(out_dir),
                "--no-progress"]
        assert run(args, capsys)[0] == 0
        before = (out_dir / "a_keypoints.csv").read_bytes()
        code, _, err = run(args, capsys)
        assert code == 2 and "a_keypoints.csv exists; pass --overwrite" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert (out_dir / "a_keypoints.csv").read_bytes() == before
        code, out, _ = run([*args, "--overwrite", "--follow", "--smooth"], capsys)
        assert code == 0
        followed = re.search(r"follow +(\d+) of 10 frames in a box around the subject; "
                             r"(\d+) on the whole frame", out)
        assert followed and int(followed[1]) + int(followed[2]) == 10
        assert "follow " not in run([*args, "--overwrite"], capsys)[1]

    def test_followed_frames_are_counted(self):
        from types import SimpleNamespace

        from core.crop import letterbox_transform
        from training.commands.predict import followed_frames

        whole = letterbox_transform((72, 128), (64, 64)).box
        boxes = np.float32([whole, [10, 5, 40, 40], whole, [12, 5, 40, 40]])
        track = SimpleNamespace(frame_size=(72, 128), boxes=boxes)
        assert followed_frames(track, (64, 64)) == 2

    def test_bbox(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "a.mp4")
        code, _, err = run(["predict", str(clip), "--checkpoint", str(checkpoint), "--bbox",
                            "10,5,64,64", "--format", "npz", "--no-progress"], capsys)
        assert code == 0, err
        with np.load(tmp_path / "a_3d.npz") as z:
            assert z["boxes"][0].tolist() == [10, 5, 64, 64]
        with pytest.raises(SystemExit):
            main(["predict", str(clip), "--bbox", "1,2,3"])

    def test_folder_skips_unreadable_files(self, tmp_path, checkpoint, capsys):
        make_clip(tmp_path / "good.mp4")
        (tmp_path / "broken.mp4").write_bytes(b"\x00" * 5000)
        (tmp_path / "notes.txt").write_text("not a video")
        code, out, err = run(["predict", str(tmp_path), "--checkpoint", str(checkpoint),
                              "--no-progress"], capsys)
        assert code == 1, err
        assert "1 of 2 videos done; skipped 1" in out and "broken.mp4 (" in out
        assert (tmp_path / "good_keypoints.csv").exists()
        assert not (tmp_path / "broken_keypoints.csv").exists()


class TestBadInput:
    """Each bad input: a one-line error, exit code 2, no traceback."""

    def expect_error(self, args, capsys, message):
        code, _, err = run(args, capsys)
        assert code == 2
        assert err.startswith("abspose predict: error:") and message in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    def test_missing_file(self, tmp_path, checkpoint, capsys):
        self.expect_error(["predict", str(tmp_path / "nope.mp4"), "--checkpoint",
                           str(checkpoint)], capsys, "no such file")

    def test_not_a_video(self, tmp_path, checkpoint, capsys):
        path = tmp_path / "notes.mp4"
        path.write_text("hello")
        self.expect_error(["predict", str(path), "--checkpoint", str(checkpoint)], capsys,
                          "not a video")

    def test_corrupt_video(self, tmp_path, checkpoint, capsys):
        path = tmp_path / "cut.mp4"
        path.write_bytes(make_clip(tmp_path / "full.mp4").read_bytes()[:700])
        self.expect_error(["predict", str(path), "--checkpoint", str(checkpoint)], capsys,
                          "cut.mp4")

    def test_zero_frames(self, tmp_path, checkpoint, capsys):
        import cv2

        path = tmp_path / "empty.avi"
        cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (96, 96)).release()
        self.expect_error(["predict", str(path), "--checkpoint", str(checkpoint)], capsys,
                          "zero frames")

    def test_frames_smaller_than_the_model_input(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "tiny.mp4", size=(32, 48))
        self.expect_error(["predict", str(clip), "--checkpoint", str(checkpoint),
                           "--no-progress"], capsys, "smaller than the model input")

    def test_checkpoint_for_another_skeleton(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "a.mp4")
        self.expect_error(["predict", str(clip), "--checkpoint", str(checkpoint), "--skeleton",
                           "quadruped"], capsys, "skeleton 'human'")

    def test_output_exists(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "a.mp4")
        (tmp_path / "a_dlc.csv").write_text("mine")
        self.expect_error(["predict", str(clip), "--checkpoint", str(checkpoint), "--format",
                           "dlc"], capsys, "exists")
        assert (tmp_path / "a_dlc.csv").read_text() == "mine"

    def test_empty_folder_and_bad_format(self, tmp_path, checkpoint, capsys):
        self.expect_error(["predict", str(tmp_path)], capsys, "no video files")
        make_clip(tmp_path / "a.mp4")
        self.expect_error(["predict", str(tmp_path), "--format", "h5"], capsys,
                          "unknown export format")

    def test_no_default_model(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setattr(core.checkpoint, "default_checkpoint_path",
                            lambda: tmp_path / "none.pt")
        clip = make_clip(tmp_path / "a.mp4")
        self.expect_error(["predict", str(clip)], capsys, "no default model")

    def test_debug_shows_the_traceback(self, tmp_path):
        from core.errors import InputError

        with pytest.raises(InputError):
            main(["--debug", "predict", str(tmp_path / "nope.mp4")])


def make_labels(path, clip_frames, n=10):
    from core.skeleton import HUMAN

    rng = np.random.default_rng(0)
    np.savez(path, keypoint_names=np.array(HUMAN.keypoints)[::-1],  # another order
             keypoints_2d=rng.uniform(0, 64, (n, 22, 2)), visibility=np.ones((n, 22)),
             keypoints_3d=rng.normal(0, 0.3, (n, 22, 3)) + np.array([0, 0, 4]),
             intrinsics=np.eye(3),
             activity=np.zeros(n, dtype=np.int64), subject=np.array("S1"))
    return path


class TestDemo:
    def test_runs_end_to_end(self, tmp_path, checkpoint, capsys, monkeypatch):
        clip = make_clip(tmp_path / "sample.mp4")
        make_labels(tmp_path / "sample.npz", clip)
        monkeypatch.chdir(tmp_path)
        args = ["demo", "--checkpoint", str(checkpoint), "--clip", str(clip), "--no-progress"]
        code, out, err = run(args, capsys)
        assert code == 0, err
        names = sorted(p.name for p in (tmp_path / "abspose-demo").iterdir())
        assert names == ["sample_3d.csv", "sample_3d.npz", "sample_coco.json",
                         "sample_contact_sheet.png", "sample_dlc.csv", "sample_keypoints.csv",
                         "sample_overlay.mp4"]
        assert "sample.mp4: 10 frames" in out
        assert "error against the clip's labels (10 frames)" in out
        assert "MPJPE" in out and "PCK@0.1" in out and "left/right" in out
        assert "px at 128x128 considering flips" in out
        assert run(args, capsys)[0] == 0  # a second demo replaces the first one's files

    def test_missing_model_and_clip_named_in_one_line(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setattr(core.checkpoint, "default_checkpoint_path",
                            lambda: tmp_path / "default.pt")
        monkeypatch.setattr(demo, "sample_dir", lambda: tmp_path / "sample_data")
        code, _, err = run(["demo"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "missing: the default model" in err and "and the sample clip" in err
        assert "<name>.npz" in err  # the name the clip ships with and `abspose synth` writes
        assert not (tmp_path / "abspose-demo").exists()

    def test_finds_the_sample_clip(self, tmp_path):
        assert demo.find_sample_clip(tmp_path) is None
        clip = make_clip(tmp_path / "clip.mp4")
        assert demo.find_sample_clip(tmp_path) is None  # no labels
        make_labels(tmp_path / "clip_labels.npz", clip)
        assert demo.find_sample_clip(tmp_path) is None  # one name for the labels
        labels = make_labels(tmp_path / "clip.npz", clip)
        assert demo.find_sample_clip(tmp_path) == (clip, labels)

    def test_shipped_sample_data_is_found(self):
        from core.checkpoint import default_checkpoint_path, sample_data_dir

        assert default_checkpoint_path().is_file()
        assert demo.find_sample_clip(sample_data_dir()) == (
            sample_data_dir() / "sample_clip.mp4", sample_data_dir() / "sample_clip.npz")

    def test_labels_for_another_skeleton(self, tmp_path, checkpoint, capsys):
        clip = make_clip(tmp_path / "s.mp4")
        np.savez(tmp_path / "s.npz", keypoint_names=np.array(["a", "b"]),
                 keypoints_2d=np.zeros((10, 2, 2)))
        code, _, err = run(["demo", "--checkpoint", str(checkpoint), "--clip", str(clip),
                            "--out", str(tmp_path / "o")], capsys)
        assert code == 2 and "skeleton 'human'" in err

    def test_errors_worked_out(self):
        from core.skeleton import HUMAN
        from core.track import Track

        rng = np.random.default_rng(0)
        gt2 = rng.uniform(100, 300, (4, 22, 2))
        gt3 = rng.normal(0, 0.3, (4, 22, 3)) + np.array([0, 0, 4])
        pred2 = gt2 + np.array([3.0, 4.0])  # 5 px off everywhere
        pred2[1] = HUMAN.mirror(gt2[1])  # frame 1 swapped
        rot = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
        pred3 = 2.0 * (gt3 - gt3.mean(1, keepdims=True)) @ rot.T  # rotated, scaled
        track = Track(list(HUMAN.keypoints), pred2, np.ones((4, 22)), pred3)
        labels = {"keypoint_names": list(HUMAN.keypoints), "keypoints_2d": gt2,
                  "keypoints_3d": gt3}
        e = demo.label_errors(track, labels, HUMAN)
        assert e["median_px"] == pytest.approx(5.0)
        assert e["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)  # float32 storage
        assert e["mpjpe_mm"] > 100
