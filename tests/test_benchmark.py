"""The benchmark runs both pipelines on the same data and reports consistent figures."""

import json

import pytest

from aelab.cli import main


def test_bench_writes_a_table_and_json(tiny_root, tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    assert (
        main(
            [
                "bench",
                "--epochs",
                "2",
                "--precision",
                "fp32",
                "--data-root",
                str(tiny_root),
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    report = json.loads((out / "results.json").read_text())
    lab, ours = report["rows"]
    assert lab["name"] == "lab-style pipeline" and lab["speedup_vs_lab"] == 1.0
    assert ours["name"] == "our trainer, fp32" and ours["n_images"] == lab["n_images"] == 256
    assert ours["speedup_vs_lab"] == pytest.approx(lab["train_seconds"] / ours["train_seconds"])
    assert ours["roofline_seconds"] > 0 and ours["inference_images_per_second"] > 0
    for r in (lab, ours):  # the contestants took turns: one epoch each, timed one by one
        assert len(r["epoch_seconds"]) == r["epochs"] == 2
        assert r["train_seconds"] == sum(r["epoch_seconds"])
        assert r["peak_memory_mb"] > 10  # a separate process's peak: at least Python and torch
    assert 0 < ours["test_mse"] < 0.5 and 0 < lab["test_mse"] < 0.5
    table = (out / "results.md").read_text()
    assert "| lab-style pipeline |" in table and "| our trainer, fp32 |" in table


def test_bench_refuses_an_unwritable_folder(tiny_root, tmp_path, capsys):
    assert (
        main(["bench", "--epochs", "1", "--data-root", str(tiny_root), "--out", str(tmp_path / "missing" / "bench")])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_fewer_lab_epochs_compare_epoch_rates(tiny_root, tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    assert (
        main(
            [
                "bench",
                "--epochs",
                "3",
                "--lab-epochs",
                "1",
                "--precision",
                "fp32",
                "--data-root",
                str(tiny_root),
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    lab, ours = json.loads((out / "results.json").read_text())["rows"]
    assert (lab["epochs"], ours["epochs"]) == (1, 3)
    assert len(lab["epoch_seconds"]) == 1 and len(ours["epoch_seconds"]) == 3
    assert ours["speedup_vs_lab"] == pytest.approx(ours["epochs_per_second"] / lab["epochs_per_second"])
    assert ours["capture_seconds"] >= 0  # nothing to capture on a CPU, but timed all the same
    assert "| lab-style pipeline | 1 |" in (out / "results.md").read_text()


def test_more_lab_epochs_than_epochs_are_refused(tiny_root, tmp_path, capsys):
    assert (
        main(["bench", "--epochs", "2", "--lab-epochs", "3", "--data-root", str(tiny_root), "--out", str(tmp_path)])
        == 2
    )
    assert "pass at most --epochs" in capsys.readouterr().err


def test_the_default_output_folder_is_not_the_repositorys_bench(tmp_path, monkeypatch):
    from aelab.cli import bench, build_parser
    from aelab.errors import UserError

    monkeypatch.chdir(tmp_path)
    parsed = build_parser().parse_args(["bench", "--epochs", "1", "--lab-epochs", "2"])
    with pytest.raises(UserError, match="--lab-epochs 2 is more than --epochs 1"):
        bench.run(parsed)  # refused before any training, once the output folder is settled
    assert (tmp_path / "runs" / "bench").is_dir() and not (tmp_path / "bench").exists()
