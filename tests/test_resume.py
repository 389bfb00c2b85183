"""``--resume`` continues a run exactly, and refuses a state that does not fit the command."""

import errno
import os
import re
import signal
from dataclasses import replace

import pytest
import torch
from train_runs import assert_same_run, run_state, train_here, weights

from aelab.errors import UserError
from aelab.models.mlp.model import MLPAutoencoder
from aelab.training import checkpoint, resume, run_validation
from aelab.training.batches import MemoryBatches
from aelab.training.config import RunConfig
from aelab.training.fused_step import FusedStep
from aelab.training.runtime import make_runtime
from aelab.training.trainer import Trainer

SIGTERM_EXIT = 128 + signal.SIGTERM


@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_two_then_two_more_epochs_equal_four(tiny_root, tmp_path, loader):
    resumed, straight = tmp_path / "resumed.pth", tmp_path / "straight.pth"
    # Noise: the global generator must resume too; clipped on one loader, to carry that flag along.
    common = ("--loader", loader, "--train-noise", 0.1, *(["--clip-noise"] if loader == "stream" else []))
    assert train_here(resumed, tiny_root, "-e", 2, *common) == 0
    assert train_here(resumed, tiny_root, "-e", 4, "--resume", *common) == 0
    assert train_here(straight, tiny_root, "-e", 4, *common) == 0
    assert run_state(resumed)["epoch"] == 4
    assert run_state(resumed)["config"]["train"]["clip_noise"] == (loader == "stream")
    assert_same_run(resumed, straight, exact=True)


EPOCH_LINE = re.compile(r"^epoch +(\d+)/(\d+) ", re.MULTILINE)
BATCHES_PER_EPOCH = 4  # 256 images in batches of 85 (train_runs.SMALL)


def counting_steps(monkeypatch) -> list:
    """Every call of the fused training step appends to the returned list."""
    real_step, steps = FusedStep.__call__, []

    def step(self, images):
        steps.append(len(images))
        return real_step(self, images)

    monkeypatch.setattr(FusedStep, "__call__", step)
    return steps


def test_a_resumed_run_starts_after_the_saved_epoch(tiny_root, tmp_path, monkeypatch, capsys):
    """Not a fresh run that only checked the saved state: it trains and prints epochs 3 and 4 alone,
    and the first two epochs' history is the first run's, carried over rather than recomputed."""
    save = tmp_path / "run.pth"
    steps = counting_steps(monkeypatch)
    assert train_here(save, tiny_root, "-e", 2) == 0
    first_out = capsys.readouterr().out
    assert EPOCH_LINE.findall(first_out) == [("1", "2"), ("2", "2")]
    first = run_state(save)["history"]
    assert len(steps) == 2 * BATCHES_PER_EPOCH
    steps.clear()

    assert train_here(save, tiny_root, "-e", 4, "--resume") == 0
    out = capsys.readouterr().out
    assert f"resuming {save} after epoch 2" in out
    assert EPOCH_LINE.findall(out) == [("3", "4"), ("4", "4")], out
    assert [line[:11] for line in out.splitlines() if line.startswith("epoch")] == ["epoch   3/4", "epoch   4/4"]
    assert len(steps) == 2 * BATCHES_PER_EPOCH  # two epochs trained, not four
    state = run_state(save)
    assert state["epoch"] == 4
    history = state["history"]
    assert len(history["losses"]) == len(history["lrs"]) == len(history["seconds"]) == 4
    assert history["losses"][:2] == first["losses"]  # bit for bit
    assert history["lrs"][:2] == first["lrs"]
    # Wall-clock times: a rerun of epochs 1-2 could not measure the same floats; a carried-over history does.
    assert history["seconds"][:2] == first["seconds"]
    assert history["seconds"][2] > first["seconds"][1]  # the clock continues from the saved run's


def stop_after_epoch(monkeypatch, epoch: int, signum=signal.SIGTERM):
    """Send this process ``signum`` right after the checkpoint of ``epoch`` is written."""
    real_save = checkpoint.save

    def save(path, model, state=None):
        real_save(path, model, state)
        if state["epoch"] == epoch:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(checkpoint, "save", save)


def test_stopped_onecycle_run_resumes_exactly(tiny_root, tmp_path, monkeypatch, capsys):
    """A one-cycle schedule is laid out over all epochs, so the stop comes mid-run."""
    resumed, straight = tmp_path / "resumed.pth", tmp_path / "straight.pth"
    common = ("-e", 4, "--schedule", "onecycle", "--train-noise", 0.1)
    with monkeypatch.context() as patch:
        stop_after_epoch(patch, 2)
        assert train_here(resumed, tiny_root, *common) == SIGTERM_EXIT
    error = capsys.readouterr().err
    assert f"{resumed} keeps epoch 2" in error and "plus --resume" in error
    assert run_state(resumed)["epoch"] == 2
    assert train_here(resumed, tiny_root, *common, "--resume") == 0
    assert train_here(straight, tiny_root, *common) == 0
    assert_same_run(resumed, straight, exact=True)


def test_crash_between_the_two_writes_still_resumes_exactly(tiny_root, tmp_path, monkeypatch, capsys):
    """The state is written first and holds the weights, so a lagging weights file is harmless."""
    resumed, straight = tmp_path / "resumed.pth", tmp_path / "straight.pth"
    real_write = checkpoint.atomic_write
    writes = []

    def write_until_disk_full(path, write):
        writes.append(path)
        if len(writes) == 6:  # epoch 3's weights file, after epoch 3's state
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, write)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write", write_until_disk_full)
        assert train_here(resumed, tiny_root, "-e", 4) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "No space left" in error[0] and "--resume" in error[0]
    assert run_state(resumed)["epoch"] == 3
    assert checkpoint.load_model(resumed)  # epoch 2's weights, whole
    assert not torch.equal(weights(resumed)["fc1.weight"], run_state(resumed)["model"]["fc1.weight"])
    assert train_here(resumed, tiny_root, "-e", 4, "--resume") == 0
    assert train_here(straight, tiny_root, "-e", 4) == 0
    assert_same_run(resumed, straight, exact=True)


@pytest.fixture
def two_epochs(tiny_root, tmp_path):
    path = tmp_path / "run.pth"
    assert train_here(path, tiny_root, "-e", 2) == 0
    return path


@pytest.mark.parametrize(
    "flags,words",
    [
        (["-e", "3", "--lr", "0.01"], "--lr 0.01 differs from the saved run's 0.001"),
        (["-e", "3", "-b", "64"], "--batch-size 64 differs"),
        (["-e", "3", "--loss", "bce"], "--loss bce differs"),
        (["-e", "3", "--recipe", "best"], "--recipe best differs"),
        (["-e", "3", "--clip-noise"], "trained without --clip-noise; drop it"),
        (["-e", "3", "-z", "5"], "(bottleneck differ); pass the original run's --model and model flags"),
        (["-e", "1"], "has trained 2 epochs already; pass -e 2 or more"),
    ],
)
def test_resume_refuses_another_run(two_epochs, tiny_root, capsys, flags, words):
    before = two_epochs.read_bytes(), checkpoint.state_path(two_epochs).read_bytes()
    assert train_here(two_epochs, tiny_root, *flags, "--resume") == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and words in error[0], error
    assert (two_epochs.read_bytes(), checkpoint.state_path(two_epochs).read_bytes()) == before


def test_resume_without_a_saved_run(tiny_root, tmp_path, capsys):
    assert train_here(tmp_path / "none.pth", tiny_root, "-e", 1, "--resume") == 2
    assert "start a new run without --resume" in capsys.readouterr().err
    assert not list(tmp_path.glob("none.pth*"))


def test_state_from_the_other_training_step_is_refused(two_epochs, tiny_root):
    """The fused CPU step keeps one flat Adam state; the autograd step keeps one per tensor."""
    state = run_state(two_epochs)
    saved = RunConfig.from_dict(state["config"])
    run = replace(saved, train=replace(saved.train, step="autograd"))
    model = MLPAutoencoder(run.model)
    runtime = make_runtime("cpu")
    data = torch.rand(256, 784)
    trainer = Trainer(model, run, runtime, MemoryBatches(data, 85, torch.Generator()))
    with pytest.raises(UserError, match="the other training step"):
        resume.restore(trainer, state, two_epochs)


def test_one_cycle_state_laid_out_over_other_batches_is_refused(tiny_root, tmp_path):
    """A one-cycle schedule spans every batch of the run: resumed over more batches, it would run off its end."""
    path = tmp_path / "run.pth"
    assert train_here(path, tiny_root, "-e", 2, "--schedule", "onecycle") == 0
    state = run_state(path)
    run = RunConfig.from_dict(state["config"])
    assert resume.load(path, run)["scheduler"]["total_steps"] == 2 * BATCHES_PER_EPOCH
    model = MLPAutoencoder(run.model)
    data = torch.rand(512, 784)  # twice the images: 7 batches of 85 an epoch, not 4
    trainer = Trainer(model, run, make_runtime("cpu"), MemoryBatches(data, 85, torch.Generator()))
    with pytest.raises(UserError, match="over 8 steps and this run has 14 \\(2 epochs of 7 batches\\)"):
        resume.restore(trainer, state, path)


@pytest.mark.parametrize(
    "device, words",
    [
        (
            "cuda",
            "was trained on a GPU and this run would train on the CPU; its data order and noise "
            "continue exactly only on the same kind of device; pass --device cuda",
        ),
        ("tpu", "is damaged or not from train.py (unknown device 'tpu')"),
    ],
)
def test_state_from_another_kind_of_device_is_refused(two_epochs, tiny_root, capsys, device, words):
    """A CUDA shuffle generator's state does not load into a CPU one (nor the other way)."""
    state_file = checkpoint.state_path(two_epochs)
    assert run_state(two_epochs)["device"] == "cpu"
    torch.save({**run_state(two_epochs), "device": device}, state_file)
    before = two_epochs.read_bytes(), state_file.read_bytes()
    assert train_here(two_epochs, tiny_root, "-e", 3, "--resume") == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and words in error[0], error
    assert (two_epochs.read_bytes(), state_file.read_bytes()) == before


def earlier_layout(state: dict) -> dict:
    """``state`` as run states were written before the nested config: the data's fields and the
    recipe inside the training config, and the model's config beside it."""
    config = state["config"]
    return {
        **{key: value for key, value in state.items() if key != "config"},
        "train_config": {**config["train"], **config["data"], "recipe": config["recipe"]},
        "model_config": config["model"],
    }


def test_a_run_state_of_the_earlier_layout_still_resumes_exactly(tiny_root, tmp_path, capsys):
    """Files written before the nested config keep loading: checked, compared and continued as before."""
    resumed, straight = tmp_path / "resumed.pth", tmp_path / "straight.pth"
    assert train_here(resumed, tiny_root, "-e", 2) == 0
    state = run_state(resumed)
    torch.save(earlier_layout(state), checkpoint.state_path(resumed))
    assert "config" not in run_state(resumed)
    assert run_validation.run_state(run_state(resumed)) == RunConfig.from_dict(state["config"])
    capsys.readouterr()
    assert train_here(resumed, tiny_root, "-e", 3, "--recipe", "best", "--resume") == 2  # its recipe is read too
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--recipe best differs from the saved run's lab" in error[0], error
    assert train_here(resumed, tiny_root, "-e", 4, "--resume") == 0
    assert f"resuming {resumed} after epoch 2" in capsys.readouterr().out
    saved = RunConfig.from_dict(state["config"])
    assert RunConfig.from_dict(run_state(resumed)["config"]) == replace(saved, train=replace(saved.train, epochs=4))
    assert train_here(straight, tiny_root, "-e", 4) == 0
    assert_same_run(resumed, straight, exact=True)


def test_a_run_state_of_the_earlier_layout_reads_as_its_run_config(two_epochs):
    state = run_state(two_epochs)
    assert RunConfig.from_dict(earlier_layout(state)) == RunConfig.from_dict(state["config"])
