"""Hostile input, round two: each case ends in one line and a known exit code, and loses nothing.
The rows are docs/hostile-inputs.md's; Ctrl-C while a command starts (row 9) is
test_start_up_interrupts.py's."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import write_idx, write_mnist
from test_eval import assert_one_line_error, run_cli

from aelab.cli import script_main
from aelab.files import PathLock, temp_files_of
from aelab.training import checkpoint

HUGE_SEED = "99999999999999999999999"
LAB_SHAPE = ("-z", "8", "--hidden", "392")  # full-size files: a 16 MB disk cannot take two pairs


def train(save, root, *extra, capsys=None):
    args = [
        "-e",
        "1",
        "-b",
        "64",
        "--seed",
        "0",
        "--no-progress",
        "-s",
        str(save),
        "--data-root",
        str(root),
        *map(str, extra),
    ]
    return run_cli(capsys, "train", *args) if capsys else script_main("train", args)


def pair_bytes(path):
    return path.read_bytes(), checkpoint.state_path(path).read_bytes()


# Row 1: the disk fills while a checkpoint is written.


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root; the mocked writer test below covers the same path")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_keeps_the_last_pair_and_leaves_no_temp_file(tiny_root, tmp_path, small_disk, capsys):
    first = tmp_path / "MLP.8.pth"
    assert train(first, tiny_root, *LAB_SHAPE) == 0
    run = small_disk / "MLP.8.pth"
    run.write_bytes(first.read_bytes())
    checkpoint.state_path(run).write_bytes(checkpoint.state_path(first).read_bytes())
    before = pair_bytes(run)
    code, _, err = train(run, tiny_root, *LAB_SHAPE, "-e", "2", "--resume", capsys=capsys)
    assert_one_line_error(
        code, err, str(run), "no space left on the device", "the last checkpoint written whole is kept", "--resume"
    )
    assert pair_bytes(run) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["MLP.8.pth", "MLP.8.pth.state"]


def test_a_writer_that_fails_midway_keeps_the_last_pair(tiny_root, tmp_path, monkeypatch, capsys):
    run = tmp_path / "MLP.4.pth"
    assert train(run, tiny_root, "-z", 4) == 0
    before = pair_bytes(run)
    real_save = torch.save

    def fail_after_a_few_bytes(obj, f, *args, **kwargs):
        real_save({"partial": torch.zeros(4)}, f)  # a temp file begins, then the disk is full
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", fail_after_a_few_bytes)
    code, _, err = train(run, tiny_root, "-z", 4, "-e", "2", "--resume", capsys=capsys)
    assert_one_line_error(code, err, "cannot write", "failed writing file", "continue with --resume")
    assert pair_bytes(run) == before and temp_files_of(run) == temp_files_of(checkpoint.state_path(run)) == []


# Row 5: splits of different image sizes.


def test_train_and_test_images_of_different_sizes_are_refused_before_training(tmp_path, capsys):
    root = write_mnist(tmp_path / "data")
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((256, 32, 32), np.uint8))
    code, out, err = train(tmp_path / "m.pth", root, capsys=capsys)
    assert_one_line_error(code, err, "32x32", "28x28", "one size")
    assert "epoch" not in out and not (tmp_path / "m.pth").exists()


# Row 7: seeds too large for torch, on every command that takes one.


@pytest.mark.parametrize(
    "command", [["train", "-e", "1"], ["lab", "-l", "x.pth"], ["eval", "-l", "x.pth"], ["sweep", "-z", "2"], ["bench"]]
)
def test_an_oversized_seed_is_one_line_on_every_command(command, tmp_path, capsys):
    code, _, err = run_cli(capsys, *command, "--seed", HUGE_SEED)
    assert_one_line_error(code, err, "--seed", "must be below")


# Row 8: sizes that do not fit.


def test_a_code_too_large_for_memory_names_the_flag_to_lower(tiny_root, tmp_path, capsys):
    code, _, err = train(tmp_path / "m.pth", tiny_root, "-z", "600000000", capsys=capsys)
    assert_one_line_error(code, err, "GiB", "-z")
    assert not (tmp_path / "m.pth").exists()


@pytest.mark.parametrize(
    "command", [["lab", "-l", "x.pth", "--index", "0", "--pair", "0", "1"], ["figures", "-l", "x.pth"]]
)
def test_n_steps_has_a_sensible_maximum(command, capsys):
    code, _, err = run_cli(capsys, *command, "--n-steps", "1000000000")
    assert_one_line_error(code, err, "--n-steps", "at most 64")


def test_running_out_of_memory_anywhere_is_one_line_naming_the_flags(tiny_root, tmp_path, monkeypatch, capsys):
    from aelab.training import run

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(run, "build_trainer", no_memory)
    code, _, err = train(tmp_path / "m.pth", tiny_root, capsys=capsys)
    assert_one_line_error(code, err, "not enough memory", "-b")


def test_a_flag_value_with_a_line_break_is_refused_on_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "-e", "1", "-s", tmp_path / "m.pth", "--dataset", "no\nsuch")
    assert_one_line_error(code, err, "--dataset", "no such")
    assert list(tmp_path.iterdir()) == []


# Rows 10-12: temp files, two runs, a finished run.


def test_stale_temp_files_of_a_killed_run_are_removed_by_the_next(tiny_root, tmp_path):
    run = tmp_path / "MLP.4.pth"
    stale = [tmp_path / ".MLP.4.pth.state.k2j4x1.tmp", tmp_path / ".MLP.4.pth.abc123.tmp"]
    other = tmp_path / ".other.pth.xyz.tmp"  # another file's: not this run's to remove
    for path in stale + [other]:
        path.write_bytes(b"half a checkpoint")
    assert train(run, tiny_root, "-z", 4) == 0
    assert not any(p.exists() for p in stale) and other.exists()


def test_a_second_run_on_the_same_checkpoint_is_refused_at_once(tiny_root, tmp_path, capsys):
    run = tmp_path / "MLP.4.pth"
    with PathLock(run, "-s"):
        code, out, err = train(run, tiny_root, "-z", 4, capsys=capsys)
    assert_one_line_error(code, err, str(run), f"process {os.getpid()}", "-s")
    assert not run.exists()
    assert train(run, tiny_root, "-z", 4) == 0  # released: the next run goes ahead
    assert not list(tmp_path.glob(".*.lock"))


def test_a_crashed_run_leaves_no_lock(tiny_root, tmp_path):
    run = tmp_path / "MLP.4.pth"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from aelab.files import PathLock\n"
            f"PathLock({str(run)!r}, '-s').__enter__()\nprint('locked', flush=True)\n"
            "import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()  # as kill -9 would: no clean-up runs
    holder.wait()
    assert train(run, tiny_root, "-z", 4) == 0


def test_a_new_run_over_a_finished_one_keeps_it_as_prev(tiny_root, tmp_path, capsys):
    run = tmp_path / "MLP.4.pth"
    assert train(run, tiny_root, "-z", 4) == 0
    finished = pair_bytes(run)
    code, out, _ = train(run, tiny_root, "-z", 4, "--seed", "1", capsys=capsys)  # the lab's command, again
    assert code == 0 and "MLP.4.pth.prev" in out
    assert (tmp_path / "MLP.4.pth.prev").read_bytes() == finished[0]
    assert (tmp_path / "MLP.4.pth.state.prev").read_bytes() == finished[1]
    assert pair_bytes(run) != finished


def test_the_advice_when_the_run_state_is_missing_keeps_the_weights(tiny_root, tmp_path, capsys):
    run = tmp_path / "MLP.4.pth"
    assert train(run, tiny_root, "-z", 4) == 0
    weights = run.read_bytes()
    checkpoint.state_path(run).unlink()
    code, _, err = train(run, tiny_root, "-z", 4, "-e", "2", "--resume", capsys=capsys)
    assert_one_line_error(code, err, "without --resume")
    assert train(run, tiny_root, "-z", 4) == 0  # following the advice
    assert (tmp_path / "MLP.4.pth.prev").read_bytes() == weights


# Row 13: data in the wrong place or the wrong form.


def test_a_folder_where_an_idx_file_should_be(tmp_path, capsys):
    root = write_mnist(tmp_path / "data")
    image_file = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    image_file.unlink()
    image_file.mkdir()
    code, _, err = train(tmp_path / "m.pth", root, capsys=capsys)
    assert_one_line_error(code, err, "is a folder, not an IDX file", "remove it")


def test_a_data_root_that_is_a_file(tmp_path, capsys):
    (tmp_path / "data").write_text("not a folder")
    code, _, err = train(tmp_path / "m.pth", tmp_path / "data", capsys=capsys)
    assert_one_line_error(code, err, "--data-root", "is a file")


def test_a_good_gz_in_a_read_only_folder(tmp_path, monkeypatch, capsys):
    import gzip

    root = write_mnist(tmp_path / "data")
    raw = root / "MNIST" / "raw"
    for f in list(raw.iterdir()):
        (raw / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()

    def read_only(*args, **kwargs):  # root writes anywhere, so the refusal is played here
        raise PermissionError(13, "Permission denied", str(raw / ".train-images-idx3-ubyte.x.tmp"))

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    code, _, err = train(tmp_path / "m.pth", root, capsys=capsys)
    assert_one_line_error(code, err, "cannot write the unpacked", "Permission denied", "gunzip -k")
    assert "replace it with a good copy" not in err


def test_a_wrong_idx_magic_number_is_named(tmp_path, capsys):
    root = write_mnist(tmp_path / "data")
    labels = root / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(b"PK\x03\x04" + labels.read_bytes()[4:])  # a zip file's first bytes
    code, _, err = train(tmp_path / "m.pth", root, capsys=capsys)
    assert_one_line_error(code, err, "train-labels-idx1-ubyte", "not an IDX magic number")


# Row 15.


def test_a_negative_learning_rate_asks_for_more_than_zero(capsys):
    code, _, err = run_cli(capsys, "train", "--lr", "-1")
    assert_one_line_error(code, err, "--lr", "greater than 0")
