"""Your own images through every command: train on a folder or an array, then lab, eval, figures
and the explorer rebuild the same data from the checkpoint alone."""

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_ae.training import checkpoint

from test_eval import assert_one_line_error, run_cli

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
    code, _, err = run_cli(capsys, "lab", "-l", model, "--index", "0", "--pair", "0", "1", "--no-show",
                           "--out", tmp_path / "lab")
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
    code, out, err = run_cli(capsys, "train", "--dataset", tmp_path / "faces.npy", "--image-size", "8", "8",
                             "-s", model, *FAST)
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
    code, _, err = run_cli(capsys, "train", "--dataset", data, "--image-size", "10", "10", "-s", tmp_path / "m.pth",
                           *FAST)
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
    from mnist_ae.cli.args import load_data
    from mnist_ae.cli import build_parser

    data = colour_folder(tmp_path / "pets", per_class=6)
    model = tmp_path / "pets.pth"
    assert run_cli(capsys, "train", "--dataset", data, "-s", model, *FAST)[0] == 0
    train, test = load_data(build_parser().parse_args(["serve", "-l", str(model)]), model)
    assert train.image_shape == (3, 12, 20) and train.class_names == ("cat", "dog")
    assert torch.equal(train.labels.unique(), torch.tensor([0, 1]))


def test_a_sweep_runs_on_an_array(tmp_path, capsys):
    data = grey_npz(tmp_path / "shapes.npz")
    code, _, err = run_cli(capsys, "sweep", "--dataset", data, "-z", "2,3", "-e", "1", "-b", "32", "--out",
                           tmp_path / "sweep", "--no-progress", "--no-models")
    assert code == 0, err
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "shapes.npz test set" in table and "| lab | 3 | 1 |" in table
