"""The wheel holds the whole package, and `pip install` of it alone gives a working aelab.

The editable install the other tests run against reads files straight from src/, so a package
data file (the explorer's page), a family package or the console script missing from the wheel
would pass them all and fail only for a user of `pip install aelab`. The first test reads the
built wheel; the slow one installs it with its dependencies into a fresh venv and runs the
README's Python example there.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, write_mnist
from test_docs_code import python_blocks

SRC = REPO / "src" / "aelab"
BUILD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 1200  # torch and its CUDA wheels from the local index: about a minute here
RUN_TIMEOUT_S = 600
# Variables that would make the fresh venv import something other than its own aelab.
LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in LEAKY_VARIABLES}


def run(command: list, timeout: int, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=clean_env(), **kwargs)
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built, offline, from a copy of the checkout (setuptools writes build/ and
    egg-info beside the sources it builds, and the checkout is shared)."""
    tree, out = tmp_path_factory.mktemp("tree"), tmp_path_factory.mktemp("dist")
    for path in REPO.iterdir():
        if path.is_file():  # pyproject.toml, README.md (the long description), LICENSE
            shutil.copy2(path, tree / path.name)
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run([*pip_wheel, "-w", str(out), str(tree)], BUILD_TIMEOUT_S)
    (built,) = out.glob("aelab-*.whl")
    return built


def family_packages() -> list[str]:
    return sorted(p.parent.name for p in (SRC / "models").glob("*/__init__.py"))


def test_the_wheel_holds_the_package_its_data_and_the_command(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    static = sorted(p.name for p in (SRC / "web" / "static").iterdir() if p.is_file())
    assert "index.html" in static
    missing = [f"aelab/web/static/{name}" for name in static if f"aelab/web/static/{name}" not in names]
    assert not missing, f"the explorer's page would not load: {missing}"
    assert "aelab/py.typed" in names

    families = family_packages()
    assert {"mlp", "conv", "vae"} <= set(families)
    for family in families:
        for module in (SRC / "models" / family).glob("*.py"):
            assert f"aelab/models/{family}/{module.name}" in names, f"family {family} lacks {module.name}"
    modules = {f"aelab/{p.relative_to(SRC).as_posix()}" for p in SRC.rglob("*.py") if "__pycache__" not in p.parts}
    assert not modules - names, f"modules left out of the wheel: {sorted(modules - names)}"

    (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
    entry_points = configparser.ConfigParser()
    entry_points.read_string(zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode())
    assert entry_points["console_scripts"]["aelab"].strip() == "aelab.launch:main"
    version = re.search(r'^__version__ = "([^"]+)"', (SRC / "__init__.py").read_text(), re.MULTILINE).group(1)
    assert wheel.name.startswith(f"aelab-{version}-"), "the wheel's version is not the package's __version__"


@pytest.mark.slow
def test_a_fresh_venv_with_only_the_wheel_runs_the_readme(wheel, tmp_path):
    venv = tmp_path / "venv"
    try:
        run([sys.executable, "-m", "venv", str(venv)], RUN_TIMEOUT_S)
        python = venv / "bin" / "python"
        # The eval extra: the README scores the model, and scoring needs torchmetrics.
        run([str(python), "-m", "pip", "install", f"{wheel}[eval]"], INSTALL_TIMEOUT_S)

        folder = tmp_path / "work"
        write_mnist(folder / "data")
        example = "\n".join(python_blocks((REPO / "README.md").read_text(encoding="utf-8")))
        assert "import aelab" in example
        (folder / "readme_example.py").write_text(example, encoding="utf-8")
        run([str(python), "readme_example.py"], RUN_TIMEOUT_S, cwd=folder)
        assert (folder / "reconstructions.png").stat().st_size > 0

        where = run([str(python), "-c", "import aelab; aelab.load; print(aelab.__file__)"], RUN_TIMEOUT_S, cwd=folder)
        imported = Path(where.stdout.strip()).resolve()
        assert imported.is_relative_to(venv.resolve()), f"imported {imported}, not the wheel's aelab"
        usage = run([str(venv / "bin" / "aelab"), "--help"], RUN_TIMEOUT_S, cwd=folder)
        assert "usage: aelab" in usage.stdout and "train" in usage.stdout
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # torch and CUDA's wheels: several GB
