"""Good checkpoints of each kind of run, and the edits that make hostile files of them.

Registered in ``conftest.py``, so every checkpoint-validation module shares one ``good`` set of files
(trained once per session) and the ``no_model`` guard.
"""

import math

import pytest
import torch
from conftest import write_mnist
from train_runs import train_here

from aelab.errors import UserError
from aelab.models.mlp.model import MLPAutoencoder, autoencoderMLP4Layer
from aelab.training import checkpoint
from aelab.training.config import RunConfig

RUNS = {"fused": (), "autograd": ("--step", "autograd"), "onecycle": ("--schedule", "onecycle")}


@pytest.fixture(scope="session")
def good(tmp_path_factory):
    """Bytes of a good weights file and run state for each kind of run, and the data they came from."""
    folder = tmp_path_factory.mktemp("good")
    root = write_mnist(folder / "data")
    files = {"root": root}
    for name, flags in RUNS.items():
        path = folder / f"{name}.pth"
        assert train_here(path, root, "-e", 1, *flags) == 0
        files[name] = path.read_bytes(), checkpoint.state_path(path).read_bytes()
    torch.save(autoencoderMLP4Layer().state_dict(), folder / "lab.pth")  # the lab's own saving line
    files["lab"] = (folder / "lab.pth").read_bytes()
    return files


def copy_of(good, tmp_path, run: str = "fused"):
    path = tmp_path / "MLP.8.pth"
    path.write_bytes(good[run][0])
    checkpoint.state_path(path).write_bytes(good[run][1])
    return path


def small_run(**settings) -> RunConfig:
    """The run ``train_runs.SMALL`` trains (784-32-4, batches of 85, seed 0), ``settings`` laid over it."""
    return RunConfig.create(bottleneck=4, hidden=32, batch_size=85, seed=0, **settings)


def saved_run(path) -> RunConfig:
    """The run config recorded in the run state beside ``path``: the command that resumes it as it was."""
    return RunConfig.from_dict(torch.load(checkpoint.state_path(path), weights_only=True)["config"])


def edit(path, change) -> None:
    """Load ``path`` as torch does (metadata kept), apply ``change``, save it back."""
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


@pytest.fixture
def no_model(monkeypatch):
    """Building a model fails the test: a refusal must come before any allocation. A model on the
    meta device allocates nothing: the validators build one to read the tensors a config makes."""
    real_init = MLPAutoencoder.__init__

    def built(self, *args, **kwargs):
        if torch.get_default_device().type != "meta":
            raise AssertionError("a model was built before the file was refused")
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(MLPAutoencoder, "__init__", built)


def refused(path, *words) -> str:
    with pytest.raises(UserError) as caught:
        checkpoint.load_model(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def saved_config(state) -> dict:
    return state._metadata[""][checkpoint.CONFIG_KEY]


def config_edit(**values):
    return lambda state: saved_config(state).update(values)


def set_item(key, value):
    def change(state):
        state[key] = value(state[key]) if callable(value) else value

    return change


def optimizer_edit(change):
    return lambda state: change(state["optimizer"]["param_groups"][0], state["optimizer"]["state"])


def nan_at(key, value=math.nan):
    def change(state):
        state[key] = state[key].clone()
        state[key].view(-1)[0] = value

    return change
