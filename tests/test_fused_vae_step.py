"""The VAE's hand-derived step must learn what autograd + Adam learn from the same draws."""

import pytest
import torch
from test_plain_loop import lab_training

from aelab.data.images import load_images
from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.training.batches import make_batches
from aelab.training.config import RunConfig, TrainConfig
from aelab.training.fused_vae_step import FusedVAEStep
from aelab.training.plain_loop import AutogradStep, TrainingLoss
from aelab.training.runtime import make_runtime
from aelab.training.trainer import Trainer

SEED = 0
SHAPES = [
    dict(hidden=64, bottleneck=20),  # pytorch/examples' shape, narrower
    dict(hidden=48, depth=2, bottleneck=8, likelihood="gaussian", beta=0.5),  # the narrow-product path
]
BATCHES = [dict(binarize=True), dict(train_noise=0.2, clip_noise=True)]


def twin_vaes(shape: dict):
    torch.manual_seed(SEED)
    a = registry.build(ModelConfig(family="vae", **shape))
    b = registry.build(a.config)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_same_losses_and_parameters_as_autograd_step_by_step(shape, batch):
    reference, fast = twin_vaes(shape)
    config = TrainConfig(loss="elbo", lr=1e-3, weight_decay=1e-5, **batch)
    optimizer = torch.optim.Adam(reference.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    autograd = AutogradStep(TrainingLoss(reference, "elbo"), optimizer, config)
    fused = FusedVAEStep(fast, config.lr, config.weight_decay, config.train_noise, config.clip_noise, config.binarize)
    images = torch.rand(4, 100, 784).pow(3)  # dark-heavy, like digits
    for index, batch_images in enumerate(images):
        torch.manual_seed(index)  # the same binarisation, input noise and code draws for both
        expected = autograd(batch_images)
        torch.manual_seed(index)
        got = fused(batch_images)
        assert torch.allclose(got, expected, rtol=1e-5), (index, got, expected)
    for (name, p), q in zip(reference.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), (name, (p - q).abs().max())
    start, _ = twin_vaes(shape)  # and the run moved: equal untrained pairs would prove nothing
    assert not torch.allclose(start.encoder[1].weight, fast.encoder[1].weight, atol=1e-4)


def test_the_trainer_trains_a_vae_with_it_as_the_lab_loop_does(tiny_root):
    train_set = load_images("mnist", tiny_root, train=True)
    config = TrainConfig(loss="elbo", epochs=3, batch_size=64, seed=SEED, binarize=True)
    plain, fast = twin_vaes(SHAPES[0])
    batches = make_batches(train_set, config, torch.device("cpu"))
    trainer = Trainer(fast, RunConfig(model=fast.config, train=config), make_runtime("cpu"), batches)
    assert trainer.step_kind == "fused"
    torch.manual_seed(SEED)  # the same binarisation and code draws for both (the order has its own generator)
    trainer.fit()
    torch.manual_seed(SEED)
    losses = lab_training(plain, train_set.floats(), config)
    assert losses[-1] < losses[0]
    assert torch.allclose(torch.tensor(trainer.history.losses), torch.tensor(losses), rtol=1e-4)
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-5), (name, (p - q).abs().max())


def test_the_autograd_trainer_trains_a_vae_as_the_lab_loop_does_bit_for_bit(tiny_root):
    train_set = load_images("mnist", tiny_root, train=True)
    config = TrainConfig(loss="elbo", epochs=3, batch_size=64, seed=SEED, binarize=True, step="autograd")
    plain, ours = twin_vaes(SHAPES[0])
    batches = make_batches(train_set, config, torch.device("cpu"))
    trainer = Trainer(ours, RunConfig(model=ours.config, train=config), make_runtime("cpu"), batches)
    assert trainer.step_kind == "autograd"
    torch.manual_seed(SEED)
    trainer.fit()
    torch.manual_seed(SEED)
    losses = lab_training(plain, train_set.floats(), config)
    assert losses[-1] < losses[0]
    assert trainer.history.losses == pytest.approx(losses, rel=1e-6)
    for name, tensor in plain.state_dict().items():
        assert torch.equal(tensor, ours.state_dict()[name]), name


def test_a_conv_vae_is_refused():
    with pytest.raises(ValueError, match="autograd"):
        FusedVAEStep(registry.build(ModelConfig(family="conv-vae", hidden=8, bottleneck=2)), 1e-3, 0.0)
