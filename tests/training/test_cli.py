import subprocess
import sys

import pytest

from core._version import __version__
from training.cli import main
from training.commands import COMMANDS


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "skeletons" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"abspose {__version__}"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: abspose" in capsys.readouterr().out


def test_the_plugin_adds_review_through_its_entry_point():
    from training.commands import BUILT_IN, added_commands

    assert "review" not in BUILT_IN and added_commands()["review"].value == \
        "napari_abspose.command"
    assert COMMANDS[-1] == "review"  # after the built-in ones, as --help lists them


def test_an_added_command_that_cannot_load_says_so_and_the_others_run(monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    import training.cli as cli

    broken = EntryPoint("review", "no_such_package.command", "abspose.commands")
    monkeypatch.setattr(cli, "added_commands", lambda: {"review": broken})
    assert main(["review", "clip.mp4", "--checkpoint", "m.pt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be loaded: ModuleNotFoundError" in err
    assert "no_such_package.command" in err
    with pytest.raises(SystemExit) as exc:
        main(["skeletons", "--help"])
    assert exc.value.code == 0


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "training.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert __version__ in out.stdout


class TestSkeletonsCommand:
    def test_lists_and_draws(self, tmp_path, capsys):
        assert main(["skeletons", "human", "--out", str(tmp_path), "--size", "64"]) == 0
        out = capsys.readouterr().out
        assert "human: 22 keypoints" in out and "5ch: left_arm (3)" in out
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "human_1ch.png", "human_3ch.png", "human_5ch.png", "human_7ch.png"]

    def test_bad_skeleton_is_one_line_error(self, tmp_path, capsys):
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: x\nkeypoints: [a, b]\nparents: {a: null, b: a}\nedges: [[a, c]]\n")
        assert main(["skeletons", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("abspose skeletons: error:") and "unknown keypoint 'c'" in err
        assert "Traceback" not in err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain_text(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":class:" not in out
    assert "::\n" not in out
    description = out.split("\n\n")[1]  # after the usage lines
    assert description[:1].isupper() or description[:1].isdigit(), description


class TestSuggest:
    def test_lists_frames_with_reasons_and_skips_corrected_ones(self, tmp_path, capsys):
        import json

        import numpy as np

        from core.export import write_tidy_csv
        from core.skeleton import HUMAN
        from core.track import Track

        rng = np.random.default_rng(0)
        kp = 100 + rng.normal(0, 0.5, (60, HUMAN.num_keypoints, 2)).cumsum(0)
        kp[30, 5] += 80.0  # one point off for one frame
        flips = np.zeros(60, bool)
        flips[12] = True
        edited = np.zeros(kp.shape[:2], bool)
        edited[50] = True
        video = tmp_path / "clip.mp4"
        video.write_bytes(b"")  # only its name is needed
        write_tidy_csv(Track(list(HUMAN.keypoints), kp, np.full(kp.shape[:2], 0.8),
                             flip_suspect=flips), tmp_path / "clip_keypoints.csv",
                       edited=edited)
        assert main(["suggest", str(video), "-n", "4", "--json", str(tmp_path / "s.json")]) == 0
        out = capsys.readouterr().out
        assert "4 frames of 60 to correct first (1 already corrected are left out)" in out
        assert "frame     12  suspected left/right flip" in out
        assert "frame     30  jumps from its neighbours" in out
        got = json.loads((tmp_path / "s.json").read_text())
        assert len(got) == 4 and 50 not in [g["frame"] for g in got]

    def test_no_predictions_is_one_line_that_says_what_to_run(self, tmp_path, capsys):
        video = tmp_path / "clip.mp4"
        video.write_bytes(b"")
        assert main(["suggest", str(video)]) == 2
        err = capsys.readouterr().err
        assert f"run abspose predict {video} first" in err and len(err.splitlines()) == 1
