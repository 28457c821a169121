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
