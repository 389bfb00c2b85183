"""The IWAE family: its loss is the K-sample importance-weighted bound, tighter than the ELBO,
and every command trains, resumes, scores, samples and exports it."""

import math

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.models.config import ModelConfig
from aelab.models.registry import build
from aelab.training import checkpoint

SMALL = ["-z", "3", "--hidden", "16", "-b", "64", "--seed", "0", "--no-progress"]


def tiny_iwae(k: int):
    torch.manual_seed(0)
    return build(ModelConfig(family="iwae", hidden=16, bottleneck=3, iw_train_samples=k))


def test_one_draw_is_the_elbo_and_more_draws_tighten_it():
    x = (torch.rand(32, 784) < 0.3).float()
    one, many = tiny_iwae(1), tiny_iwae(50)
    many.load_state_dict(one.state_dict())
    with torch.no_grad():
        single = torch.stack([one.loss(x, x) for _ in range(300)]).mean().item()
        tight = torch.stack([many.loss(x, x) for _ in range(20)]).mean().item()
        elbo = one.negative_elbo(x).mean().item()  # closed-form KL, one draw for the likelihood
        exact = torch.stack([one.negative_elbo(x).mean() for _ in range(300)]).mean().item()
    assert single == pytest.approx(exact, rel=2e-3)  # one draw's IW bound is the ELBO, in expectation
    assert tight < single - 0.1 and math.isfinite(elbo)


def test_the_loss_is_the_log_mean_of_the_importance_weights():
    model, x = tiny_iwae(7), torch.rand(5, 784)
    torch.manual_seed(3)
    loss = model.loss(x, x)
    torch.manual_seed(3)
    mean, log_var = model.posterior(x)
    weights = model.importance_weights(x, mean, log_var, torch.randn(7, 5, 3))
    assert weights.shape == (7, 5)
    assert torch.allclose(loss, -(torch.logsumexp(weights, 0) - math.log(7)).mean())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_every_command_runs_an_iwae(tiny_root, tmp_path, capsys):
    path = tmp_path / "iwae.pth"
    args = ["train", "--model", "iwae", "--iw-train-samples", "3", "-s", path, "--data-root", tiny_root, *SMALL]
    assert run_cli(capsys, *args, "-e", "1")[0] == 0
    assert run_cli(capsys, *args, "-e", "2", "--resume")[0] == 0
    model = checkpoint.load_model(path)
    assert model.config.iw_train_samples == 3 and len(checkpoint.load_run_state(path)["history"]["losses"]) == 2
    code, out, _ = run_cli(capsys, "eval", "-l", path, "--data-root", tiny_root, "--iw-samples", "5")
    assert code == 0 and "IW-NLL" in out
    assert run_cli(capsys, "sample", "-l", path, "-n", "4", "--out", tmp_path / "s.png")[0] == 0
    assert run_cli(capsys, "export", "-l", path, "--out", tmp_path / "x", "--no-onnx")[0] == 0
    assert torch.equal(checkpoint.load_model(tmp_path / "x").encoder[1].weight, model.encoder[1].weight)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--iw-train-samples", "0"], ["--iw-train-samples", "from 1 to 1000"]),
        (["--iw-train-samples", "100000"], ["--iw-train-samples", "from 1 to 1000"]),
        (["--beta", "2"], ["no KL weight", "--beta"]),
    ],
)
def test_bad_iwae_settings_are_one_line_and_write_nothing(tiny_root, tmp_path, capsys, extra, words):
    code, _, err = run_cli(
        capsys, "train", "--model", "iwae", "-s", tmp_path / "m.pth", "--data-root", tiny_root, *SMALL, *extra
    )
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "m.pth").exists()


def test_iw_train_samples_belong_to_the_iwae_only(tiny_root, tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", "--model", "vae", "--iw-train-samples", "5", "-s", tmp_path / "m.pth", "--data-root", tiny_root
    )
    assert_one_line_error(code, err, "--iw-train-samples does not apply to a vae model", "iwae or conv-iwae")
