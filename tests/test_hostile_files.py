"""Hostile and broken inputs: one line, exit code 2, no traceback, nothing run or overwritten."""

import argparse
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, write_mnist
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_runs import RUN_TIMEOUT_S, child_env, our_error_lines, train_args, train_command, train_here

from aelab.cli import args as arg_types
from aelab.cli import script_main
from aelab.data import datasets as datasets_module
from aelab.data.images import load_images
from aelab.errors import UserError
from aelab.training import checkpoint, resume
from aelab.training.config import TrainConfig

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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


# Property-based: no input makes a validator or loader fail any way but a UserError.

FLAG_VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-0", "1e309", "nan", "-inf", "0x10", "1_000", " 7 ", "٣"]),
)


@given(text=FLAG_VALUES)
def test_argument_types_accept_or_explain(text):
    for convert in (
        arg_types.positive_int,
        arg_types.non_negative_int,
        arg_types.seed,
        arg_types.positive_float,
        arg_types.non_negative_float,
    ):
        try:
            value = convert(text)
        except argparse.ArgumentTypeError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert math.isfinite(value) and value >= 0


class DataReached(Exception):
    """Validation passed: the command went on to read the data."""


def reach_data(*args, **kwargs):
    raise DataReached()


@FUZZ
@given(
    flag=st.sampled_from(
        [
            "-z",
            "-e",
            "-b",
            "--seed",
            "--hidden",
            "--lr",
            "--weight-decay",
            "--train-noise",
            "--device",
            "--precision",
            "--loader",
            "--recipe",
            "--loss",
            "--schedule",
            "--code-activation",
            "--dataset",
        ]
    ),
    value=FLAG_VALUES,
)
def test_every_train_flag_value_is_accepted_or_refused_in_one_line(flag, value, monkeypatch, capsys):
    monkeypatch.setattr(datasets_module, "load_splits", reach_data)
    with tempfile.TemporaryDirectory() as folder:
        try:
            code = script_main("train", ["-s", os.path.join(folder, "m.pth"), flag, value])
        except SystemExit as stop:
            code = stop.code
        except DataReached:
            code = 0
        assert os.listdir(folder) == []  # nothing written either way
    error = capsys.readouterr().err.strip().splitlines()
    if code != 0:
        assert code == 2 and len(error) == 1 and "error:" in error[0], error


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            "epochs": st.one_of(st.integers(-5, 5), st.floats(), st.text(max_size=3)),
            "batch_size": st.one_of(st.integers(-5, 5), st.booleans()),
            "lr": st.floats(),
            "weight_decay": st.floats(),
            "train_noise": st.floats(),
            "loss": st.text(max_size=4),
            "schedule": st.sampled_from(["plateau", "onecycle", "x"]),
        },
    )
)
def test_train_config_accepts_or_explains(values):
    try:
        TrainConfig(**values)
    except UserError as err:
        assert "\n" not in str(err)
    except TypeError:  # a non-number where a number goes: only code, never the CLI, passes one
        assert any(isinstance(v, str) for v in values.values())


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    path = folder / "run.pth"
    assert train_here(path, write_mnist(folder / "data", n_train=64, n_test=16), "-e", 1, "-b", 32) == 0
    raw = folder / "data" / "MNIST" / "raw"
    return {
        "weights": path.read_bytes(),
        "state": checkpoint.state_path(path).read_bytes(),
        "idx": {f.name: f.read_bytes() for f in raw.iterdir()},
    }


def damaged_bytes(data: bytes, draw) -> bytes:
    """Truncated, or with a few bytes overwritten: the ways a copy or a disk breaks a file."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.filterwarnings("error")  # a warning would be a second line on the user's screen
@FUZZ
@given(draw=st.data())
def test_damaged_checkpoints_load_or_explain(good_files, draw):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.pth"
        path.write_bytes(damaged_bytes(good_files["weights"], draw.draw))
        checkpoint.state_path(path).write_bytes(damaged_bytes(good_files["state"], draw.draw))
        try:
            checkpoint.load_model(path)
        except UserError as err:
            assert "\n" not in str(err)
        try:
            resume.load(path, TrainConfig(epochs=2, batch_size=32, seed=0))
        except UserError as err:
            assert "\n" not in str(err)


@FUZZ
@given(draw=st.data(), file=st.sampled_from(["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]))
def test_damaged_idx_files_load_or_explain(good_files, draw, file):
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name, data in good_files["idx"].items():
            (raw / name).write_bytes(damaged_bytes(data, draw.draw) if name == file else data)
        try:
            images = load_images("mnist", folder, train=True, download=False)
        except UserError as err:
            assert "\n" not in str(err)
        else:
            assert images.images.dtype == torch.uint8 and len(images.labels) == len(images)
            assert np.isfinite(images.floats().numpy()).all()
