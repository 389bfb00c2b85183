"""Property-based hostile input: no flag value, config, damaged checkpoint or damaged IDX file makes
a validator or loader fail any way but a UserError on one line (hypothesis draws the inputs).
The hand-picked cases are test_hostile_files.py's."""

import argparse
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_mnist
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_runs import train_here

from aelab.cli import args as arg_types
from aelab.cli import script_main
from aelab.data import datasets as datasets_module
from aelab.data.images import load_images
from aelab.errors import UserError
from aelab.training import checkpoint, resume
from aelab.training.config import RunConfig, TrainConfig

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
            resume.load(path, RunConfig.create(bottleneck=4, hidden=32, batch_size=32, epochs=2, seed=0))
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
