"""The Gaussian mixture that lets a deterministic autoencoder be sampled: known answers for its fit,
its refusals, and ``aelab sample`` and ``plot_samples`` on a tiny trained MLP."""

import math

import pytest
import torch
from conftest import write_mnist
from test_eval import assert_one_line_error, run_cli

from aelab.analysis.inference import encode_all
from aelab.analysis.mixture import fit_mixture, sample_images
from aelab.analysis.pictures import plot_samples
from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.errors import UserError
from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.training import checkpoint

TRUE_MEANS = torch.tensor([[-4.0, 1.0], [3.0, -2.0]], dtype=torch.float64)
TRUE_WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
TRUE_SCALES = torch.tensor([[[1.0, 0.0], [0.6, 0.5]], [[0.7, 0.0], [-0.3, 1.2]]], dtype=torch.float64)


def two_blobs(n: int = 6000, seed: int = 0) -> torch.Tensor:
    """Two well-separated 2-D Gaussians, 30% and 70% of the points, each with its own tilted covariance."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.multinomial(TRUE_WEIGHTS, n, replacement=True, generator=generator)
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return TRUE_MEANS[picks] + torch.einsum("nij,nj->ni", TRUE_SCALES[picks], noise)


def by_first_coordinate(mixture):
    order = mixture.means[:, 0].argsort()
    return mixture.means[order], mixture.weights[order], mixture.covariances[order]


def test_two_separated_blobs_are_found():
    mixture = fit_mixture(two_blobs(), components=2, seed=0)
    means, weights, covariances = by_first_coordinate(mixture)
    assert mixture.converged and 1 < mixture.iterations < 100
    assert (means - TRUE_MEANS).abs().max() < 0.1
    assert (weights - TRUE_WEIGHTS).abs().max() < 0.05
    assert torch.allclose(covariances, TRUE_SCALES @ TRUE_SCALES.transpose(1, 2), atol=0.1)
    assert torch.allclose(weights.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_one_component_is_the_data_mean_and_covariance_and_its_density():
    codes = two_blobs(500)
    mixture = fit_mixture(codes, components=1, seed=0)
    mean, covariance = codes.mean(0), torch.cov(codes.T, correction=0)
    assert torch.allclose(mixture.means[0], mean, atol=1e-12)
    assert torch.allclose(mixture.covariances[0], covariance, atol=1e-4)  # the ridge is 1e-6 of the variance
    exact = torch.distributions.MultivariateNormal(mean, covariance).log_prob(codes)
    assert torch.allclose(mixture.log_prob(codes), exact, atol=1e-4)


def test_a_seed_repeats_exactly():
    codes = two_blobs(2000).float()
    first, second = fit_mixture(codes, 3, seed=5), fit_mixture(codes, 3, seed=5)
    for name in ("weights", "means", "scales"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    draws = first.sample(100, torch.Generator().manual_seed(1))
    assert draws.dtype == torch.float32 and draws.shape == (100, 2)
    assert torch.equal(draws, second.sample(100, torch.Generator().manual_seed(1)))
    assert not torch.equal(draws, first.sample(100, torch.Generator().manual_seed(2)))


def test_samples_have_the_datas_mean_and_covariance():
    codes = two_blobs()
    draws = fit_mixture(codes, 2, seed=0).sample(20000, torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), codes.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(draws.T), torch.cov(codes.T), rtol=0.05, atol=0.1)


def test_temperature_scales_each_draws_deviation_from_its_components_mean():
    mixture = fit_mixture(two_blobs(1000), 2, seed=0)
    at_means = mixture.sample(50, torch.Generator().manual_seed(4), temperature=0.0)
    assert at_means.dtype == torch.float64  # the dtype of the codes it was fitted to
    assert all(any(torch.equal(row, mean) for mean in mixture.means) for row in at_means)
    full, half = (mixture.sample(50, torch.Generator().manual_seed(4), temperature=t) for t in (1.0, 0.5))
    assert torch.allclose(half - at_means, 0.5 * (full - at_means), atol=1e-5)


@pytest.mark.parametrize(
    "codes, components, words",
    [
        (torch.zeros(5, 2), 0, ["at least 1 component"]),
        (torch.zeros(5, 2), -3, ["at least 1 component"]),
        (torch.zeros(5, 2), 6, ["6 mixture components", "at most 5"]),
        (torch.zeros(5, 2), 2.0, ["whole number"]),
        (torch.tensor([[0.0, 1.0], [math.nan, 0.0], [1.0, 1.0]]), 1, ["1 of the 3 codes", "NaN or inf"]),
        (torch.tensor([[0.0, math.inf], [1.0, 0.0]]), 1, ["NaN or inf"]),
        (torch.zeros(4), 1, ["N x d"]),
    ],
)
def test_bad_inputs_are_refused(codes, components, words):
    with pytest.raises(UserError) as refused:
        fit_mixture(codes, components, seed=0)
    message = str(refused.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_identical_codes_still_fit():
    mixture = fit_mixture(torch.ones(10, 3), 4, seed=0)
    assert torch.isfinite(mixture.log_prob(torch.ones(2, 3))).all()
    assert torch.allclose(mixture.sample(5, torch.Generator().manual_seed(0)), torch.ones(5, 3), atol=1e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny MLP trained one epoch on tiny data: (data root, checkpoint)."""
    folder = tmp_path_factory.mktemp("mixture")
    root, path = write_mnist(folder / "data"), folder / "mlp.pth"
    argv = ["--model", "mlp", "-z", "3", "--hidden", "16", "-b", "64", "--seed", "0", "-e", "1"]
    assert script_main("train", [*argv, "-s", str(path), "--data-root", str(root), "--no-progress"]) == 0
    return root, path


def sample(capsys, trained, out, *extra):
    root, path = trained
    return run_cli(capsys, "sample", "-l", path, "--data-root", root, "-n", "8", "--out", out, *extra)


def test_sample_draws_a_deterministic_model_from_a_mixture(trained, tmp_path, capsys):
    code, out, err = sample(capsys, trained, tmp_path / "g.png", "--components", "3")
    assert code == 0, err
    assert "sampled from a 3-component Gaussian mixture fitted to the 256 training codes" in out
    assert (tmp_path / "g.png").stat().st_size > 0
    assert sample(capsys, trained, tmp_path / "again.png", "--components", "3")[0] == 0
    assert (tmp_path / "g.png").read_bytes() == (tmp_path / "again.png").read_bytes()
    assert sample(capsys, trained, tmp_path / "other.png", "--components", "3", "--seed", "1")[0] == 0
    assert (tmp_path / "g.png").read_bytes() != (tmp_path / "other.png").read_bytes()


def test_sample_defaults_to_ten_components(trained, tmp_path, capsys):
    code, out, err = sample(capsys, trained, tmp_path / "g.png", "--temperature", "0.5")
    assert code == 0 and "a 10-component Gaussian mixture" in out, err


@pytest.mark.parametrize(
    "components, words", [("0", ["--components", "at least 1"]), ("1000000", ["--components 1000000", "at most 256"])]
)
def test_bad_component_counts_are_one_line_and_write_nothing(trained, tmp_path, capsys, components, words):
    code, _, err = sample(capsys, trained, tmp_path / "g.png", "--components", components)
    assert_one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []


def test_components_on_a_vae_are_refused(tmp_path, capsys):
    path = tmp_path / "v.pth"
    checkpoint.save(path, registry.build(ModelConfig(family="vae", hidden=8, bottleneck=2)))
    code, _, err = run_cli(capsys, "sample", "-l", path, "--out", tmp_path / "s.png", "--components", "3")
    assert_one_line_error(code, err, "--components", "own prior")
    assert not (tmp_path / "s.png").exists()


def test_sample_images_decodes_the_mixtures_draws(trained):
    root, path = trained
    model, train_set = checkpoint.load_model(path), load_images("mnist", root, train=True)
    images, mixture, fitted = sample_images(model, train_set, 6, 3, 1.0, seed=2)
    again = fit_mixture(encode_all(model, train_set), 3, seed=2)
    expected = model.decode(again.sample(6, torch.Generator().manual_seed(2))).detach()
    assert fitted == 256 and mixture.components == 3 and torch.equal(images, expected)


def test_plot_samples_takes_data_for_a_deterministic_model(trained):
    root, path = trained
    model, train_set = checkpoint.load_model(path), load_images("mnist", root, train=True)
    fig = plot_samples(model, n=6, columns=3, data=train_set, components=3)
    assert "3-component mixture samples" in fig.texts[0].get_text()
    assert sum(bool(ax.images) for ax in fig.axes) == 6
    with pytest.raises(UserError, match="pass data="):
        plot_samples(model)
