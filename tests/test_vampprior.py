"""The VampPrior: log p(z) is the mixture of the encoder's posteriors at the pseudo-inputs, the KL
term its one-draw estimate, sample draws from it, and every command runs a VAE or IWAE with it."""

import math

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.models.config import ModelConfig
from aelab.models.registry import build
from aelab.models.vae import model as vae_model
from aelab.training import checkpoint

SMALL = ["-z", "3", "--hidden", "16", "-b", "64", "--seed", "0", "--no-progress"]


def tiny_vamp(k: int = 4, family: str = "vae"):
    torch.manual_seed(0)
    return build(ModelConfig(family=family, hidden=16, bottleneck=3, prior="vamp", pseudo_inputs=k)).eval()


def test_log_prior_is_the_mixture_of_the_pseudo_inputs_posteriors(monkeypatch):
    model, codes = tiny_vamp(4), torch.randn(6, 2, 3)
    means, log_vars = model.prior_components()
    components = torch.distributions.Normal(means, (0.5 * log_vars).exp())
    expected = torch.logsumexp(components.log_prob(codes[..., None, :]).sum(-1), -1) - math.log(4)
    assert torch.allclose(model.log_prior(codes), expected, atol=1e-5)
    monkeypatch.setattr(vae_model, "PRIOR_CHUNK_FLOATS", 13)  # one code at a time: the same numbers
    assert torch.allclose(model.log_prior(codes), expected, atol=1e-5)


def test_the_kl_term_vanishes_when_the_posterior_is_the_prior():
    model = tiny_vamp(1)
    x = torch.rand(1, 784).clamp(0.01, 0.99)
    with torch.no_grad():
        model.pseudo_logits.copy_(torch.logit(x))  # the one pseudo-input is x: p(z) is q(z|x) exactly
    mean, log_var = model.posterior(x)
    for _ in range(5):
        assert model.divergence(mean, log_var, torch.randn_like(mean)).abs().max() < 1e-4


def test_a_standard_prior_keeps_its_closed_form_and_has_no_pseudo_inputs():
    torch.manual_seed(0)
    model = build(ModelConfig(family="vae", hidden=16, bottleneck=3))
    assert not hasattr(model, "pseudo_logits")
    mean, log_var, noise = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(model.divergence(mean, log_var, noise), model.kl(mean, log_var))


def test_samples_come_from_the_components():
    model = tiny_vamp(3)
    torch.manual_seed(1)
    picks = torch.randint(3, (5,), generator=torch.Generator().manual_seed(7))
    means, _ = model.prior_components()
    # at temperature ~0 each draw is its component's mean; the picks follow the noise on one generator
    generator = torch.Generator().manual_seed(7)
    torch.randn(5, 3, generator=generator)
    picks = torch.randint(3, (5,), generator=generator)
    drawn = model.sample(5, 1e-30, torch.Generator().manual_seed(7))
    assert torch.allclose(drawn, model.decode(means[picks]), atol=1e-6)


@pytest.mark.parametrize("family", ["vae", "iwae"])
def test_every_command_runs_with_a_vampprior(tiny_root, tmp_path, capsys, family):
    path = tmp_path / "v.pth"
    args = ["train", "--model", family, "--prior", "vamp", "--pseudo-inputs", "5", "-s", path, "--data-root", tiny_root]
    assert run_cli(capsys, *args, *SMALL, "-e", "1")[0] == 0
    assert run_cli(capsys, *args, *SMALL, "-e", "2", "--resume")[0] == 0
    model = checkpoint.load_model(path)
    assert model.config.prior == "vamp" and model.pseudo_logits.shape == (5, 784)
    code, out, _ = run_cli(capsys, "eval", "-l", path, "--data-root", tiny_root, "--iw-samples", "5")
    assert code == 0 and "IW-NLL" in out
    assert run_cli(capsys, "sample", "-l", path, "-n", "4", "--out", tmp_path / "s.png")[0] == 0
    assert run_cli(capsys, "export", "-l", path, "--out", tmp_path / "x", "--no-onnx")[0] == 0
    assert torch.equal(checkpoint.load_model(tmp_path / "x").pseudo_logits, model.pseudo_logits)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--model", "mlp", "--prior", "vamp"], ["--prior does not apply to a mlp model", "vae"]),
        (["--model", "vae", "--pseudo-inputs", "0"], ["--pseudo-inputs", "from 1 to 10000"]),
        (["--model", "vae", "--prior", "vamp", "--step", "fused"], ["--step fused cannot train", "vamp prior"]),
    ],
)
def test_bad_prior_settings_are_one_line_and_write_nothing(tiny_root, tmp_path, capsys, extra, words):
    code, _, err = run_cli(capsys, "train", "-s", tmp_path / "m.pth", "--data-root", tiny_root, *SMALL, *extra)
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "m.pth").exists()
