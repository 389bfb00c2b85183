"""Helpers for tests that run train.py: in this process, as a child process, or under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from conftest import REPO

from aelab.cli import script_main

RUN_TIMEOUT_S = 240  # a tiny run takes seconds; this only stops a hung one
# A small network on the 256-image fixture: 256 = 3 x 85 + 1, so every epoch ends with a
# one-image batch, and 85 does not split evenly over 2 processes either.
SMALL = ("-z", "4", "--hidden", "32", "-b", "85", "--seed", "0", "--no-progress")


def child_env() -> dict:
    # One thread per process: the test machine's cores are shared, and torchrun starts several.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train_args(save: Path, root: Path, *extra) -> list[str]:
    return [*SMALL, "-s", str(save), "--data-root", str(root), *map(str, extra)]


def train_here(save: Path, root: Path, *extra) -> int:
    return script_main("train", train_args(save, root, *extra))


def train_command(*args) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), *map(str, args)]


CONSOLE_SCRIPT = Path(sys.executable).with_name("aelab")


def torchrun(
    save: Path, root: Path, *extra, nproc: int = 2, console: bool = False, script: Path = REPO / "train.py"
) -> subprocess.CompletedProcess:
    """``script`` (train.py) under torchrun, or with ``console`` the ``aelab train`` console script."""
    program = ["--no-python", str(CONSOLE_SCRIPT), "train"] if console else [str(script)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        *program,
        *train_args(save, root, *extra),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=child_env())


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def run_state(path: Path) -> dict:
    return torch.load(f"{path}.state", weights_only=True)


def assert_same_run(a: Path, b: Path, exact: bool = False) -> None:
    """Every parameter and the loss history of two runs agree (bit for bit when ``exact``)."""
    wa, wb = weights(a), weights(b)
    assert list(wa) == list(wb)
    for key in wa:
        if exact:
            assert torch.equal(wa[key], wb[key]), key
        else:
            assert torch.allclose(wa[key], wb[key], rtol=1e-4, atol=1e-6), (key, (wa[key] - wb[key]).abs().max())
    ha, hb = run_state(a)["history"], run_state(b)["history"]
    assert ha["lrs"] == hb["lrs"]
    if exact:
        assert ha["losses"] == hb["losses"]
    else:
        assert torch.allclose(torch.tensor(ha["losses"]), torch.tensor(hb["losses"]), rtol=1e-5)


def our_error_lines(stderr: str, prog: str = "train.py") -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{prog}: error:")]
