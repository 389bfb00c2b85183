"""The whole training method in one screen, written as the lab and pytorch/examples write it.

Read this first. Each epoch shuffles the images, and each batch is a forward pass, a loss, a
``zero_grad``/``backward``/``step`` and nothing else; the schedule steps once per epoch on
the epoch's loss (the lab's ``ReduceLROnPlateau``) or once per batch (one-cycle).

Everything else in :mod:`aelab.training` runs this same method faster or more safely.
The :class:`~.trainer.Trainer` runs :class:`AutogradStep` under ``train.py --step autograd``
(and under torchrun or ``--compile``); its default steps, :mod:`.fused_step` for the MLP and
:mod:`.fused_vae_step` for the MLP VAE, compute the same gradients by hand and are tested
against it (``tests/test_plain_loop.py``, ``tests/test_fused_vae_step.py``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import nn, optim

from ..data.noise import add_noise, binarize
from ..models.base import Autoencoder
from .config import TrainConfig


class TrainingLoss(nn.Module):
    """The model's own loss (:meth:`~aelab.models.base.Autoencoder.loss`: MSE or BCE for an
    autoencoder, the negative ELBO for a VAE) as a module: DistributedDataParallel syncs
    gradients only through a forward."""

    def __init__(self, model: Autoencoder, loss: str):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.model.loss(inputs, targets, self.loss)


def make_optimizer(model: nn.Module, config: TrainConfig) -> optim.Optimizer:
    # Adam's fused form: one pass over all the tensors, not a loop of small kernels per tensor,
    # on CPUs and GPUs alike; the same update, rounded a little differently.
    return optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)


def make_scheduler(optimizer: optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "onecycle":
        # Adam's beta1 stays at 0.9: cycling it against the learning rate (OneCycleLR's
        # default) ends worse at z=8.
        return optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch, cycle_momentum=False
        )
    return optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")


class AutogradStep:
    """``step(images) -> loss``: binarised or noisy inputs if asked, forward, loss, backward, Adam."""

    def __init__(self, objective: nn.Module, optimizer: optim.Optimizer, config: TrainConfig, autocast=nullcontext):
        self.objective, self.optimizer, self.config, self.autocast = objective, optimizer, config, autocast

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.config.binarize:
            images = binarize(images)
        inputs = images
        if self.config.train_noise:  # noisy inputs, clean targets: the model learns to denoise
            inputs = add_noise(images, torch.randn_like(images), self.config.train_noise, self.config.clip_noise)
        with self.autocast():
            loss = self.objective(inputs, images)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def shuffled_batches(images: torch.Tensor, batch_size: int, generator: torch.Generator):
    """A new random order each epoch, cut into batches; the last one may be short."""
    order = torch.randperm(len(images), generator=generator, device=generator.device)
    return [images[indices] for indices in order.split(batch_size)]


def train_plain(
    model: Autoencoder, images: torch.Tensor, config: TrainConfig, generator: torch.Generator, on_epoch_end=None
) -> list[float]:
    """Train ``model`` on ``images`` (``N x pixels`` in [0, 1]) for ``config.epochs``; the
    epochs' mean losses. ``on_epoch_end(epoch, loss)`` runs after each epoch."""
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=math.ceil(len(images) / config.batch_size))
    step = AutogradStep(TrainingLoss(model, config.loss), optimizer, config)
    losses = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        batches = shuffled_batches(images, config.batch_size, generator)
        loss_train = 0.0
        for batch in batches:
            loss_train += step(batch).item()
            if config.schedule == "onecycle":
                scheduler.step()
        losses.append(loss_train / len(batches))
        if config.schedule == "plateau":
            scheduler.step(losses[-1])
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses[-1])
    return losses
