"""Can a napari window open here? Asked before napari starts, because Qt answers a
missing display or missing X libraries by aborting the whole process (``Could not load
the Qt platform plugin "xcb"``, exit 134) with a page of hints.

:func:`display_problem` tries Qt's platform plugin in a child process and turns a
failure into one line that says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# What Qt 5's xcb platform plugin needs on Debian and Ubuntu, beyond an X server.
QT_X11_PACKAGES = ("libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
                   "libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 "
                   "libxcb-xkb1 libxkbcommon-x11-0 libgl1 libegl1 libfontconfig1 libdbus-1-3")
# Platforms that draw without a window system.
_NO_WINDOW_SYSTEM = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")
_PROBE = ("import sys\n"
          "from qtpy.QtWidgets import QApplication\n"
          "app = QApplication(sys.argv[:1])\n")
_PLUGIN_PATH = ("from qtpy.QtCore import QLibraryInfo\n"
                "print(QLibraryInfo.location(QLibraryInfo.PluginsPath))\n")


def missing_qt_libraries(timeout: float = 60.0) -> list[str]:
    """The shared libraries that Qt's xcb plugin links to and this system lacks (found
    with ``ldd``; empty when that cannot be told)."""
    if shutil.which("ldd") is None:
        return []
    try:
        out = subprocess.run([sys.executable, "-c", _PLUGIN_PATH], capture_output=True,
                             text=True, timeout=timeout).stdout.strip()
        plugin = os.path.join(out, "platforms", "libqxcb.so")
        if not os.path.isfile(plugin):
            return []
        ldd = subprocess.run(["ldd", plugin], capture_output=True, text=True,
                             timeout=timeout).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split()[0] for line in ldd.splitlines() if "not found" in line})


def display_problem(command: str = "abspose review VIDEO", timeout: float = 60.0
                    ) -> str | None:
    """Why a napari window cannot open on this machine, in one line, or None when it
    can (or when only starting it would tell: not Linux, or a platform without a window
    system such as ``QT_QPA_PLATFORM=offscreen``).

    Args:
        command: the command to name in the advice to run it under Xvfb.
        timeout: seconds to give the child process that tries Qt.
    """
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in _NO_WINDOW_SYSTEM:
        return None
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display to open the napari window on (DISPLAY is not set): run it on "
                "a machine with a screen, over `ssh -X`, or headless under Xvfb: "
                f"`xvfb-run -a {command}`")
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True,
                               text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"Qt did not start a window within {timeout:.0f} s on display " \
               f"{os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')}"
    if probe.returncode == 0:
        return None
    missing = missing_qt_libraries(timeout)
    if missing:
        return (f"Qt cannot load its window system plugin (xcb): missing {', '.join(missing)}; "
                f"install the X libraries Qt needs: sudo apt-get install {QT_X11_PACKAGES}")
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return (f"Qt cannot open a window on display {display} (is the X server running and "
            f"may this user connect to it?); headless, use `xvfb-run -a {command}`")
