"""The plain loop is the reference: the fused step learns what it learns, and ``--step autograd``
trains with it, bit for bit."""

import pytest
import torch
from test_eval import assert_one_line_error, run_cli

from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.models.mlp import MLPAutoencoder, ModelConfig, init_lab_weights
from aelab.training import checkpoint
from aelab.training.batches import make_batches
from aelab.training.config import TrainConfig
from aelab.training.plain_loop import train_plain
from aelab.training.runtime import make_runtime
from aelab.training.trainer import Trainer

SEED = 0


def lab_model(config: ModelConfig) -> MLPAutoencoder:
    torch.manual_seed(SEED)
    model = MLPAutoencoder(config)
    init_lab_weights(model)
    return model


def plain_run(images: torch.Tensor, model_config: ModelConfig, config: TrainConfig):
    model = lab_model(model_config)
    losses = train_plain(model, images, config, torch.Generator().manual_seed(SEED))
    return model, losses


def trainer_run(train_set, model_config: ModelConfig, config: TrainConfig):
    model = lab_model(model_config)
    trainer = Trainer(model, config, make_runtime("cpu"), make_batches(train_set, config, torch.device("cpu")))
    trainer.fit()
    return model, trainer.history.losses


@pytest.mark.parametrize(
    "recipe",
    [
        dict(),  # the lab's: MSE through the sigmoid, ReLU code, plateau schedule, weight decay
        dict(loss="bce", schedule="onecycle", lr=1e-2, weight_decay=0.0),
    ],
)
def test_fused_step_learns_what_the_plain_loop_learns(tiny_root, recipe):
    train_set = load_images("mnist", tiny_root, train=True)
    code = "relu" if not recipe else "none"
    model_config = ModelConfig(bottleneck=4, hidden=64, code_activation=code)
    config = TrainConfig(epochs=3, batch_size=64, seed=SEED, step="fused", **recipe)  # 12 steps
    plain, plain_losses = plain_run(train_set.floats(), model_config, config)
    fused, fused_losses = trainer_run(train_set, model_config, config)
    assert torch.allclose(torch.tensor(fused_losses), torch.tensor(plain_losses), rtol=1e-4)
    for (name, p), q in zip(plain.named_parameters(), fused.parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-5), (name, (p - q).abs().max())
    # and the run moved: equal parameters from an untrained pair would prove nothing
    start = lab_model(model_config)
    assert not torch.allclose(start.fc1.weight, fused.fc1.weight, atol=1e-4)


def test_autograd_step_is_the_plain_loop_bit_for_bit(tiny_root, tmp_path):
    path = tmp_path / "autograd.pth"
    assert (
        script_main(
            "train",
            [
                "-z",
                "4",
                "--hidden",
                "32",
                "-e",
                "2",
                "-b",
                "64",
                "--seed",
                str(SEED),
                "--step",
                "autograd",
                "-s",
                str(path),
                "--data-root",
                str(tiny_root),
                "--device",
                "cpu",
                "--no-progress",
            ],
        )
        == 0
    )
    saved = checkpoint.load_model(path)
    train_set = load_images("mnist", tiny_root, train=True)
    plain, losses = plain_run(train_set.floats(), saved.config, TrainConfig(epochs=2, batch_size=64, seed=SEED))
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, saved.state_dict()[name]), name
    assert checkpoint.load_run_state(path)["train_config"]["step"] == "autograd"


def test_fused_step_is_refused_where_autograd_is_needed(tiny_root, tmp_path, capsys):
    code, _, err = run_cli(
        capsys,
        "train",
        "-e",
        "1",
        "--step",
        "fused",
        "--compile",
        "-s",
        tmp_path / "m.pth",
        "--data-root",
        tiny_root,
        "--device",
        "cpu",
    )
    assert_one_line_error(code, err, "--step fused")
    assert not (tmp_path / "m.pth").exists()
