"""The bottleneck sweep: its list parsing, its rows, its files, and a row equal to train.py's run."""

import csv

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.analysis.config import parse_bottlenecks
from aelab.analysis.pca import PCAReconstructor, fit_pca
from aelab.analysis.sweep import SWEEP_COLUMNS, run_sweep
from aelab.analysis.sweep_report import sweep_markdown, write_report
from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.training import checkpoint
from aelab.training.config import RunConfig, TrainConfig
from aelab.training.runtime import make_runtime


def test_bottleneck_lists_parse_and_bad_ones_are_refused():
    assert parse_bottlenecks("2,4, 8 16") == [2, 4, 8, 16]
    for text, words in (
        ("", "empty"),
        (" , ", "empty"),
        ("2,x", "'x'"),
        ("2,0", "at least 1"),
        ("2,2", "twice"),
        ("2.5", "whole number"),
    ):
        with pytest.raises(UserError, match=words):
            parse_bottlenecks(text)


@pytest.mark.parametrize("value, words", [("", "empty"), ("4,a", "'a'"), ("-1", "at least 1")])
def test_sweep_cli_bad_list_is_one_line_exit_2(tiny_root, tmp_path, capsys, value, words):
    code, _, err = run_cli(capsys, "sweep", "-z", value, "-e", "1", "--out", tmp_path / "s", "--data-root", tiny_root)
    assert_one_line_error(code, err, words)
    assert not (tmp_path / "s").exists()


def test_sweep_cli_writes_table_csv_plot_and_checkpoints(tiny_root, tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(
        capsys,
        "sweep",
        "-z",
        "2,3",
        "-e",
        "2",
        "-b",
        "64",
        "--seed",
        "0",
        "--out",
        out,
        "--data-root",
        tiny_root,
        "--device",
        "cpu",
    )
    assert code == 0, err
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["bottleneck"]) for r in rows] == [2, 3] and tuple(rows[0]) == SWEEP_COLUMNS
    assert all(r["label"] == "lab" and int(r["epochs"]) == 2 and float(r["train_seconds"]) > 0 for r in rows)
    assert all(r["machine"] for r in rows)
    # The PCA column is an independent PCA fit's test error at the same size.
    train, test = (load_images("mnist", tiny_root, train=t).floats() for t in (True, False))
    pca = fit_pca(train, max_components=3)
    expected = (PCAReconstructor(pca, 3)(test) - test).pow(2).mean().item()
    assert float(rows[1]["pca_mse"]) == pytest.approx(expected, rel=1e-5)
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "| lab | 3 | 2 |" in (out / "sweep.md").read_text()
    # Each row's checkpoint is the very run train.py makes with the same flags and seed.
    swept = torch.load(out / "MLP.lab.3.pth", weights_only=True)
    assert (
        script_main(
            "train",
            [
                "-z",
                "3",
                "-e",
                "2",
                "-b",
                "64",
                "-s",
                str(tmp_path / "t.pth"),
                "--seed",
                "0",
                "--data-root",
                str(tiny_root),
                "--device",
                "cpu",
                "--no-progress",
            ],
        )
        == 0
    )
    trained = torch.load(tmp_path / "t.pth", weights_only=True)
    assert all(torch.equal(swept[k], trained[k]) for k in trained)
    ae_mse = float(rows[1]["ae_mse"])
    model = checkpoint.load_model(out / "MLP.lab.3.pth")
    assert ae_mse == pytest.approx((model(test) - test).pow(2).mean().item(), rel=1e-5)


def test_two_recipes_share_one_table_and_plot(tiny_root, tmp_path):
    train_set, test_set = (load_images("mnist", tiny_root, train=t) for t in (True, False))
    runtime = make_runtime("cpu")
    config = RunConfig(train=TrainConfig(epochs=1, batch_size=64, seed=0))
    pca = fit_pca(train_set.floats(), max_components=2)
    seen = []
    rows = run_sweep(
        [2], config, train_set, test_set, runtime, pca=pca, progress=False, on_row=lambda done: seen.append(len(done))
    )
    narrow = RunConfig(model=ModelConfig(hidden=32), train=config.train, recipe="narrow")
    rows += run_sweep([2], narrow, train_set, test_set, runtime, pca=pca, progress=False)
    assert seen == [1] and [r.label for r in rows] == ["lab", "narrow"]
    assert rows[0].pca_mse == rows[1].pca_mse and rows[0].ae_mse != rows[1].ae_mse
    table = sweep_markdown(rows)
    assert "| lab | 2 |" in table and "| narrow | 2 |" in table
    paths = write_report(rows, tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(UserError, match="components"):
        run_sweep([3], config, train_set, test_set, runtime, pca=pca, progress=False)
