"""Fixtures for the plugin's tests: a display for napari's OpenGL canvas, a short clip,
a tiny model checkpoint and a synthetic track.

napari draws with OpenGL, which Qt's offscreen platform gets through an X display. On
Linux without one, an Xvfb server is started for the test run when the ``Xvfb`` program
is installed (``apt-get install xvfb``); otherwise the tests that open a viewer fail
with what to install, or skip when ``ABSPOSE_SKIP_WINDOW_TESTS=1`` says so.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from core.skeleton import HUMAN
from core.track import Track
from core.video import write_video
from napari_abspose.display import QT_X11_PACKAGES

# Xvfb runs under a small shell guard that stops it once this process has exited:
# stopping it earlier, under Qt's live connection, makes Qt abort the process. Xvfb
# picks a free display itself and writes its number to the pipe (-displayfd); nothing
# else may write there, or the server dies of SIGPIPE once the pipe is closed.
# -noreset: without it the server resets whenever its last client leaves (vispy runs
# xdpyinfo for the DPI), and an OpenGL context created during a reset fails.
_GUARD = ('Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp -noreset '
          '3>&1 >/dev/null 2>&1 & x=$!; exec >/dev/null; '
          'while kill -0 "$1" 2>/dev/null && kill -0 $x 2>/dev/null; do sleep 1; done; '
          'kill $x 2>/dev/null')


def _start_xvfb() -> bool:
    """Start Xvfb on a free display and point DISPLAY at it."""
    if shutil.which("Xvfb") is None or shutil.which("sh") is None:
        return False
    proc = subprocess.Popen(["sh", "-c", _GUARD, "xvfb-guard", str(os.getpid())],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10.0)
    line = proc.stdout.readline().decode().strip() if ready else ""
    proc.stdout.close()
    if not line.isdigit():
        return False
    os.environ["DISPLAY"] = f":{line}"
    return True


def _have_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or _start_xvfb()


HAVE_DISPLAY = _have_display()  # before any QApplication exists
NO_DISPLAY = ("napari needs OpenGL through an X display: none is set and Xvfb is not "
              f"installed; apt-get install xvfb {QT_X11_PACKAGES}, or set "
              "ABSPOSE_SKIP_WINDOW_TESTS=1 to skip the window tests")
if HAVE_DISPLAY or os.environ.get("ABSPOSE_SKIP_WINDOW_TESTS"):
    needs_display = pytest.mark.skipif(not HAVE_DISPLAY, reason=NO_DISPLAY)
else:  # a missing display is a failure, not a silent skip
    needs_display = pytest.mark.usefixtures("display_missing")


@pytest.fixture
def display_missing():
    pytest.fail(NO_DISPLAY)


# -- data ------------------------------------------------------------------------------
def stick_figure_frames(n: int = 12, size: tuple[int, int] = (120, 160)) -> list[np.ndarray]:
    """A small figure walking right on a grey background (synthetic footage)."""
    h, w = size
    frames = []
    for t in range(n):
        img = np.full((h, w, 3), 90, np.uint8)
        cx = 40 + 5 * t
        swing = int(12 * np.sin(t / 2))
        body = [((cx, 30), (cx, 70)), ((cx, 70), (cx - 10 + swing, 105)),
                ((cx, 70), (cx + 10 - swing, 105)), ((cx, 42), (cx - 18, 60 + swing // 2)),
                ((cx, 42), (cx + 18, 60 - swing // 2))]
        for a, b in body:
            cv2.line(img, a, b, (230, 200, 170), 5)
        cv2.circle(img, (cx, 22), 8, (240, 210, 180), -1)
        frames.append(img)
    return frames


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """A 12-frame 160x120 mp4."""
    return write_video(tmp_path_factory.mktemp("clip") / "walk.mp4", stick_figure_frames(), 25)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint file of an untrained tiny model (64 x 64 input)."""
    import torch

    from core.checkpoint import save_checkpoint
    from core.models import AbsPoseModel, ModelConfig

    torch.manual_seed(0)
    model = AbsPoseModel(ModelConfig.tiny())
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", model)


def make_track(t: int = 6, source: str = "walk.mp4", seed: int = 0) -> Track:
    """A human track with random keypoints, a few missing, some flips, 3D and boxes."""
    rng = np.random.default_rng(seed)
    j = HUMAN.num_keypoints
    kp = rng.uniform(10, 150, (t, j, 2)).astype(np.float32)
    kp[1, 3] = np.nan
    kp[4, 10] = np.nan
    k3d = rng.normal(0, 0.3, (t, j, 3)).astype(np.float32)
    k3d[..., 2] += 3.0
    flips = np.zeros(t, bool)
    flips[2] = True
    return Track(list(HUMAN.keypoints), kp, rng.uniform(0, 1, (t, j)), k3d, flips, fps=25.0,
                 frame_size=(120, 160), source=source,
                 boxes=np.tile(np.float32([0, 0, 160, 120]), (t, 1)), skeleton=HUMAN)
