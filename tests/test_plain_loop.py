"""The Trainer's epoch is the lab's loop: ``--step autograd`` trains exactly what a loop written
out as the lab writes it trains, bit for bit, and the fused step learns what it learns."""

import math

import pytest
import torch
from test_eval import assert_one_line_error, run_cli
from torch import nn

from aelab.cli import script_main
from aelab.data.images import load_images
from aelab.data.noise import binarize
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training import checkpoint
from aelab.training import trainer as trainer_module
from aelab.training.batches import make_batches, seeded_generator
from aelab.training.config import RunConfig, TrainConfig
from aelab.training.plain_loop import make_optimizer, make_scheduler, run_epoch
from aelab.training.runtime import make_runtime
from aelab.training.trainer import Trainer

SEED = 0
RECIPES = [
    dict(),  # the lab's: MSE through the sigmoid, ReLU code, plateau schedule, weight decay
    dict(loss="bce", schedule="onecycle", lr=1e-2, weight_decay=0.0),
]


def lab_training(model: nn.Module, images: torch.Tensor, config: TrainConfig) -> list[float]:
    """The lab's train.py loop, as the lab writes it, with the Trainer's optimizer, schedule and
    shuffle (one ``randperm`` an epoch from a generator seeded as training/batches.py seeds it);
    the epochs' mean losses. MSE is the lab's ``loss_fn(model(imgs), imgs)``; BCE and a VAE's
    negative ELBO are the model's own loss."""
    assert not config.train_noise, "this reference draws no input noise"
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=math.ceil(len(images) / config.batch_size))
    loss_fn = nn.MSELoss()
    generator = seeded_generator(config.seed, images.device)
    losses = []
    for _epoch in range(config.epochs):
        model.train()
        loss_train = 0.0
        train_loader = torch.randperm(len(images), generator=generator).split(config.batch_size)
        for indices in train_loader:
            imgs = images[indices]
            if config.binarize:
                imgs = binarize(imgs)
            if config.loss == "mse":
                outputs = model(imgs)
                loss = loss_fn(outputs, imgs)
            else:
                loss = model.loss(imgs, imgs, config.loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_train += loss.item()
            if config.schedule == "onecycle":
                scheduler.step()
        losses.append(loss_train / len(train_loader))
        if config.schedule == "plateau":
            # the lab steps on the epoch's sum; the plateau's threshold is relative, so the mean
            # (what the Trainer records) makes the same decisions
            scheduler.step(losses[-1])
    return losses


def lab_model(config: ModelConfig) -> MLPAutoencoder:
    torch.manual_seed(SEED)
    model = MLPAutoencoder(config)
    init_lab_weights(model)
    return model


def lab_run(images: torch.Tensor, model_config: ModelConfig, config: TrainConfig):
    model = lab_model(model_config)
    return model, lab_training(model, images, config)


def trainer_run(train_set, model_config: ModelConfig, config: TrainConfig):
    model = lab_model(model_config)
    batches = make_batches(train_set, config, torch.device("cpu"))
    trainer = Trainer(model, RunConfig(model=model_config, train=config), make_runtime("cpu"), batches)
    assert trainer.step_kind == config.step
    trainer.fit()
    return model, trainer.history.losses


def recipe_configs(recipe: dict, step: str):
    code = "relu" if not recipe else "none"
    model_config = ModelConfig(bottleneck=4, hidden=64, code_activation=code)
    return model_config, TrainConfig(epochs=3, batch_size=64, seed=SEED, step=step, **recipe)  # 12 steps


@pytest.mark.parametrize("recipe", RECIPES)
def test_autograd_trainer_is_the_lab_loop_bit_for_bit(tiny_root, recipe):
    train_set = load_images("mnist", tiny_root, train=True)
    model_config, config = recipe_configs(recipe, "autograd")
    lab, lab_losses = lab_run(train_set.floats(), model_config, config)
    ours, losses = trainer_run(train_set, model_config, config)
    for name, tensor in lab.state_dict().items():
        assert torch.equal(tensor, ours.state_dict()[name]), name
    # the Trainer sums an epoch's losses on the device in float32, the lab in Python floats
    assert losses == pytest.approx(lab_losses, rel=1e-6)
    assert lab_losses[-1] < lab_losses[0]  # and the run moved: equal untrained pairs would prove nothing


@pytest.mark.parametrize("recipe", RECIPES)
def test_fused_step_learns_what_the_lab_loop_learns(tiny_root, recipe):
    train_set = load_images("mnist", tiny_root, train=True)
    model_config, config = recipe_configs(recipe, "fused")
    lab, lab_losses = lab_run(train_set.floats(), model_config, config)
    fused, fused_losses = trainer_run(train_set, model_config, config)
    assert torch.allclose(torch.tensor(fused_losses), torch.tensor(lab_losses), rtol=1e-4)
    for (name, p), q in zip(lab.named_parameters(), fused.parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-5), (name, (p - q).abs().max())
    # and the run moved: equal parameters from an untrained pair would prove nothing
    start = lab_model(model_config)
    assert not torch.allclose(start.fc1.weight, fused.fc1.weight, atol=1e-4)


def test_autograd_step_is_the_lab_loop_bit_for_bit(tiny_root, tmp_path):
    path = tmp_path / "autograd.pth"
    arguments = ["-z", "4", "--hidden", "32", "-e", "3", "-b", "64", "--seed", str(SEED), "--step", "autograd"]
    arguments += ["-s", str(path), "--data-root", str(tiny_root), "--device", "cpu", "--no-progress"]
    assert script_main("train", arguments) == 0
    saved = checkpoint.load_model(path)
    train_set = load_images("mnist", tiny_root, train=True)
    lab, _ = lab_run(train_set.floats(), saved.config, TrainConfig(epochs=3, batch_size=64, seed=SEED))
    for name, tensor in lab.state_dict().items():
        assert torch.equal(tensor, saved.state_dict()[name]), name
    assert checkpoint.load_run_state(path)["config"]["train"]["step"] == "autograd"


def test_every_epoch_the_trainer_trains_is_run_epoch(tiny_root, monkeypatch):
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[2])  # the step
        return run_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "run_epoch", counted)
    train_set = load_images("mnist", tiny_root, train=True)
    config = TrainConfig(epochs=3, batch_size=64, seed=SEED)
    batches = make_batches(train_set, config, torch.device("cpu"))
    model_config = ModelConfig(bottleneck=4, hidden=32)
    trainer = Trainer(
        lab_model(model_config), RunConfig(model=model_config, train=config), make_runtime("cpu"), batches
    )
    trainer.fit(until=2)
    assert len(calls) == trainer.epoch == 2 and all(step is trainer.step for step in calls)
    trainer.fit()
    assert len(calls) == trainer.epoch == len(trainer.history.losses) == 3


class Recorder:
    """A scheduler and a step that only write down what the loop asks of them."""

    def __init__(self, losses):
        self.losses, self.steps = iter(losses), []

    def step(self, *metric):
        self.steps.append(metric)

    def __call__(self, images):
        return torch.tensor(next(self.losses))


@pytest.mark.parametrize("per_batch", [False, True])
def test_run_epoch_returns_the_mean_and_steps_the_schedule(per_batch):
    model = nn.Linear(2, 2).eval()
    recorder = Recorder([1.0, 2.0, 6.0])
    mean = run_epoch(model, [torch.zeros(1)] * 3, recorder, recorder, per_batch, lambda total: total / 2)
    assert model.training
    assert mean == 1.5  # the sum over the processes' mean (here halved), over three batches
    assert recorder.steps == ([()] * 3 if per_batch else [(1.5,)])  # one-cycle per batch, plateau on the mean


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
