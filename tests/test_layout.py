"""The package layout holds: no import cycle among the project's modules, counting every
import (at the top of a file, inside a function, under ``TYPE_CHECKING``), and
dependencies that point one way, ``napari_abspose -> training -> core``."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "training", "napari_abspose")
LAYER = {"core": 0, "training": 1, "napari_abspose": 2}
GUI = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt",
       "vispy")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """Every (module imported, line) of one file; ``from package import submodule``
    counts as importing the submodule, any other name as importing the package."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[:len(here) - node.level + 1]
                base = ".".join(here + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in known else base, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    mods = modules()
    known = set(mods)
    return {name: [(m, line) for m, line in imports(name, path, known) if m in known]
            for name, path in mods.items()}


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module that
    imports itself), by Tarjan's algorithm."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w, _ in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or any(w == v for w, _ in edges[v]):
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    edges = graph()
    assert len(edges) > 100  # every module of the three packages was read
    found = cycles(edges)
    detail = [" <-> ".join(c) + ": " + "; ".join(
        f"{a} imports {b} (line {line})" for a in c for b, line in edges[a] if b in c)
        for c in found]
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_the_cycle_check_finds_a_cycle():
    edges = {"a": [("b", 1)], "b": [("c", 3)], "c": [("a", 7)], "d": [("a", 2)]}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": [("a", 1)], "b": []}) == [["a"]]
    assert cycles({"a": [("b", 1)], "b": []}) == []


def test_dependencies_point_one_way():
    wrong = []
    for name, path in modules().items():
        layer = LAYER[name.split(".")[0]]
        for other, line in imports(name, path, set()):
            top = other.split(".")[0]
            if top in LAYER and LAYER[top] > layer:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {other}")
            if layer < LAYER["napari_abspose"] and top in GUI:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {other} (GUI)")
    assert not wrong, "imports against napari_abspose -> training -> core:\n" + "\n".join(wrong)


@pytest.mark.slow  # one interpreter per module: minutes; the cycle check above is static
@pytest.mark.parametrize("package", ["core", "training"])
def test_every_module_imports_in_a_fresh_interpreter(package):
    """Each module on its own, the first import of a fresh interpreter (``napari_abspose``
    is imported by its own tests, with Qt)."""
    names = [n for n in modules() if n.split(".")[0] == package]
    code = ("import importlib, subprocess, sys\n"
            "for name in sys.argv[1:]:\n"
            "    r = subprocess.run([sys.executable, '-c', f'import {name}'],\n"
            "                       capture_output=True, text=True)\n"
            "    if r.returncode:\n"
            "        print(name, r.stderr.strip().splitlines()[-1])\n")
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True,
                            text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", "modules that fail to import first:\n" + result.stdout


MAP = ROOT / "docs" / "architecture.md"


def package_map() -> dict[str, list[str]]:
    """The package map's sections: package folder -> the module files it names, in the
    order it names them."""
    sections, current = {}, None
    for line in MAP.read_text().splitlines():
        heading = re.fullmatch(r"### `([\w/]+)/`", line.strip())
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif current is not None:
            current += [m for m in re.findall(r"`(\w+\.py)`", line) if m not in current]
    return sections


def test_the_package_map_names_every_package_and_module():
    sections = package_map()
    folders = {str(p.parent.relative_to(ROOT)) for pkg in PACKAGES
               for p in (ROOT / pkg).rglob("__init__.py")}
    assert set(sections) == folders
    for folder, named in sections.items():
        files = {p.name for p in (ROOT / folder).glob("*.py")}
        assert set(named) == files, f"{folder}: not named {sorted(files - set(named))}, " \
                                    f"no such file {sorted(set(named) - files)}"


def test_the_package_map_lists_each_package_from_the_bottom_up():
    """A module imports only the modules of its package named before it in the map."""
    edges, wrong = graph(), []
    for folder, named in package_map().items():
        package = folder.replace("/", ".")
        rank = {f"{package}.{m[:-3]}" if m != "__init__.py" else package: i
                for i, m in enumerate(named)}
        for module, i in rank.items():
            for other, line in edges[module]:
                if other in rank and rank[other] >= i and other != module:
                    wrong.append(f"{module} (line {line}) imports {other}, named after it")
    assert not wrong, "\n".join(wrong)
