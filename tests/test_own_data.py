"""Your own images through every command: train on a folder or an array, then lab, eval, figures
and the explorer rebuild the same data from the checkpoint alone; data too big for memory streams
from the cache; the benchmark and torchrun take a folder too."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_eval import assert_one_line_error, run_cli
from torch.utils.data import DataLoader, Dataset
from train_runs import RUN_TIMEOUT_S, assert_same_run, child_env

from aelab.data.datasets import load_splits
from aelab.data.images import ImageSet
from aelab.data.sources import DataConfig
from aelab.training import batches, checkpoint
from aelab.training.config import TrainConfig

FAST = ("-e", "2", "-b", "32", "--seed", "0", "--no-progress", "-z", "4", "--hidden", "32")


def colour_folder(root, per_class=24, size=(12, 20)):
    """Class folders of RGB PNGs, not square: cats are reddish, dogs bluish."""
    rng = np.random.default_rng(0)
    for name, channel in (("cat", 0), ("dog", 2)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (*size, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(150, 256, size)
            Image.fromarray(pixels, "RGB").save(root / name / f"{i}.png")
    return root


def grey_npz(path, size=16):
    rng = np.random.default_rng(1)
    x_train, x_test = (rng.integers(0, 256, (n, size, size), dtype=np.uint8) for n in (64, 16))
    np.savez(path, x_train=x_train, y_train=rng.integers(0, 3, 64), x_test=x_test, y_test=rng.integers(0, 3, 16))
    return path


def test_a_colour_folder_trains_and_every_command_reads_it_back_from_the_checkpoint(tmp_path, capsys):
    data = colour_folder(tmp_path / "pets")
    model = tmp_path / "pets.pth"
    code, out, err = run_cli(capsys, "train", "--dataset", data, "-s", model, *FAST)
    assert code == 0, err
    assert "on pets (" in out
    loaded = checkpoint.load_model(model)
    assert loaded.config.image_shape == (3, 12, 20) and loaded.config.input_dim == 720
    assert checkpoint.saved_data_config(model).dataset == str(data.resolve())
    # no --dataset below: the checkpoint says which data it was trained on
    code, _, err = run_cli(
        capsys, "lab", "-l", model, "--index", "0", "--pair", "0", "1", "--no-show", "--out", tmp_path / "lab"
    )
    assert code == 0, err
    assert (tmp_path / "lab" / "interpolation.png").read_bytes()[:4] == b"\x89PNG"
    code, out, err = run_cli(capsys, "eval", "-l", model)
    assert code == 0, err
    assert "| cat |" in out and "| dog |" in out  # class names from the folder names
    code, _, err = run_cli(capsys, "figures", "-l", model, "--pairs", "0-1", "--out", tmp_path / "figs")
    assert code == 0, err
    assert (tmp_path / "figs" / "latent_interpolation.png").read_bytes()[:4] == b"\x89PNG"
    picture = np.asarray(Image.open(tmp_path / "lab" / "reconstruction.png").convert("RGB")).astype(int)
    assert (np.abs(picture[..., 0] - picture[..., 1]) > 100).any()  # the original drawn in colour


def test_an_npz_trains_and_resumes(tmp_path, capsys):
    data = grey_npz(tmp_path / "shapes.npz")
    model = tmp_path / "shapes.pth"
    assert run_cli(capsys, "train", "--dataset", data, "-s", model, *FAST)[0] == 0
    code, out, err = run_cli(capsys, "train", "--dataset", data, "-s", model, *FAST[2:], "-e", "3", "--resume")
    assert code == 0, err
    assert "resuming" in out and "epoch   3/3" in out and "epoch   1/3" not in out
    assert checkpoint.load_model(model).config.image_shape == (1, 16, 16)


def test_a_resized_npy_keeps_the_size_it_was_trained_at(tmp_path, capsys):
    rng = np.random.default_rng(2)
    np.save(tmp_path / "faces.npy", rng.integers(0, 256, (100, 24, 24), dtype=np.uint8))
    model = tmp_path / "faces.pth"
    code, out, err = run_cli(
        capsys, "train", "--dataset", tmp_path / "faces.npy", "--image-size", "8", "8", "-s", model, *FAST
    )
    assert code == 0, err
    assert checkpoint.load_model(model).config.image_shape == (1, 8, 8)
    assert checkpoint.saved_data_config(model).image_size == (8, 8)
    code, _, err = run_cli(capsys, "eval", "-l", model)  # resized again as in training, from the checkpoint
    assert code == 0, err


def test_images_of_mixed_sizes_need_an_image_size(tmp_path, capsys):
    data = colour_folder(tmp_path / "mixed", per_class=6)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(data / "cat" / "big.png")
    code, _, err = run_cli(capsys, "train", "--dataset", data, "-s", tmp_path / "m.pth", *FAST)
    assert_one_line_error(code, err, "12x20", "30x30", "--image-size")
    assert not (tmp_path / "m.pth").exists()
    code, _, err = run_cli(
        capsys, "train", "--dataset", data, "--image-size", "10", "10", "-s", tmp_path / "m.pth", *FAST
    )
    assert code == 0, err


def test_a_model_for_other_images_is_refused(tmp_path, tiny_checkpoint, capsys):
    data = colour_folder(tmp_path / "pets", per_class=6)
    code, _, err = run_cli(capsys, "eval", "-l", tiny_checkpoint, "--dataset", data)
    assert_one_line_error(code, err, "784", "12x20 colour")


def test_a_file_that_is_not_an_image_is_named_or_skipped(tmp_path, capsys):
    data = colour_folder(tmp_path / "pets", per_class=6)
    (data / "dog" / "notes.png").write_text("not a picture")
    code, _, err = run_cli(capsys, "train", "--dataset", data, "-s", tmp_path / "m.pth", *FAST)
    assert_one_line_error(code, err, "notes.png")
    code, out, err = run_cli(capsys, "train", "--dataset", data, "--skip-bad-images", "-s", tmp_path / "m.pth", *FAST)
    assert code == 0, err
    assert "skipped 1" in out and "notes.png" in out


@pytest.mark.parametrize("value, words", [("missing-folder", "no such"), ("README.md", ".md file")])
def test_a_dataset_that_cannot_be_data_is_one_line(value, words, capsys, tmp_path):
    from conftest import REPO

    target = str(REPO / value) if value == "README.md" else str(tmp_path / value)
    code, _, err = run_cli(capsys, "train", "--dataset", target, "-s", tmp_path / "m.pth")
    assert_one_line_error(code, err, "--dataset", words)


def test_the_explorer_serves_the_data_it_was_trained_on(tmp_path, capsys):
    from aelab.cli import build_parser
    from aelab.cli.args import load_data

    data = colour_folder(tmp_path / "pets", per_class=6)
    model = tmp_path / "pets.pth"
    assert run_cli(capsys, "train", "--dataset", data, "-s", model, *FAST)[0] == 0
    train, test = load_data(build_parser().parse_args(["serve", "-l", str(model)]), model)
    assert train.image_shape == (3, 12, 20) and train.class_names == ("cat", "dog")
    assert torch.equal(train.labels.unique(), torch.tensor([0, 1]))


def test_a_sweep_runs_on_an_array(tmp_path, capsys):
    data = grey_npz(tmp_path / "shapes.npz")
    code, _, err = run_cli(
        capsys,
        "sweep",
        "--dataset",
        data,
        "-z",
        "2,3",
        "-e",
        "1",
        "-b",
        "32",
        "--out",
        tmp_path / "sweep",
        "--no-progress",
        "--no-models",
    )
    assert code == 0, err
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "shapes.npz test set" in table and "| lab | 3 | 1 |" in table


def mapped_file(tensor: torch.Tensor) -> str:
    """The file this process maps at ``tensor``'s first byte, '' for memory of its own (Linux)."""
    address = tensor.data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        if start <= address < end:
            return fields[5] if len(fields) == 6 else ""
    return ""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's list of mapped files")
def test_a_folder_is_read_memory_mapped_from_its_cache_first_time_and_after(tmp_path):
    data = colour_folder(tmp_path / "pets", per_class=6)
    for _ in range(2):  # decoded and cached, then a cache hit
        train, test = load_splits(DataConfig(str(data)), tmp_path)
        assert mapped_file(train.images).endswith(".train_images.npy")
        assert mapped_file(test.images).endswith(".test_images.npy")


class OneByOne(Dataset):
    """The lab's pipeline: each image made floats on its own, as ToTensor makes them."""

    def __init__(self, images: ImageSet):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images.images[index].float().div(255).reshape(-1)


def test_streamed_batches_are_the_lab_dataloaders_from_the_same_seed(tmp_path):
    train, _ = load_splits(DataConfig(str(colour_folder(tmp_path / "pets", per_class=20))), tmp_path)
    size, seed = 7, 3  # 36 training images: the last batch of each epoch is short
    config = TrainConfig(batch_size=size, seed=seed, loader="stream")
    streamed = batches.make_batches(train, config, torch.device("cpu"))
    lab = DataLoader(OneByOne(train), batch_size=size, shuffle=True, generator=batches.seeded_generator(seed))
    assert streamed.loader == "stream" and len(streamed) == len(lab)
    for _ in range(2):  # every epoch a new order, the same in both
        ours, theirs = list(streamed), list(lab)
        assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs))


def test_above_the_memory_budget_training_streams_with_no_float_copy_of_the_split(tmp_path, capsys, monkeypatch):
    data = colour_folder(tmp_path / "pets")
    code, out, err = run_cli(capsys, "train", "--dataset", data, "-s", tmp_path / "memory.pth", *FAST)
    assert code == 0 and "memory loader" in out, err
    monkeypatch.setattr(batches, "MEMORY_LOADER_LIMIT_BYTES", 1)  # any float copy of the split is too big now
    real_floats, converted = ImageSet.floats, []

    def floats(images, *args, **kwargs):
        assert not images.train, "a float copy of the whole training split"
        return real_floats(images, *args, **kwargs)

    real_as_floats = batches.as_floats
    monkeypatch.setattr(ImageSet, "floats", floats)
    monkeypatch.setattr(
        batches, "as_floats", lambda images, device: converted.append(len(images)) or real_as_floats(images, device)
    )
    code, out, err = run_cli(capsys, "train", "--dataset", data, "-s", tmp_path / "stream.pth", *FAST)
    assert code == 0 and "stream loader" in out, err
    n_train = len(load_splits(DataConfig(str(data)), tmp_path)[0])
    epochs, batch_size = int(FAST[FAST.index("-e") + 1]), int(FAST[FAST.index("-b") + 1])
    assert max(converted) <= batch_size and sum(converted) == epochs * n_train


def test_the_benchmark_runs_on_a_folder(tmp_path, capsys):
    data = colour_folder(tmp_path / "pets")
    out = tmp_path / "bench"
    out.mkdir()
    code, printed, err = run_cli(
        capsys, "bench", "--dataset", data, "--epochs", "1", "--precision", "fp32", "--device", "cpu", "--out", out
    )
    assert code == 0, err
    report = json.loads((out / "results.json").read_text())
    lab, ours = report["rows"]
    n_train = len(load_splits(DataConfig(str(data)), tmp_path)[0])
    assert report["dataset"] == "pets" and lab["n_images"] == ours["n_images"] == n_train
    assert 0 < lab["test_mse"] < 1 and 0 < ours["test_mse"] < 1
    assert "1 epochs on pets" in (out / "results.md").read_text()


def test_torchrun_trains_on_a_folder_as_one_process_does(tmp_path, capsys):
    data = colour_folder(tmp_path / "pets")
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    # Under torchrun first: rank 0 decodes the folder and writes its cache while rank 1 waits.
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "aelab",
        "train",
        "--dataset",
        str(data),
        "-s",
        str(two),
        *FAST,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=child_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stdout and "on pets (" in result.stdout
    code, _, err = run_cli(capsys, "train", "--dataset", data, "-s", one, *FAST)
    assert code == 0, err
    assert_same_run(one, two)
