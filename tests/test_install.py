"""A wheel carries everything a user who does not clone needs: built from this tree,
installed into a fresh virtual environment outside it, ``abspose demo`` runs there on
the default model and the sample clip that came inside the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("core", "training", "napari_abspose", "sample_data", "pyproject.toml", "README.md")
SHIPPED = ("default_human_5ch.pt", "MODEL_CARD.md", "sample_clip.mp4", "sample_clip.npz")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the wheel, the venv's python, its site-packages) with only the wheel of this
    tree installed; its dependencies are read from the running environment's
    site-packages."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(tmp / "dist"), str(src)], cwd=tmp)
    wheel = next((tmp / "dist").glob("napari_abspose-*.whl"))
    env_dir = tmp / "env"
    run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=tmp)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--quiet", str(wheel)], cwd=tmp)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                     "['purelib'])"], cwd=tmp).strip())
    # The dependencies (torch, anny, ...) from this environment, behind the wheel's own
    # packages; this environment's editable install of the clone is not read from here.
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return wheel, python, site


def test_the_sample_data_folder_holds_what_the_wheel_ships():
    from core.checkpoint import sample_data_dir

    shipped = {p.name for p in sample_data_dir().iterdir() if p.is_file()}
    assert set(SHIPPED) <= shipped


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_demo_runs_from_a_wheel_outside_the_clone(installed, tmp_path):
    wheel, python, site = installed
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    for name in SHIPPED:
        assert f"sample_data/{name}" in names

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = run([str(python), "-c", "import core, sample_data; from core.checkpoint import "
                 "default_checkpoint_path; print(core.__file__); "
                 "print(default_checkpoint_path())"], cwd=tmp_path, env=env).split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # not the clone's
    out = run([str(python.parent / "abspose"), "demo", "--no-progress"], cwd=tmp_path,
              env=env)
    assert "error against the clip's labels (125 frames)" in out
    assert (tmp_path / "abspose-demo" / "sample_clip_overlay.mp4").is_file()
