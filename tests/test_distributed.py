"""Data-parallel training: two gloo processes under torchrun take the steps one process takes."""

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from train_runs import CONSOLE_SCRIPT, assert_same_run, our_error_lines, run_state, torchrun, train_here

from aelab.errors import UserError
from aelab.training import checkpoint
from aelab.training.batches import Shares
from aelab.training.distributed import SingleProcess, from_env, local_device


@given(n=st.integers(1, 500), world_size=st.integers(1, 9))
def test_shares_split_every_batch_exactly_once(n, world_size):
    batch = torch.arange(n)
    taken = [Shares(rank, world_size).take(batch) for rank in range(world_size)]
    real = [(share, weight) for share, weight in taken if weight > 0]
    assert torch.equal(torch.cat([share for share, _ in real]), batch)  # contiguous, in rank order
    assert max(len(s) for s, _ in real) - min(len(s) for s, _ in real) <= 1
    # Each rank's mean loss times its weight, averaged over ranks as DDP does, is the batch's mean.
    losses = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    ddp_mean = sum(weight * losses[share].mean() for share, weight in taken) / world_size
    assert ddp_mean.item() == pytest.approx(losses.mean().item(), rel=1e-12)
    for share, weight in taken:
        assert len(share) >= 1  # an empty share stands in one image, at weight 0
        if weight == 0:
            assert n < world_size


def test_single_process_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = from_env("cpu")
    assert type(dist) is SingleProcess and dist.device == "cpu" and dist.is_main
    value = torch.tensor(3.0)
    assert dist.all_reduce_mean(value) is value and dist.shared_seed(None) is None


@pytest.mark.parametrize(
    "env,words",
    [
        ({"WORLD_SIZE": "two"}, "torchrun's environment"),
        ({"WORLD_SIZE": "2"}, "torchrun's environment"),  # RANK and LOCAL_RANK missing
    ],
)
def test_broken_torchrun_environment(monkeypatch, env, words):
    for name in ("RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UserError, match=words):
        from_env("cpu")


def test_one_gpu_per_process():
    with pytest.raises(UserError, match="local rank"):
        local_device("cuda:1", 0)
    assert local_device("cpu", 3) == "cpu"


@pytest.mark.parametrize("loader,console", [("memory", False), ("stream", True)])
def test_two_processes_take_the_single_process_steps(tiny_root, tmp_path, loader, console):
    # pip install -e (scripts/setup.sh) always writes it: a missing one is a broken install, not a skip.
    assert not console or CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} is missing; pip install -e ."
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    assert train_here(one, tiny_root, "-e", 2, "--loader", loader) == 0
    result = torchrun(two, tiny_root, "-e", 2, "--loader", loader, console=console)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_run(one, two)
    # Only rank 0 prints and writes.
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("epoch")] == ["1/2", "2/2"]
    assert "x 2 processes" in result.stdout
    assert checkpoint.load_model(two).config.bottleneck == 4
    assert len(run_state(two)["rng"]) == 2  # every rank's generators, for an exact resume


def test_two_process_run_resumes_exactly(tiny_root, tmp_path):
    """Noise on the inputs draws from each rank's own generator, all of which the state keeps."""
    resumed, straight = tmp_path / "resumed.pth", tmp_path / "straight.pth"
    first = torchrun(resumed, tiny_root, "-e", 2, "--train-noise", 0.1)
    assert first.returncode == 0, first.stderr[-3000:]
    second = torchrun(resumed, tiny_root, "-e", 3, "--train-noise", 0.1, "--resume")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming" in second.stdout and run_state(resumed)["epoch"] == 3
    third = torchrun(straight, tiny_root, "-e", 3, "--train-noise", 0.1)
    assert third.returncode == 0, third.stderr[-3000:]
    assert_same_run(resumed, straight, exact=True)


def test_every_process_frees_its_ddp_wrapper_before_exit(tiny_root, tmp_path):
    """A gloo group left to the interpreter's exit can abort the process as it tears down."""
    result = torchrun(tmp_path / "m.pth", tiny_root, "-e", 1, script=Path(__file__).with_name("ddp_teardown_probe.py"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("DDP wrappers left: 0") == 2, result.stdout


def test_global_batch_smaller_than_the_process_count(tiny_root, tmp_path):
    result = torchrun(tmp_path / "m.pth", tiny_root, "-e", 1, "-b", 1)
    assert result.returncode != 0
    lines = our_error_lines(result.stderr)
    assert len(lines) == 1 and "-b 1 is the global batch" in lines[0], result.stderr[-2000:]
    assert "Traceback" not in "\n".join(line for line in result.stderr.splitlines() if line.startswith("[rank"))
    assert not (tmp_path / "m.pth").exists()
