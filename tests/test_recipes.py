"""The better recipe is a first-class choice, and the lab's stays the default."""

import subprocess
import sys

import pytest
import torch
from conftest import REPO

from aelab.cli import script_main
from aelab.errors import UserError
from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import autoencoderMLP4Layer
from aelab.training import checkpoint
from aelab.training.config import RunConfig, TrainConfig


def train(root, path, *extra):
    args = ["-z", "4", "-e", "2", "-b", "64", "-s", str(path), "--seed", "3", "--data-root", str(root), *extra]
    assert script_main("train", args) == 0
    return path


def test_the_lab_recipe_is_the_dataclass_defaults_and_recipes_split_by_config():
    assert registry.get("mlp").recipes["lab"] == {}
    assert RunConfig.create() == RunConfig()
    defaults, shape = TrainConfig(), ModelConfig()
    # the lab's report: Adam 1e-3 with weight decay 1e-5, ReduceLROnPlateau, mean MSE, batch 2048
    assert (defaults.lr, defaults.weight_decay, defaults.schedule, defaults.loss, defaults.batch_size) == (
        1e-3,
        1e-5,
        "plateau",
        "mse",
        2048,
    )
    assert (shape.input_dim, shape.hidden, shape.bottleneck, shape.code_activation) == (784, 392, 8, "relu")
    best = RunConfig.create(recipe="best", hidden=100, lr=None)
    assert best.model == ModelConfig(code_activation="none", hidden=100) and best.recipe == "best"
    assert best.train.lr == 1e-2 and best.train.batch_size == 256
    with pytest.raises(UserError, match="'width' is not a setting"):
        RunConfig.create(width=3)


def test_lab_recipe_equals_no_options(tiny_root, tmp_path):
    plain = torch.load(train(tiny_root, tmp_path / "plain.pth"), weights_only=True)
    lab = torch.load(train(tiny_root, tmp_path / "lab.pth", "--recipe", "lab"), weights_only=True)
    explicit = torch.load(
        train(
            tiny_root,
            tmp_path / "explicit.pth",
            "--code-activation",
            "relu",
            "--loss",
            "mse",
            "--schedule",
            "plateau",
            "--lr",
            "1e-3",
            "--weight-decay",
            "1e-5",
            "--hidden",
            "392",
        ),
        weights_only=True,
    )
    for key in plain:
        assert torch.allclose(plain[key], lab[key]) and torch.allclose(plain[key], explicit[key]), key


def test_options_round_trip_through_the_checkpoint(tiny_root, tmp_path):
    path = train(tiny_root, tmp_path / "best.pth", "--recipe", "best", "--hidden", "100", "--lr", "2e-3")
    model = checkpoint.load_model(path)
    assert model.config.code_activation == "none" and model.config.hidden == 100
    saved = checkpoint.load_run_state(path)["config"]
    assert saved["recipe"] == "best"
    saved = saved["train"]
    assert saved["loss"] == "bce" and saved["schedule"] == "onecycle"
    assert saved["lr"] == 2e-3 and saved["weight_decay"] == 0.0 and saved["batch_size"] == 64
    assert saved["train_noise"] == 0.1
    plain = checkpoint.load_run_state(
        train(tiny_root, tmp_path / "quiet.pth", "--recipe", "best", "--train-noise", "0")
    )["config"]["train"]
    assert plain["train_noise"] == 0.0  # an explicit option overrides the recipe, zero included


def test_linear_code_checkpoint_loads_in_the_labs_code(tiny_root, tmp_path):
    path = train(tiny_root, tmp_path / "linear.pth", "--code-activation", "none")
    state = torch.load(path)  # the lab's own loading line
    lab_model = autoencoderMLP4Layer(N_bottleneck=4)
    lab_model.load_state_dict(state)
    assert state._metadata[""][checkpoint.CONFIG_KEY]["code_activation"] == "none"


def test_best_recipe_loss_falls(tiny_root, tmp_path):
    path = tmp_path / "b.pth"
    assert (
        script_main(
            "train",
            [
                "-z",
                "4",
                "-e",
                "4",
                "-b",
                "32",
                "-s",
                str(path),
                "--seed",
                "0",
                "--recipe",
                "best",
                "--data-root",
                str(tiny_root),
            ],
        )
        == 0
    )
    losses = checkpoint.load_run_state(path)["history"]["losses"]
    assert losses[-1] < losses[0] * 0.9


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--recipe", "fastest"),
        ("--loss", "l1"),
        ("--schedule", "cosine"),
        ("--code-activation", "tanh"),
        ("--hidden", "0"),
        ("--lr", "-1"),
        ("--weight-decay", "-0.1"),
        ("--lr", "nan"),
    ],
)
def test_bad_recipe_options(tiny_root, tmp_path, flag, value):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "-e",
            "1",
            "-s",
            str(tmp_path / "m.pth"),
            "--data-root",
            str(tiny_root),
            flag,
            value,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert flag in result.stderr
    assert not (tmp_path / "m.pth").exists()
