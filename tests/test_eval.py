"""Metrics, the PCA baseline and ``eval``: numbers that must hold, and inputs it must refuse."""

import json
import math

import pytest
import torch
from conftest import REPO, make_digits, write_idx

from aelab.analysis.evaluation import evaluate, mean_ssim, model_reconstructor
from aelab.analysis.inference import psnr_per_image
from aelab.analysis.pca import PCAReconstructor, fit_pca
from aelab.cli import main, script_main
from aelab.data.images import load_images
from aelab.data.noise import noisy_copy, seeded
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training import checkpoint


def run_cli(capsys, *argv):
    """``aelab ARGV`` in-process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's own errors exit from inside parse_args
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]


def test_pca_with_as_many_components_as_the_rank_reconstructs_its_data_exactly():
    torch.manual_seed(0)
    rank = 5
    data = torch.rand(40, rank) @ torch.rand(rank, 30)  # 40 points on a 5-D plane in 30-D
    pca = fit_pca(data)
    assert torch.allclose(pca.components.T @ pca.components, torch.eye(30, dtype=pca.components.dtype), atol=1e-10)
    exact = pca.reconstruct(data, rank, clip=False)
    assert torch.allclose(exact, data, atol=1e-5)
    assert not torch.allclose(pca.reconstruct(data, rank - 1, clip=False), data, atol=1e-3)
    assert pca.explained_ratio(rank) == pytest.approx(1.0)


def test_pca_error_falls_with_components_and_clipping_never_raises_it(tiny_root):
    train, test = (load_images("mnist", tiny_root, train=t).floats() for t in (True, False))
    pca = fit_pca(train, max_components=32)
    errors = [(pca.reconstruct(test, k, clip=False) - test).pow(2).mean().item() for k in (1, 2, 4, 8, 16, 32)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    for k in (2, 8):
        clipped = (pca.reconstruct(test, k) - test).pow(2).mean(dim=1)
        unclipped = (pca.reconstruct(test, k, clip=False) - test).pow(2).mean(dim=1)
        assert torch.all(clipped <= unclipped + 1e-7)
    with pytest.raises(UserError, match="32 components"):
        PCAReconstructor(pca, 33)


def test_noise_is_seeded_unclipped_and_psnr_matches_its_std():
    clean = torch.rand(64, 784)
    a, b, c = (noisy_copy(clean, 0.2, seeded(s)) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() < 0 and a.max() > 1  # the lab's noise is not clipped
    clipped = noisy_copy(clean, 0.2, seeded(3), clip=True)
    assert torch.equal(clipped, a.clamp(0, 1))
    # Noise of std s has MSE s^2, so its PSNR with data range 1 is -20 log10(s).
    assert psnr_per_image(a, clean).mean().item() == pytest.approx(-20 * math.log10(0.2), abs=0.1)
    with pytest.raises(UserError, match="noise std"):
        noisy_copy(clean, -0.1, seeded(0))


def test_ssim_is_one_for_a_perfect_copy_and_lower_for_a_noisy_one():
    clean = torch.rand(16, 784)
    assert mean_ssim(clean, clean, (1, 28, 28)) == pytest.approx(1.0, abs=1e-5)
    assert mean_ssim(noisy_copy(clean, 0.3, seeded(0)), clean, (1, 28, 28)) < 0.9


def test_per_class_mse_averages_back_to_the_overall_mse(tiny_root, tiny_checkpoint):
    images = load_images("mnist", tiny_root, train=False)
    model = checkpoint.load_model(tiny_checkpoint)
    report = evaluate({"model": model_reconstructor(model)}, images, noise_stds=(0.1,), seed=0)
    quality = report.quality["model"]
    assert sum(report.class_counts.values()) == len(images)
    weighted = sum(quality.per_class_mse[c] * n for c, n in report.class_counts.items()) / len(images)
    assert weighted == pytest.approx(quality.mse, rel=1e-5)
    recon = model_reconstructor(model)(images.floats())
    assert quality.mse == pytest.approx((recon - images.floats()).pow(2).mean().item(), rel=1e-6)


def test_eval_prints_tables_and_writes_json(tiny_root, tiny_checkpoint, tmp_path, capsys):
    torch.manual_seed(1)
    other = MLPAutoencoder(ModelConfig(bottleneck=4))
    init_lab_weights(other)
    checkpoint.save(tmp_path / "other.pth", other)
    out = tmp_path / "eval.json"
    code, stdout, err = run_cli(
        capsys,
        "eval",
        "-l",
        tiny_checkpoint,
        "--compare-to",
        tmp_path / "other.pth",
        "--json",
        out,
        "--data-root",
        tiny_root,
        "--device",
        "cpu",
    )
    assert code == 0, err
    assert "| PSNR (dB) |" in stdout and "gain of tiny over other (dB)" in stdout and "PCA-4" in stdout
    data = json.loads(out.read_text())
    assert set(data["reconstruction"]) == {"tiny", "PCA-4", "other"}
    assert set(data["reconstruction"]["tiny"]) == {"mse", "psnr", "ssim", "per_class_mse"}
    assert [row["noise_std"] for row in data["denoising"]] == pytest.approx([0.1, 0.2, math.sqrt(0.1), 0.5])
    assert set(data["denoising"][0]["denoised_psnr"]) == {"tiny", "PCA-4", "other"}
    assert data["pca"]["components"] == 4 and data["models"]["tiny"]["bottleneck"] == 4
    gains = data["denoising_gain_db"]
    assert (gains["of"], gains["over"]) == ("tiny", "other")
    first = data["denoising"][0]["denoised_psnr"]
    assert gains["by_noise_std"][0]["gain"] == pytest.approx(first["tiny"] - first["other"])
    assert data["conventions"]["noise"] == "Gaussian, unclipped, seeded"
    # The same seed gives the same noise, so a second run repeats every number; clipping changes them.
    run_cli(capsys, "eval", "-l", tiny_checkpoint, "--json", tmp_path / "again.json", "--data-root", tiny_root)
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["denoising"][2]["denoised_psnr"]["tiny"] == data["denoising"][2]["denoised_psnr"]["tiny"]
    code, stdout, _ = run_cli(
        capsys,
        "eval",
        "-l",
        tiny_checkpoint,
        "--json",
        tmp_path / "clipped.json",
        "--data-root",
        tiny_root,
        "--clip-noise",
    )
    clipped = json.loads((tmp_path / "clipped.json").read_text())
    assert code == 0 and "clipped to [0, 1]" in stdout and "clipped" in clipped["conventions"]["noise"]
    assert clipped["denoising"][2]["noisy_psnr"] > data["denoising"][2]["noisy_psnr"]


def test_eval_refuses_a_checkpoint_for_another_image_size(tmp_path, capsys):
    root = tmp_path / "small"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 32), ("t10k", 16)):
        images, labels = make_digits(n, seed=0, side=14)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    model = MLPAutoencoder(ModelConfig(bottleneck=4))
    checkpoint.save(tmp_path / "big.pth", model)
    code, _, err = run_cli(capsys, "eval", "-l", tmp_path / "big.pth", "--data-root", root)
    assert_one_line_error(code, err, "784-pixel", "196")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--noise-std", "-0.1"], ["noise-std", "-0.1"]),
        (["--noise-std", "0.1", "abc"], ["noise-std", "abc"]),
        (["--pca-components", "0"], ["pca-components"]),
    ],
)
def test_eval_bad_options_are_one_line_exit_2(tiny_root, tiny_checkpoint, capsys, argv, words):
    code, _, err = run_cli(capsys, "eval", "-l", tiny_checkpoint, "--data-root", tiny_root, *argv)
    assert_one_line_error(code, err, *words)


def test_eval_missing_or_self_compared_checkpoint_is_one_line(tiny_root, tiny_checkpoint, tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval", "-l", tmp_path / "nope.pth", "--data-root", tiny_root)
    assert_one_line_error(code, err, "not found")
    code, _, err = run_cli(
        capsys, "eval", "-l", tiny_checkpoint, "--compare-to", tiny_checkpoint, "--data-root", tiny_root
    )
    assert_one_line_error(code, err, "--compare-to")


@pytest.mark.slow
def test_pca_baseline_on_real_mnist_matches_the_reference(real_root):
    train, test = (load_images("mnist", real_root, train=t).floats() for t in (True, False))
    pca = fit_pca(train, max_components=8)
    mse = (PCAReconstructor(pca, 8)(test) - test).pow(2).mean().item()
    assert mse == pytest.approx(0.0364, abs=5e-4)  # PCA-8 on the MNIST test set, clipped to [0, 1]
    lab_model = REPO / "runs" / "MLP.8.pth"
    if lab_model.exists():
        model = checkpoint.load_model(lab_model)
        assert (model_reconstructor(model)(test) - test).pow(2).mean().item() < 0.65 * mse


def test_eval_names_how_each_model_was_noised(tiny_root, tmp_path, capsys):
    noised = tmp_path / "noised.pth"
    assert (
        script_main(
            "train",
            [
                "-z",
                "4",
                "-e",
                "1",
                "-s",
                str(noised),
                "--data-root",
                str(tiny_root),
                "--train-noise",
                "0.2",
                "--clip-noise",
                "--no-progress",
            ],
        )
        == 0
    )
    out = tmp_path / "eval.json"
    code, stdout, err = run_cli(capsys, "eval", "-l", noised, "--json", out, "--data-root", tiny_root)
    assert code == 0, err
    assert "training input noise std 0.2, clipped to [0, 1]" in stdout
    model = json.loads(out.read_text())["models"]["noised"]
    assert model["train_noise"] == 0.2 and model["train_noise_clipped"] is True
