"""``train --log-dir``: TensorBoard events and metrics.csv, read back with TensorBoard's own reader."""

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest
from conftest import REPO
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from test_eval import assert_one_line_error, run_cli
from train_runs import SMALL, run_state, torchrun

from aelab.models import registry
from aelab.training import checkpoint

EPOCH_LINE = re.compile(r"^epoch +(\d+)/\d+  loss (\S+)  lr (\S+) ", re.MULTILINE)
TEST_MSE = re.compile(r"test MSE (\S+),")
PRINTED_LOSS = 1e-6  # the epoch line prints 6 decimals
PRINTED_LR = 0.01  # and the learning rate to 3 significant digits
FLOAT32 = 1e-6  # TensorBoard keeps scalars as float32
MNIST_SIDE, PADDING, SAMPLES = 28, 2, 8  # the strip: 8 test images, make_grid's default padding
BRIGHT, DARK = 200, 40  # a red image: its red channel at least BRIGHT, the others below DARK
INSTALL_HINT = "pip install 'aelab[tensorboard]'"


def train(capsys, save, root, log_dir, *extra):
    return run_cli(capsys, "train", *SMALL, "-s", save, "--data-root", root, "--log-dir", log_dir, *extra)


def csv_rows(log_dir) -> list[dict]:
    with open(log_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def events(log_dir) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def scalars(acc, tag) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def hparams(acc, tag) -> plugin_data_pb2.HParamsPluginData:
    return plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")[tag])


def folder_contents(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_epoch_is_logged_as_printed_and_saved(tiny_root, tmp_path, capsys):
    save, log_dir = tmp_path / "m.pth", tmp_path / "logs"
    code, out, err = train(capsys, save, tiny_root, log_dir, "-e", 3, "--log-images-every", 2)
    assert code == 0, err
    rows, history = csv_rows(log_dir), run_state(save)["history"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # The CSV holds the checkpoint's own numbers, to the last bit, and the epoch lines print them.
    assert [float(r["loss"]) for r in rows] == history["losses"]
    assert [float(r["lr"]) for r in rows] == history["lrs"]
    assert np.cumsum([float(r["seconds"]) for r in rows]) == pytest.approx(history["seconds"])
    for (epoch, loss, lr), row in zip(EPOCH_LINE.findall(out), rows, strict=True):
        assert epoch == row["epoch"]
        assert float(loss) == pytest.approx(float(row["loss"]), abs=PRINTED_LOSS)
        assert float(lr) == pytest.approx(float(row["lr"]), rel=PRINTED_LR)

    acc = events(log_dir)
    for tag, column in (("train/loss", "loss"), ("train/lr", "lr"), ("train/epoch_seconds", "seconds")):
        assert scalars(acc, tag) == [(int(r["epoch"]), pytest.approx(float(r[column]), rel=FLOAT32)) for r in rows]
    assert scalars(acc, "test/mse") == [(3, pytest.approx(float(TEST_MSE.search(out)[1]), abs=PRINTED_LOSS))]

    strips = acc.Images("test/reconstructions")
    assert [s.step for s in strips] == [2, 3]  # every 2nd epoch, and the last
    side = MNIST_SIDE + PADDING
    assert {(s.width, s.height) for s in strips} == {(SAMPLES * side + PADDING, 2 * side + PADDING)}

    start = hparams(acc, "_hparams_/session_start_info").session_start_info.hparams
    assert start["train.epochs"].number_value == 3 and start["train.batch_size"].number_value == 85
    assert start["model.bottleneck"].number_value == 4 and start["model.image_shape"].string_value == "1,28,28"
    experiment = hparams(acc, "_hparams_/experiment").experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"test/mse", "train/loss"}
    assert hparams(acc, "_hparams_/session_end_info").session_end_info.status == 1  # STATUS_SUCCESS


@pytest.mark.parametrize("family", [f for f in registry.names() if f != "mlp"])
def test_every_model_family_logs_its_epochs_and_reconstructions(tiny_root, tmp_path, capsys, family):
    log_dir = tmp_path / "logs"
    own = {f.name for f in fields(registry.get(family).config)}
    # a vq-vae's code size is its grid's: a small codebook instead of -z
    sized = ["--code-dim", "2", "--codebook-size", "16"] if "code_dim" in own else []
    code, _, err = run_cli(
        capsys,
        "train",
        *(SMALL if not sized else [a for a in SMALL if a not in ("-z", "4")]),
        "-s",
        tmp_path / "m.pth",
        "--data-root",
        tiny_root,
        "--log-dir",
        log_dir,
        "-e",
        1,
        "--model",
        family,
        *sized,
    )
    assert code == 0, err
    assert [int(r["epoch"]) for r in csv_rows(log_dir)] == [1]
    acc = events(log_dir)
    assert [s.step for s in acc.Images("test/reconstructions")] == [1]
    assert (
        hparams(acc, "_hparams_/session_start_info").session_start_info.hparams["model.family"].string_value == family
    )


def test_the_strip_shows_colour_images_as_they_are(tmp_path, capsys):
    """Originals on top, in their own channels and shape: red, 6 high and 10 wide."""
    rng = np.random.default_rng(0)
    red = rng.integers(0, DARK, (40, 6, 10, 3), dtype=np.uint8)
    red[..., 0] = rng.integers(BRIGHT, 256, (40, 6, 10))
    np.save(tmp_path / "red.npy", red)
    code, _, err = run_cli(
        capsys,
        "train",
        "--dataset",
        tmp_path / "red.npy",
        "-e",
        1,
        "-z",
        2,
        "--hidden",
        8,
        "--no-progress",
        "-s",
        tmp_path / "m.pth",
        "--log-dir",
        tmp_path / "logs",
    )
    assert code == 0, err
    (strip,) = events(tmp_path / "logs").Images("test/reconstructions")
    pixels = np.asarray(Image.open(io.BytesIO(strip.encoded_image_string)).convert("RGB"))
    n_test = 4  # the default 10% held out of 40
    assert pixels.shape == (2 * (6 + PADDING) + PADDING, n_test * (10 + PADDING) + PADDING, 3)
    top_row = pixels[PADDING : PADDING + 6, PADDING:-PADDING]
    tiles = np.concatenate([top_row[:, i * 12 : i * 12 + 10] for i in range(n_test)], axis=1)
    # TensorBoard rounds each pixel down to a byte, hence the margin of one.
    assert (tiles[..., 0] >= BRIGHT - 1).all() and (tiles[..., 1:] < DARK).all()


def test_a_resumed_run_continues_its_logs_and_drops_epochs_the_checkpoint_lost(tiny_root, tmp_path, capsys):
    save, log_dir = tmp_path / "m.pth", tmp_path / "logs"
    assert train(capsys, save, tiny_root, log_dir, "-e", 2)[0] == 0
    first = csv_rows(log_dir)
    kept = tmp_path / "epoch2"
    kept.mkdir()
    for file in (save, checkpoint.state_path(save)):
        shutil.copy(file, kept)
    assert train(capsys, save, tiny_root, log_dir, "-e", 3, "--resume")[0] == 0
    assert [int(r["epoch"]) for r in csv_rows(log_dir)] == [1, 2, 3]
    # As after a crash that lost epoch 3's checkpoint: the run goes on from epoch 2.
    for file in kept.iterdir():
        shutil.copy(file, tmp_path)
    code, _, err = train(capsys, save, tiny_root, log_dir, "-e", 4, "--resume")
    assert code == 0, err

    rows = csv_rows(log_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert rows[:2] == first
    assert [float(r["loss"]) for r in rows] == run_state(save)["history"]["losses"]
    acc = events(log_dir)
    for tag, column in (("train/loss", "loss"), ("train/epoch_seconds", "seconds")):
        assert scalars(acc, tag) == [(int(r["epoch"]), pytest.approx(float(r[column]), rel=FLOAT32)) for r in rows]
    assert scalars(acc, "test/mse")[-1][0] == 4


def earlier_run(log_dir):
    log_dir.mkdir()
    (log_dir / "metrics.csv").write_text("epoch,loss,lr,seconds\n1,0.5,0.001,1.0\n")


def deny_writes_under(monkeypatch, folder):
    """The file system's answer for a folder we may not write, as root gets it nowhere."""
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode, **kw: (
            (not (mode & os.W_OK and str(path).startswith(str(folder)))) and real(path, mode, **kw)
        ),
    )


@pytest.mark.parametrize(
    "case,words",
    [
        ("file", ["--log-dir", "is a file"]),
        ("no parent", ["does not exist"]),
        ("unwritable", ["permission denied"]),
        ("earlier run", ["earlier run", "--resume"]),
    ],
)
def test_a_log_dir_that_cannot_take_the_run_is_refused_before_training(
    tiny_root, tmp_path, capsys, monkeypatch, case, words
):
    save, log_dir = tmp_path / "m.pth", tmp_path / "logs"
    if case == "file":
        log_dir.write_text("notes")
    elif case == "no parent":
        log_dir = tmp_path / "missing" / "logs"
    elif case == "unwritable":
        log_dir.mkdir()
        deny_writes_under(monkeypatch, log_dir)
    else:
        earlier_run(log_dir)
    before = folder_contents(tmp_path)
    code, out, err = train(capsys, save, tiny_root, log_dir, "-e", 1)
    assert_one_line_error(code, err, *words)
    assert "epoch" not in out
    assert folder_contents(tmp_path) == before and not save.exists() and log_dir.exists() == (case != "no parent")


def test_without_tensorboard_log_dir_names_the_extra_to_install(tiny_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # what a missing package raises
    before = folder_contents(tmp_path)
    code, out, err = train(capsys, tmp_path / "m.pth", tiny_root, tmp_path / "logs", "-e", 1)
    assert_one_line_error(code, err, INSTALL_HINT)
    assert "epoch" not in out and folder_contents(tmp_path) == before


def test_help_does_not_import_tensorboard():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO / "train.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0 and "--log-dir" in result.stdout, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "aelab" in imported and not [name for name in imported if "tensorboard" in name]


def test_under_torchrun_only_rank_0_logs(tiny_root, tmp_path):
    log_dir = tmp_path / "logs"
    result = torchrun(tmp_path / "m.pth", tiny_root, "-e", 2, "--log-dir", log_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [int(r["epoch"]) for r in csv_rows(log_dir)] == [1, 2]
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 1
    assert [step for step, _ in scalars(events(log_dir), "train/loss")] == [1, 2]
