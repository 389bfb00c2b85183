"""Real signals to real training processes: the checkpoint stays whole and resumable."""

import re
import signal
import subprocess
import sys
import threading

import pytest
import torch
from conftest import REPO
from train_runs import (
    RUN_TIMEOUT_S,
    assert_same_run,
    child_env,
    our_error_lines,
    run_state,
    train_args,
    train_command,
    train_here,
    weights,
)

from aelab.training import checkpoint
from aelab.training.fused_step import FusedStep

FOREVER = 100_000  # epochs: the run only ends by the signal
KEPT = re.compile(r"keeps epoch (\d+), the last one finished; continue with the same command plus --resume")


EPOCH_LINE = re.compile(r"^epoch +(\d+)/\d+ ", re.MULTILINE)


def signal_after_epoch(command: list[str], signum: int, epoch: int = 2) -> tuple[int, str, int, int]:
    """Run ``command``, send ``signum`` once it has printed ``epoch``.

    Returns (exit code, stderr, epoch seen when the signal was sent, last epoch it printed at all).
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    watchdog = threading.Timer(RUN_TIMEOUT_S, process.kill)
    watchdog.start()
    try:
        seen, printed = 0, []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("epoch"):
                seen = int(line.split()[1].split("/")[0])
                if seen >= epoch:
                    process.send_signal(signum)
                    break
        rest, stderr = process.communicate()
    finally:
        watchdog.cancel()
    last_printed = max(map(int, EPOCH_LINE.findall("".join(printed) + rest)), default=0)
    return process.returncode, stderr, seen, last_printed


def assert_stopped_whole(
    save, returncode: int, stderr: str, signum: int, seen: int, last_printed: int | None = None
) -> int:
    """One line naming the signal and the epoch kept; that epoch's checkpoint, whole. Returns it.

    No bound here depends on how fast the run went: the signal may land any number of epochs
    after the one the test saw, so the epoch kept is checked against what is on disk and what
    the run printed, never against the clock.
    """
    assert returncode == 128 + signum, stderr
    lines = our_error_lines(stderr)
    assert len(lines) == 1 and signal.Signals(signum).name in lines[0], stderr
    kept = int(KEPT.search(lines[0]).group(1))
    assert kept >= seen  # an epoch's line is printed only once its checkpoint is written
    if last_printed is not None:
        # Every finished epoch is saved, then printed: a stop between the two leaves one unprinted.
        assert kept in (last_printed, last_printed + 1), (kept, last_printed)
    state = run_state(save)
    assert state["epoch"] == kept  # exactly the epoch the stop message names
    assert len(state["history"]["losses"]) == kept
    model = checkpoint.load_model(save)  # the lab-format weights, whole and of the same epoch
    for key, value in model.state_dict().items():
        assert torch.equal(value, state["model"][key]), key
    return kept


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_training_and_the_run_resumes(tiny_root, tmp_path, signum):
    save, straight = tmp_path / "run.pth", tmp_path / "straight.pth"
    returncode, stderr, seen, last_printed = signal_after_epoch(
        train_command(*train_args(save, tiny_root, "-e", FOREVER)), signum
    )
    kept = assert_stopped_whole(save, returncode, stderr, signum, seen, last_printed)
    assert "Traceback" not in stderr
    assert train_here(save, tiny_root, "-e", kept + 1, "--resume") == 0
    assert train_here(straight, tiny_root, "-e", kept + 1) == 0
    assert_same_run(save, straight)


INTERRUPTED_WRITE = """
import os, signal
from aelab.training import checkpoint
from aelab.launch import run_script

real_write, writes = checkpoint.atomic_write, []

def write_with_ctrl_c(path, write):
    writes.append(path)
    def write_interrupted(tmp):
        if len(writes) == 3:  # epoch 2's run state: Ctrl-C lands mid-checkpoint
            os.kill(os.getpid(), signal.SIGINT)
        write(tmp)
    real_write(path, write_interrupted)

checkpoint.atomic_write = write_with_ctrl_c
run_script("train", prog="train.py")
"""


def test_ctrl_c_during_a_checkpoint_write_lets_it_finish(tiny_root, tmp_path):
    script, save = tmp_path / "interrupted_train.py", tmp_path / "run.pth"
    script.write_text(INTERRUPTED_WRITE)
    result = subprocess.run(
        [sys.executable, str(script), *train_args(save, tiny_root, "-e", FOREVER)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=child_env(),
    )
    assert assert_stopped_whole(save, result.returncode, result.stderr, signal.SIGINT, 2) == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_sigterm_to_torchrun_keeps_a_resumable_checkpoint(tiny_root, tmp_path):
    save = tmp_path / "run.pth"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "train.py"),
        *train_args(save, tiny_root, "-e", FOREVER),
    ]
    returncode, stderr, seen, _ = signal_after_epoch(command, signal.SIGTERM)
    assert returncode != 0
    lines = our_error_lines(stderr)  # torchrun adds its own report; the ranks add one line in all
    assert len(lines) == 1 and "SIGTERM" in lines[0], stderr[-3000:]
    kept = int(KEPT.search(lines[0]).group(1))
    assert run_state(save)["epoch"] == kept >= seen
    resumed = subprocess.run(
        command[:-2] + ["-e", str(kept + 1), "--resume"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=child_env(),
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert run_state(save)["epoch"] == kept + 1


def test_divergence_stops_and_keeps_the_last_finite_epoch(tiny_root, tmp_path, monkeypatch, capsys):
    save = tmp_path / "run.pth"
    real_step, steps = FusedStep.__call__, []
    steps_per_epoch = 4  # 256 images in batches of 85

    def diverging_step(self, images):
        steps.append(1)
        loss = real_step(self, images)
        return loss * float("nan") if len(steps) > 2 * steps_per_epoch else loss

    monkeypatch.setattr(FusedStep, "__call__", diverging_step)
    assert train_here(save, tiny_root, "-e", 5) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert "training diverged: epoch 3 loss is nan" in error[0]
    assert f"{save} keeps epoch 2" in error[0] and "lower --lr" in error[0]
    assert run_state(save)["epoch"] == 2 and checkpoint.load_model(save)
    assert torch.equal(weights(save)["fc1.weight"], run_state(save)["model"]["fc1.weight"])


def test_real_divergence_in_a_real_process(tiny_root, tmp_path):
    save = tmp_path / "run.pth"
    result = subprocess.run(
        train_command(*train_args(save, tiny_root, "-e", 3, "--lr", "1e30")),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=child_env(),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "training diverged: epoch 1 loss is nan" in lines[0], result.stderr
    assert "nothing was saved" in lines[0] and not save.exists()


CLOSED_READER = """
import os, sys
read, write = os.pipe()
os.close(read)  # the reader is gone before the first line: every write meets a closed pipe
os.dup2(write, 1)
from aelab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_closed_pipe_ends_quietly(tiny_checkpoint, tiny_root):
    # `aelab eval ... | head -3`; unbuffered, the first line meets the closed pipe, as a long output
    # does once the pipe is full.
    argv = ["eval", "-l", str(tiny_checkpoint), "--data-root", str(tiny_root)]
    result = subprocess.run(
        [sys.executable, "-u", "-c", CLOSED_READER, *argv], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 141 and result.stderr == "", result.stderr[-2000:]
