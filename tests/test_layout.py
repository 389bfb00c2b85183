"""The package's shape: imports run one way, files stay short, and ``--help`` answers at once."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "src" / "aelab"
MAX_LINES = 300
HEAVY = ("torch", "torchvision", "matplotlib", "fastapi", "uvicorn", "numpy")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports, at any depth of the file (top level or in a function)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + (node.module.split(".") if node.module else []))
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports that returns to its start, or None."""
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep, path + [dep])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [node])):
            return cycle
    return None


def test_no_module_imports_one_that_imports_it_back():
    # Importing a module runs its package's __init__ too: the graph has the packages as nodes.
    cycle = find_cycle(package_graph())
    assert cycle is None, " -> ".join(cycle)


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path, monkeypatch):
    package = tmp_path / "aelab"
    for name, text in {
        "__init__.py": "",
        "training/__init__.py": "",
        "analysis/__init__.py": "",
        "training/x.py": "def f():\n    from ..analysis import y\n",
        "analysis/y.py": "from ..training.x import f\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert find_cycle(package_graph()) in (
        ["aelab.analysis.y", "aelab.training.x", "aelab.analysis.y"],
        ["aelab.training.x", "aelab.analysis.y", "aelab.training.x"],
    )


def test_no_source_file_is_longer_than_a_screenful_of_screens():
    long = {
        str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "aelab", "--help"],
        ["-m", "aelab", "train", "--help"],
        ["-m", "aelab", "serve", "--help"],
        ["-m", "aelab", "bench", "--help"],
        [str(REPO / "train.py"), "--help"],
        [str(REPO / "lab1.py"), "--help"],
    ],
)
def test_help_imports_no_heavy_library(command):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "aelab" in imported  # the check reads the real import log
    assert not imported & set(HEAVY), imported & set(HEAVY)
