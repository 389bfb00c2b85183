"""The lab's two scripts end to end on tiny IDX files, and every bad input they must refuse."""

import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
from conftest import REPO, write_mnist

from aelab.cli import main, script_main
from aelab.data import idx
from aelab.data.sources import ALL_FILES
from aelab.models.mlp.model import autoencoderMLP4Layer
from aelab.training import checkpoint


def run_script(script, *args, stdin="", cwd=None):
    return subprocess.run(
        [sys.executable, str(REPO / script), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(result, *words):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def trained(tiny_root, tmp_path):
    save, plot = tmp_path / "MLP.4.pth", tmp_path / "loss.png"
    result = run_script(
        "train.py", "-z", 4, "-e", 3, "-b", 64, "-s", save, "-p", plot, "--seed", 0, "--data-root", tiny_root
    )
    assert result.returncode == 0, result.stderr
    return save, plot, result.stdout


def test_train_script_writes_checkpoint_plot_and_epoch_lines(trained):
    save, plot, stdout = trained
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and all("loss" in line and "lr" in line for line in lines)
    model = checkpoint.load_model(save)
    assert model.config.bottleneck == 4
    state = checkpoint.load_run_state(save)
    assert state["epoch"] == 3 and len(state["history"]["losses"]) == 3
    assert state["config"]["train"]["batch_size"] == 64 and state["config"]["train"]["seed"] == 0


def test_seed_makes_a_run_repeatable(tiny_root, tmp_path):
    paths = []
    for name in ("a.pth", "b.pth"):
        assert (
            script_main(
                "train",
                [
                    "-z",
                    "3",
                    "-e",
                    "2",
                    "-b",
                    "50",
                    "-s",
                    str(tmp_path / name),
                    "--seed",
                    "7",
                    "--data-root",
                    str(tiny_root),
                ],
            )
            == 0
        )
        paths.append(tmp_path / name)
    a, b = (torch.load(p, weights_only=True) for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_console_script_train_and_stream_loader(tiny_root, tmp_path):
    save = tmp_path / "s.pth"
    assert (
        main(
            [
                "train",
                "-z",
                "2",
                "-e",
                "1",
                "-b",
                "100",
                "-s",
                str(save),
                "--loader",
                "stream",
                "--data-root",
                str(tiny_root),
            ]
        )
        == 0
    )
    assert checkpoint.load_model(save).config.bottleneck == 2


def test_lab_script_non_interactive(trained, tiny_root, tmp_path):
    out = tmp_path / "figs"
    result = run_script(
        "lab1.py",
        "-l",
        trained[0],
        "--index",
        3,
        "--pair",
        0,
        1,
        "--n-steps",
        5,
        "--out",
        out,
        "--no-show",
        "--data-root",
        tiny_root,
    )
    assert result.returncode == 0, result.stderr
    for name in ("reconstruction.png", "denoising.png", "interpolation.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_lab_script_prompts_and_reasks(trained, tiny_root, tmp_path):
    answers = "12\nseven\n999\n4\n5\n"
    result = run_script(
        "lab1.py",
        "-l",
        trained[0],
        "--data-root",
        tiny_root,
        stdin=answers,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Enter an image index (0-255)" in result.stdout
    assert "'seven' is not a whole number" in result.stdout
    assert "999 is out of range" in result.stdout
    assert (tmp_path / "lab_figures" / "interpolation.png").exists()  # no display: saved instead


def test_lab_runs_a_checkpoint_written_by_the_labs_own_code(tiny_root, tmp_path):
    path = tmp_path / "lab.pth"
    torch.save(autoencoderMLP4Layer(N_bottleneck=8).state_dict(), path)
    assert (
        script_main(
            "lab",
            [
                "-l",
                str(path),
                "--index",
                "0",
                "--pair",
                "1",
                "2",
                "--no-show",
                "--out",
                str(tmp_path / "o"),
                "--data-root",
                str(tiny_root),
            ],
        )
        == 0
    )


@pytest.mark.parametrize(
    "args,words",
    [
        (["-z", "0"], ["-z", "at least 1"]),
        (["-e", "0"], ["-e", "at least 1"]),
        (["-b", "-1"], ["-b", "at least 1"]),
        (["-b", "ten"], ["-b", "not a whole number"]),
        (["--lr", "-0.1"], ["--lr"]),
        (["--precision", "fp8"], ["--precision", "invalid choice"]),
        (["-s", "/no/such/dir/m.pth"], ["does not exist"]),
        (["-p", "/no/such/dir/loss.png"], ["does not exist"]),
    ],
)
def test_train_bad_flags(tiny_root, tmp_path, args, words):
    base = ["-e", "1", "-s", str(tmp_path / "m.pth"), "--data-root", str(tiny_root)]
    result = run_script("train.py", *base, *args)
    assert_one_line_error(result, *words)
    assert not (tmp_path / "m.pth").exists()


def test_bad_flags_keep_an_existing_checkpoint(trained, tiny_root):
    save = trained[0]
    before = save.read_bytes()
    assert_one_line_error(run_script("train.py", "-z", "0", "-s", save, "--data-root", tiny_root), "-z")
    assert save.read_bytes() == before


def test_lab_bad_inputs(trained, tiny_root, tmp_path):
    base = ["--no-show", "--data-root", tiny_root]
    assert_one_line_error(run_script("lab1.py", "-l", tmp_path / "none.pth", *base), "not found")
    (tmp_path / "junk.pth").write_text("junk")
    assert_one_line_error(run_script("lab1.py", "-l", tmp_path / "junk.pth", *base), "not a readable")
    assert_one_line_error(
        run_script("lab1.py", "-l", trained[0], "--index", 256, "--pair", 0, 1, *base), "outside", "0-255"
    )
    assert_one_line_error(
        run_script("lab1.py", "-l", trained[0], "--index", 0, "--pair", 0, 1, "--out", "/no/such/dir/figs", *base),
        "does not exist",
    )
    assert_one_line_error(run_script("lab1.py", "-l", trained[0], *base, stdin=""), "--index")


def test_checkpoint_of_another_image_size(tiny_root, tmp_path):
    path = tmp_path / "small.pth"
    torch.save(autoencoderMLP4Layer(N_input=100, N_output=100).state_dict(), path)
    result = run_script("lab1.py", "-l", path, "--index", 0, "--pair", 0, 1, "--no-show", "--data-root", tiny_root)
    assert_one_line_error(result, "100 pixels")


@pytest.mark.parametrize(
    "failure",
    [OSError("network unreachable"), urllib.error.URLError("[Errno -3] Temporary failure in name resolution")],
)
def test_missing_data_offline_says_where_files_go(tmp_path, monkeypatch, capsys, failure):
    """The download is made to fail here, so the test does not depend on this machine's network."""
    attempts = []

    def download_fails(name, root):
        attempts.append((name, Path(root)))
        raise failure

    monkeypatch.setattr(idx, "download_with_torchvision", download_fails)
    empty, save = tmp_path / "empty", tmp_path / "m.pth"
    code = script_main("train", ["-e", "1", "-s", str(save), "--data-root", str(empty), "--no-progress"])
    out, err = capsys.readouterr()
    assert attempts == [("mnist", empty)]  # it did try to download, and that failed
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: could not download mnist"), err
    assert "Traceback" not in err
    assert type(failure).__name__ in lines[0]
    assert f"{empty / 'MNIST' / 'raw'}/" in lines[0]
    for name in ALL_FILES:
        assert name in lines[0], name
    assert not save.exists() and not checkpoint.state_path(save).exists()
    assert not [p for p in empty.rglob("*") if p.is_file()]  # nothing written where the data goes
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["empty"])
    assert "epoch" not in out


def test_corrupt_idx_file(tmp_path):
    root = write_mnist(tmp_path / "data")
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    result = run_script("train.py", "-e", "1", "-s", tmp_path / "m.pth", "--data-root", root)
    assert_one_line_error(result, "IDX")


def test_gz_copies_are_unpacked(tmp_path):
    import gzip

    root = write_mnist(tmp_path / "data")
    raw = root / "MNIST" / "raw"
    for f in list(raw.iterdir()):
        (raw / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes()))
        f.unlink()
    assert main(["train", "-e", "1", "-b", "128", "-s", str(tmp_path / "m.pth"), "--data-root", str(root)]) == 0


def test_every_path_flag_expands_the_home_folder(tmp_path, monkeypatch):
    from conftest import write_mnist

    monkeypatch.setenv("HOME", str(tmp_path))
    write_mnist(tmp_path / "my data")
    (tmp_path / "my runs").mkdir()
    args = ["-z", "2", "--hidden", "8", "-e", "1", "-b", "64", "--no-progress", "--data-root", "~/my data"]
    assert script_main("train", [*args, "-s", "~/my runs/m.pth", "-p", "~/my runs/loss.png"]) == 0
    assert (tmp_path / "my runs" / "m.pth").is_file() and (tmp_path / "my runs" / "loss.png").is_file()
    assert not (tmp_path / "~").exists() and not Path("~").exists()
    out = tmp_path / "my runs" / "figures"
    assert (
        script_main(
            "lab",
            [
                "-l",
                "~/my runs/m.pth",
                "--data-root",
                "~/my data",
                "--index",
                "1",
                "--pair",
                "0",
                "1",
                "--out",
                "~/my runs/figures",
                "--no-show",
            ],
        )
        == 0
    )
    assert (out / "reconstruction.png").is_file()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "-p", "loss.txt"], ["plot", "loss.txt", "no image format", ".png"]),
        (["train", "--model", "vae", "--beta", "1e308"], ["--beta", "at most 1e+06"]),
    ],
)
def test_output_types_and_huge_weights_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, words):
    from test_eval import assert_one_line_error, run_cli

    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv, "-s", "m.pth", "--data-root", tmp_path / "nothing")
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "m.pth").exists()
