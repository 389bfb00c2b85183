"""Setting up a run, one way for ``train``, ``sweep`` and ``bench``: config -> model -> batches
-> trainer; and the checkpoint written at the end of every epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.images import ImageSet
from ..errors import UserError
from ..models.config import ModelConfig
from ..models.mlp import MLPAutoencoder, init_lab_weights
from . import checkpoint, resume
from .batches import make_batches
from .config import TrainConfig
from .distributed import SingleProcess
from .interrupts import SignalGuard
from .runtime import Runtime
from .trainer import Trainer


def model_config_for(images: ImageSet, bottleneck: int, overrides: dict) -> ModelConfig:
    """The model for ``images``: as many inputs and outputs as they have pixels."""
    return ModelConfig(input_dim=images.n_pixels, output_dim=images.n_pixels, image_shape=images.image_shape,
                       bottleneck=bottleneck, **overrides)


def build_model(config: ModelConfig) -> MLPAutoencoder:
    try:
        return MLPAutoencoder(config)
    except (RuntimeError, MemoryError):  # the allocator's way of saying the layers do not fit
        raise UserError(f"not enough memory for a {config.layer_sizes} model; "
                        "choose a smaller --hidden or -z") from None


def build_trainer(model_config: ModelConfig, config: TrainConfig, train_set: ImageSet, runtime: Runtime,
                  dist: SingleProcess | None = None, resume_state: dict | None = None,
                  save_path: Path | None = None) -> Trainer:
    """A new run (the lab's initialisation), or the saved one continued when ``resume_state`` is given."""
    dist = dist if dist is not None else SingleProcess()
    if config.seed is not None:
        # Rank 0 draws what a single process would (DDP copies its initial weights to the
        # others); the other ranks get noise streams of their own.
        torch.manual_seed(config.seed + dist.rank)
    model = build_model(model_config)
    init_lab_weights(model)
    if resume_state is not None:
        resume.load_weights(model, resume_state, save_path)
    model.to(runtime.device)
    trainer = Trainer(model, config, runtime, dist.shard(make_batches(train_set, config, runtime.device)), dist)
    if resume_state is not None:
        resume.restore(trainer, resume_state, save_path)
    return trainer


class EpochCheckpoint:
    """``on_epoch_end`` for :meth:`Trainer.fit`: save the pair, then report the epoch.

    The main process writes; a stop signal waits for the write (``guard.deferred``), so the
    file on disk always holds a whole epoch, and :meth:`kept` says which.
    """

    def __init__(self, save_path: Path, guard: SignalGuard, dist: SingleProcess, saved_epoch: int | None = None):
        self.save_path, self.guard, self.dist = save_path, guard, dist
        self.saved_epoch = saved_epoch  # the epoch the file on disk holds

    def __call__(self, trainer: Trainer) -> None:
        state = trainer.run_state()  # on every rank: it gathers their generators
        with self.guard.deferred():
            if self.dist.is_main:
                self.save(trainer.model, state)
            self.saved_epoch = trainer.epoch
        history = trainer.history
        self.dist.say(f"epoch {trainer.epoch:3d}/{trainer.config.epochs}  loss {history.losses[-1]:.6f}  "
                      f"lr {history.lrs[-1]:.2e}  {history.seconds[-1]:7.1f}s", flush=True)

    def save(self, model: MLPAutoencoder, state: dict) -> None:
        try:
            checkpoint.save(self.save_path, model, state)
        except OSError as err:  # the atomic write left the previous checkpoint as it was
            raise UserError(f"cannot write {self.save_path} ({err.strerror or err}); the last checkpoint "
                            "written whole is kept; free some space or fix the folder's permissions, then "
                            "continue with --resume") from None

    def kept(self) -> str:
        """What the checkpoint on disk holds after a stop."""
        if self.saved_epoch is None:
            return "no epoch finished, so nothing was saved"
        return f"{self.save_path} keeps epoch {self.saved_epoch}, the last one finished"
