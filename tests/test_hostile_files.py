"""Hostile and broken inputs: one line, exit code 2, no traceback, nothing run or overwritten.
Inputs drawn at random by hypothesis are test_hostile_fuzz.py's."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, write_mnist
from train_runs import RUN_TIMEOUT_S, child_env, our_error_lines, train_args, train_command, train_here

from aelab.training import checkpoint


class WritesAFile:
    """Unpickling this would create ``path``: proof that loading ran code."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=child_env())


def assert_one_line(result: subprocess.CompletedProcess, *words: str, prog: str = "train.py") -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and our_error_lines(result.stderr, prog) == lines, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def saved_run(tiny_root, tmp_path):
    path = tmp_path / "run.pth"
    assert train_here(path, tiny_root, "-e", 1) == 0
    return path


def test_code_running_pickles_are_refused_not_run(saved_run, tiny_root, tmp_path):
    marker = tmp_path / "ran"
    state = checkpoint.state_path(saved_run)
    torch.save({"epoch": 1, "optimizer": WritesAFile(marker)}, state)
    before = saved_run.read_bytes(), state.read_bytes()
    result = run(train_command(*train_args(saved_run, tiny_root, "-e", 2, "--resume")))
    assert_one_line(result, "refusing to load", "could run code")
    evil = tmp_path / "evil.pth"
    torch.save({"fc1.weight": WritesAFile(marker)}, evil)
    result = run(
        [
            sys.executable,
            str(REPO / "lab1.py"),
            "-l",
            str(evil),
            "--index",
            "0",
            "--pair",
            "0",
            "1",
            "--no-show",
            "--data-root",
            str(tiny_root),
        ]
    )
    assert_one_line(result, "could run code", prog="lab1.py")
    assert not marker.exists()
    assert (saved_run.read_bytes(), state.read_bytes()) == before


@pytest.mark.parametrize(
    "damage,words",
    [
        (lambda b: b[: len(b) // 2], ["not a readable PyTorch checkpoint"]),
        (lambda b: b[:100] + bytes(len(b) - 100), ["not a readable PyTorch checkpoint"]),
        (lambda b: b"", ["not a readable PyTorch checkpoint"]),
    ],
)
def test_damaged_run_state_is_refused_and_kept(saved_run, tiny_root, damage, words):
    state = checkpoint.state_path(saved_run)
    state.write_bytes(damage(state.read_bytes()))
    before = saved_run.read_bytes(), state.read_bytes()
    assert_one_line(run(train_command(*train_args(saved_run, tiny_root, "-e", 2, "--resume"))), *words)
    assert (saved_run.read_bytes(), state.read_bytes()) == before


@pytest.mark.parametrize(
    "state",
    [
        {"epoch": 1},
        {
            "epoch": "one",
            "history": {},
            "optimizer": {},
            "scheduler": {},
            "rng": [],
            "model": {},
            "model_config": {},
            "train_config": {},
        },
        {"epoch": 1, "history": {}, "optimizer": {}, "scheduler": {}, "rng": [], "model": {}, "config": "x"},
        [1, 2, 3],
    ],
)
def test_foreign_run_states_are_refused(saved_run, tiny_root, capsys, state):
    torch.save(state, checkpoint.state_path(saved_run))
    assert train_here(saved_run, tiny_root, "-e", 2, "--resume") == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and ("damaged" in error[0] or "not a run state" in error[0]), error


def test_run_state_of_another_architecture(saved_run, tiny_root, capsys):
    state = torch.load(checkpoint.state_path(saved_run), weights_only=True)
    state["model"] = torch.nn.Conv2d(1, 2, 3).state_dict()
    torch.save(state, checkpoint.state_path(saved_run))
    assert train_here(saved_run, tiny_root, "-e", 2, "--resume") == 2
    assert "damaged" in capsys.readouterr().err


@pytest.mark.parametrize(
    "file,damage,words",
    [
        ("train-images-idx3-ubyte", lambda b: b"\x00\x00\x09\x03" + b[4:], "IDX"),  # unknown type code
        ("train-labels-idx1-ubyte", lambda b: b[: 8 + 100], "IDX"),  # 100 labels for 256 images
        ("t10k-images-idx3-ubyte", lambda b: b[:3], "IDX"),
    ],
)
def test_broken_idx_files(tmp_path, file, damage, words):
    root = write_mnist(tmp_path / "data")
    path = root / "MNIST" / "raw" / file
    path.write_bytes(damage(path.read_bytes()))
    result = run(train_command("-e", 1, "-s", tmp_path / "m.pth", "--data-root", root))
    assert_one_line(result, words)
    assert not (tmp_path / "m.pth").exists()
