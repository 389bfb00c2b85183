"""Every model family offers the same API and goes through every command on tiny data."""

import json
import math
from dataclasses import fields

import pytest
import torch
from test_eval import assert_one_line_error, run_cli
from test_plain_loop import lab_training

from aelab.analysis import likelihood as likelihood_module
from aelab.analysis.likelihood import likelihood
from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.models.vae.model import VariationalAutoencoder
from aelab.training import checkpoint
from aelab.training.config import TrainConfig
from aelab.training.runtime import make_runtime


def own_fields(family: str) -> set[str]:
    return {f.name for f in fields(registry.get(family).config)}


# Small stages for the conv-bodied families, so their runs take seconds.
SMALL = {
    family: (["--conv-channels", "4,8"] if "conv_channels" in own_fields(family) else [])
    + (["--code-dim", "2", "--codebook-size", "16"] if "code_dim" in own_fields(family) else [])
    for family in registry.names()
}
SHAPES = [
    dict(),
    dict(conv_channels=(3, 5, 7), image_shape=(3, 16, 24), input_dim=1152, output_dim=1152),
    dict(depth=3, image_shape=(1, 8, 8), input_dim=64, output_dim=64),
]


def config_of(family: str, **shape) -> ModelConfig:
    if family == "mlp":  # the lab's network has one hidden layer each side
        shape.pop("depth", None)
    shape = {k: v for k, v in shape.items() if k in own_fields(family)}
    sized = {} if "code_dim" in own_fields(family) else {"bottleneck": 3}  # a vq-vae's grid sets its code size
    return ModelConfig(family=family, hidden=24, **sized, **shape)


@pytest.mark.parametrize("family", registry.names())
@pytest.mark.parametrize("shape", SHAPES)
def test_the_config_counts_the_parameters_the_family_builds(family, shape):
    config = config_of(family, **shape)
    model = registry.build(config)
    assert registry.parameter_count(config) == sum(p.numel() for p in model.parameters())  # counted on meta
    images = torch.rand(5, *config.image_shape)
    assert model(images).shape == (5, config.output_dim)
    assert model.encode(images).shape == (5, config.bottleneck)
    assert ((model(images) >= 0) & (model(images) <= 1)).all()


@pytest.mark.parametrize("family", registry.names())
def test_interpolation_ends_are_the_reconstructions(family):
    torch.manual_seed(0)
    model = registry.build(config_of(family)).eval()
    a, b = torch.rand(2, 1, 28, 28)
    path = model.interpolate(a, b, n_steps=5)
    assert torch.equal(path[0], model(a[None])[0]) and torch.equal(path[-1], model(b[None])[0])
    assert not torch.equal(path[1], path[0])


def test_vae_terms_have_their_known_values():
    torch.manual_seed(0)
    model = registry.build(ModelConfig(family="vae", hidden=16, bottleneck=2))
    # The KL of the prior against itself is 0; of N(1, 1) per unit, 0.5 each.
    assert torch.equal(model.kl(torch.zeros(3, 2), torch.zeros(3, 2)), torch.zeros(3))
    assert torch.allclose(model.kl(torch.ones(1, 2), torch.zeros(1, 2)), torch.tensor([1.0]))
    # A Bernoulli decoder's log-likelihood is minus the summed BCE.
    logits, x = torch.randn(4, 784), torch.rand(4, 784).round()
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    assert torch.allclose(model.log_likelihood(logits, x), expected)
    # Jensen: the importance-weighted bound is at least the ELBO's, image by image.
    images = torch.rand(6, 784).round()
    weights = model.log_weights(images, 50, torch.Generator().manual_seed(1))
    assert (torch.logsumexp(weights, 0) - math.log(50) >= weights.mean(0)).all()


def test_sampling_is_seeded_and_temperature_scales_the_codes():
    model = registry.build(ModelConfig(family="vae", hidden=16, bottleneck=2))
    first = model.sample(4, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(first, model.sample(4, 1.0, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, model.sample(4, 0.5, torch.Generator().manual_seed(3)))
    assert torch.equal(model.sample(2, 1e-30, torch.Generator().manual_seed(3)), model.decode(torch.zeros(2, 2)))


@pytest.mark.parametrize("family, extra", [("conv", []), ("vae", ["--binarize", "--step", "autograd"])])
def test_the_trainer_runs_the_plain_loop_for_other_families(tiny_root, tmp_path, family, extra):
    path = tmp_path / f"{family}.pth"
    assert (
        script_main(
            "train",
            [
                "--model",
                family,
                "-z",
                "3",
                "--hidden",
                "16",
                "-e",
                "2",
                "-b",
                "64",
                "--seed",
                "0",
                "-s",
                str(path),
                "--data-root",
                str(tiny_root),
                "--no-progress",
                *SMALL[family],
                *extra,
            ],
        )
        == 0
    )
    saved = checkpoint.load_model(path)
    state = checkpoint.load_run_state(path)
    torch.manual_seed(0)
    plain = make_runtime("cpu").place(registry.build(saved.config))  # the trainer's layout (channels-last for conv)
    train_set = load_images("mnist", tiny_root, train=True)
    losses = lab_training(plain, train_set.floats(), TrainConfig.from_dict(state["config"]["train"]))
    # the trainer sums an epoch's losses on the device in float32, the lab in Python floats
    assert losses == pytest.approx(state["history"]["losses"], rel=1e-6)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, saved.state_dict()[name]), name


def train_family(root, path, family, *extra):
    return script_main(
        "train",
        [
            "--model",
            family,
            *([] if "code_dim" in own_fields(family) else ["-z", "3"]),
            "--hidden",
            "16",
            "-b",
            "64",
            "--seed",
            "0",
            "-s",
            str(path),
            "--data-root",
            str(root),
            "--no-progress",
            *SMALL[family],
            *map(str, extra),
        ],
    )


@pytest.mark.parametrize("family", registry.names())
def test_every_family_trains_resumes_and_goes_through_every_command(tiny_root, tmp_path, family, capsys):
    straight, resumed = tmp_path / "straight.pth", tmp_path / "resumed.pth"
    assert train_family(tiny_root, straight, family, "-e", "3") == 0
    assert train_family(tiny_root, resumed, family, "-e", "2") == 0
    assert train_family(tiny_root, resumed, family, "-e", "3", "--resume") == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = checkpoint.load_model(straight)
    assert model.config.family == family and isinstance(model, registry.get(family).model_class())
    capsys.readouterr()

    figures = tmp_path / "lab"
    assert (
        script_main(
            "lab",
            [
                "-l",
                str(straight),
                "--data-root",
                str(tiny_root),
                "--out",
                str(figures),
                "--index",
                "1",
                "--pair",
                "2",
                "3",
            ],
        )
        == 0
    )
    assert len(list(figures.glob("*.png"))) >= 3
    code, out, err = run_cli(capsys, "eval", "-l", straight, "--data-root", tiny_root, "--iw-samples", "4")
    assert code == 0, err
    assert ("IW-NLL" in out) == model.variational
    assert run_cli(capsys, "figures", "-l", straight, "--data-root", tiny_root, "--out", tmp_path / "latent")[0] == 0
    code, out, err = run_cli(
        capsys, "sample", "-l", straight, "-n", "9", "--out", tmp_path / "s.png", "--data-root", tiny_root
    )
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0, err
    assert ("Gaussian mixture fitted to the 256 training codes" in out) != model.variational  # a VAE has a prior


def channels_last(model) -> bool:
    """Whether the decoder's first transposed convolution holds its weights channels-last (in SMALL's
    widths it takes 8 channels to 4: no dimension of 1, which would make both layouts the same)."""
    weight = next(m for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)).weight
    assert min(weight.shape) > 1
    return weight.is_contiguous(memory_format=torch.channels_last)


def test_eval_scores_a_conv_vae_in_channels_last_as_the_stored_layout_does(tiny_root, tmp_path, capsys, monkeypatch):
    path, report = tmp_path / "convvae.pth", tmp_path / "eval.json"
    assert train_family(tiny_root, path, "conv-vae", "-e", "1") == 0
    layouts = []

    def spied(model, *args, **kwargs):
        layouts.append(channels_last(model))
        return likelihood(model, *args, **kwargs)

    monkeypatch.setattr(likelihood_module, "likelihood", spied)
    code, _, err = run_cli(capsys, "eval", "-l", path, "--data-root", tiny_root, "--iw-samples", "5", "--json", report)
    assert code == 0 and layouts == [True], err
    scored = json.loads(report.read_text())["likelihood"]["convvae"]
    model = checkpoint.load_model(path)  # the layout it was stored in: contiguous
    assert not channels_last(model)
    direct = likelihood(model, load_images("mnist", tiny_root, train=False).floats(), iw_samples=5)
    assert scored["iw_nll"] == pytest.approx(direct.iw_nll, rel=1e-5)
    assert scored["negative_elbo"] == pytest.approx(direct.negative_elbo, rel=1e-5)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "vae", "--beta", "-1"], ["--beta"]),
        (["--model", "vae", "--beta", "nan"], ["--beta"]),
        (["--model", "conv", "--likelihood", "gaussian"], ["--likelihood", "conv"]),
        (["--model", "mlp", "--beta", "2"], ["--beta"]),
        (["--model", "vae", "--loss", "mse"], ["negative ELBO", "not --loss mse", "--likelihood"]),
        (["--model", "mlp", "--loss", "elbo"], ["elbo"]),
        (["--model", "vae", "--code-activation", "relu"], ["posterior mean"]),
        (["--model", "conv", "--conv-channels", "4,8,16"], ["divisible by 8", "28x28", "32 32"]),
        (["--model", "mlp", "--depth", "2"], ["depth"]),
        (["--model", "mlp", "--conv-channels", "4"], ["--conv-channels does not apply", "--model conv or conv-vae"]),
        (["--model", "conv-vae", "--step", "fused"], ["--step fused", "conv-vae"]),
        (["--model", "vae", "--step", "fused", "--precision", "bf16"], ["--step fused", "bf16"]),
    ],
)
def test_bad_family_options_are_one_line_and_write_nothing(tiny_root, tmp_path, capsys, argv, words):
    code, _, err = run_cli(capsys, "train", "-e", "1", "-s", tmp_path / "m.pth", "--data-root", tiny_root, *argv)
    assert_one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-n", "0"], ["-n"]),
        (["-n", "100000"], ["-n", "at most"]),
        (["--temperature", "0"], ["--temperature"]),
        (["--temperature", "inf"], ["--temperature"]),
    ],
)
def test_bad_sample_options(tmp_path, capsys, argv, words):
    path = tmp_path / "v.pth"
    checkpoint.save(path, registry.build(ModelConfig(family="vae", hidden=8, bottleneck=2)))
    code, _, err = run_cli(capsys, "sample", "-l", path, "--out", tmp_path / "s.png", *argv)
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "s.png").exists()


def test_iw_samples_must_be_positive(tmp_path, capsys):
    path = tmp_path / "v.pth"
    checkpoint.save(path, VariationalAutoencoder(ModelConfig(family="vae", hidden=8, bottleneck=2)))
    code, _, err = run_cli(capsys, "eval", "-l", path, "--iw-samples", "0")
    assert_one_line_error(code, err, "--iw-samples")


def test_a_conv_vae_trains_and_resumes_under_torchrun(tiny_root, tmp_path):
    from train_runs import torchrun

    straight, resumed = tmp_path / "straight.pth", tmp_path / "resumed.pth"
    family = ("--model", "conv-vae", "--conv-channels", "4,8")
    for path, epochs, extra in ((straight, 2, ()), (resumed, 1, ()), (resumed, 2, ("--resume",))):
        result = torchrun(path, tiny_root, "-e", epochs, *family, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
    model = checkpoint.load_model(straight)
    assert model.config.family == "conv-vae"
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_conv_model_refuses_images_of_another_layout_with_as_many_pixels(tmp_path, capsys):
    import numpy as np

    path = tmp_path / "conv.pth"
    checkpoint.save(path, registry.build(ModelConfig(family="conv", conv_channels=(4,), hidden=8, bottleneck=2)))
    np.save(tmp_path / "tall.npy", (np.random.default_rng(0).random((20, 56, 14)) * 255).astype(np.uint8))
    code, _, err = run_cli(capsys, "eval", "-l", path, "--dataset", tmp_path / "tall.npy")
    assert_one_line_error(code, err, "28x28", "56x14")


def test_a_sweep_puts_every_family_in_one_table_and_plot(tiny_root, tmp_path, capsys):
    import csv

    out = tmp_path / "sweep"
    code, _, err = run_cli(
        capsys,
        "sweep",
        "-z",
        "2,3",
        "-e",
        "1",
        "-b",
        "64",
        "--seed",
        "0",
        "--model",
        "mlp",
        "conv",
        "vae",
        "--out",
        out,
        "--data-root",
        tiny_root,
        "--no-progress",
    )
    assert code == 0, err
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["bottleneck"]) for r in rows] == [
        ("lab", "2"),
        ("lab", "3"),
        ("conv lab", "2"),
        ("conv lab", "3"),
        ("vae lab", "2"),
        ("vae lab", "3"),
    ]
    assert {p.name for p in out.glob("*.pth")} >= {"MLP.lab.2.pth", "CONV.lab.3.pth", "VAE.lab.2.pth"}
    assert checkpoint.load_model(out / "VAE.lab.3.pth").config.bottleneck == 3
    assert (out / "sweep.png").stat().st_size > 0


def test_bench_times_a_family_against_its_tutorial_loop(tiny_root, tmp_path, capsys):
    import json

    code, out, err = run_cli(
        capsys,
        "bench",
        "--model",
        "vae",
        "--epochs",
        "2",
        "--iw-samples",
        "3",
        "--data-root",
        tiny_root,
        "--out",
        tmp_path,
        "--device",
        "cpu",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "results-vae-lab.json").read_text())
    tutorial, ours = report["rows"]
    assert (tutorial["name"], ours["name"]) == ("tutorial loop", "our trainer") and tutorial["speedup"] == 1.0
    assert len(ours["epoch_seconds"]) == len(tutorial["epoch_seconds"]) == 2
    for row in report["rows"]:
        assert row["iw_nll"] <= row["negative_elbo"] and 0 < row["test_mse"] < 1
    assert "IW-NLL" in out and "Arithmetic floor" in out and (tmp_path / "results-vae-lab.md").read_text() in out
    # the floor's work is the step's multiply-adds: the tutorial shape's linear layers (784-400-40,
    # 20-400-784), forward, weight gradients, and input gradients past the first layer
    macs = 784 * 400 + 400 * 40 + 20 * 400 + 400 * 784
    images = len(load_images("mnist", tiny_root, train=True))
    assert report["floor"]["gflop_per_epoch"] * 1e9 == pytest.approx(2 * (3 * macs - 784 * 400) * images)
    assert report["floor"]["most_speedup_possible"] > 0


def test_conv_adam_moments_saved_row_major_resume_into_the_same_run(tiny_root, tmp_path):
    """Adam's fused update walks its moments as raw memory: moments stored in another layout than
    the channels-last weights train in are laid out again on resume, not paired up wrongly."""
    straight, resumed = tmp_path / "straight.pth", tmp_path / "resumed.pth"
    assert train_family(tiny_root, straight, "conv", "-e", "3") == 0
    assert train_family(tiny_root, resumed, "conv", "-e", "2") == 0
    state = torch.load(checkpoint.state_path(resumed), weights_only=True)
    moments = [value for entry in state["optimizer"]["state"].values() for value in entry.values() if value.dim() == 4]
    assert moments and not all(value.is_contiguous() for value in moments)  # channels-last, as trained
    for entry in state["optimizer"]["state"].values():
        entry.update({key: value.contiguous() for key, value in entry.items()})
    torch.save(state, checkpoint.state_path(resumed))
    assert train_family(tiny_root, resumed, "conv", "-e", "3", "--resume") == 0
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_floor_compares_only_the_rounds_it_ran_in():
    from aelab.analysis.family_bench import floor_summary

    # a third round twice as slow (a busy minute) must not count against the two-round floor
    summary = floor_summary(5.0, [2.0, 2.0], [10.0, 6.0, 100.0], [4.0, 4.0, 50.0])
    assert summary["most_speedup_possible"] == 4.0 and summary["ours_over_floor"] == 2.0
    assert summary["epoch_seconds"] == 2.0 and summary["epochs"] == 2
