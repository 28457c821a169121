"""The review command asks whether a window can open before napari starts: Qt aborts
the process otherwise."""

from __future__ import annotations

import sys

import pytest

from napari_abspose import display
from tests.napari_abspose.conftest import needs_display

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 on Linux")


@linux
@needs_display
def test_a_real_window_opens_under_the_test_display(monkeypatch):
    # the xcb platform plugin, as `abspose review` uses it, not the tests' offscreen one
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert display.missing_qt_libraries() == []
    assert display.display_problem() is None


@linux
def test_no_display_is_one_line_with_what_to_do(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = display.display_problem("abspose review a.mp4")
    assert "DISPLAY is not set" in problem and "xvfb-run -a abspose review a.mp4" in problem
    assert "\n" not in problem
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # draws without a window system
    assert display.display_problem() is None


@linux
def test_a_display_qt_cannot_use(monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":987")  # no server there
    assert "cannot open a window on display :987" in display.display_problem()
    monkeypatch.setattr(display, "missing_qt_libraries", lambda timeout=60: ["libxcb-icccm.so.4"])
    problem = display.display_problem()
    assert "missing libxcb-icccm.so.4" in problem and "apt-get install libxcb-icccm4" in problem


def test_review_stops_before_napari_without_a_display(monkeypatch, capsys, clip):
    from training.cli import main

    monkeypatch.setattr(display, "display_problem", lambda command: f"no display ({command})")
    assert main(["review", str(clip)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"no display (abspose review {clip})" in err


def test_the_readme_names_what_to_install():
    from pathlib import Path

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    for package in ("xvfb", *display.QT_X11_PACKAGES.split()):
        assert package in readme, package
