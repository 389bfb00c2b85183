"""The training loop that runs, in one screen, written as the lab and pytorch/examples write it.

Read this first. :func:`run_epoch` is every epoch of every run the :class:`~.trainer.Trainer`
trains: ``model.train()``, then for each batch ``loss = step(images)``, then the schedule, once
per batch (one-cycle) or once per epoch on the epoch's mean loss (the lab's ``ReduceLROnPlateau``).
:class:`AutogradStep` is that step spelled out: the inputs, the loss, ``optimizer.zero_grad()``,
``loss.backward()``, ``optimizer.step()``.

The faster steps are objects with the same ``step(images) -> loss`` call, so the loop does not
change with them: :mod:`.fused_step` (the MLP) and :mod:`.fused_vae_step` (the MLP VAE) compute
the same gradients and Adam update by hand, and :mod:`.cuda_graph` replays such a step from CUDA
graphs on a GPU. ``train.py --step autograd`` (and torchrun, ``--compile`` and the families with
no hand-derived step) runs :class:`AutogradStep`, bit for bit the lab's loop; the tests hold
each step to a lab-style loop written out beside them (``tests/test_plain_loop.py``).
"""

from __future__ import annotations

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


def run_epoch(model: nn.Module, batches, step, scheduler, per_batch_schedule: bool, mean_over_processes=None) -> float:
    """One pass over ``batches`` (an iterable with a length): the epoch's mean loss.

    The losses add up on the device, so reading the mean is the epoch's only host sync.
    ``mean_over_processes`` averages the sum over torchrun's processes first, so that every
    process steps its schedule on the same number.
    """
    model.train()
    loss_train = torch.zeros((), device=next(model.parameters()).device)
    for images in batches:
        loss = step(images)
        loss_train += loss  # not loss.item(): that would wait for the GPU after every batch
        if per_batch_schedule:
            scheduler.step()
    if mean_over_processes is not None:
        loss_train = mean_over_processes(loss_train)
    mean_loss = (loss_train / len(batches)).item()
    if not per_batch_schedule:  # the lab's ReduceLROnPlateau, on the epoch's loss
        scheduler.step(mean_loss)
    return mean_loss
