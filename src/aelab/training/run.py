"""Setting up a run, one way for ``train``, ``sweep`` and ``bench``: config -> model -> batches
-> trainer; and the checkpoint written at the end of every epoch.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from ..data.images import ImageSet
from ..errors import UserError
from ..models import registry
from ..models.base import Autoencoder
from ..models.config import ModelConfig
from . import checkpoint, resume
from .batches import make_batches, use_memory_loader
from .config import RunConfig
from .distributed import SingleProcess
from .interrupts import SignalGuard
from .runtime import Runtime
from .trainer import Trainer

PREVIOUS_SUFFIX = ".prev"
FLOAT_BYTES = 4
# Float copies of each parameter while training: the weights, their gradients, Adam's two moments.
PARAMETER_COPIES = 4
# Float copies of each activation: forward buffers, their gradients, and room for the evaluation.
ACTIVATION_COPIES = 4
GIB = 1024**3
LOW_DISK_BYTES = 64 * 1024**2  # below this, a failed checkpoint write is a full disk


def previous_path(path: Path) -> Path:
    """Where a new run keeps the run it replaces at ``path`` (and ``path.state``)."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def keep_previous(path: Path) -> None:
    """Move the pair at ``path`` aside to ``path.prev`` and ``path.state.prev``, replacing an older one."""
    for file in (path, checkpoint.state_path(path)):
        if file.exists():
            os.replace(file, previous_path(file))


def available_memory(runtime: Runtime) -> int | None:
    """Bytes free for this run on its device; None where the system does not say."""
    if runtime.device.type == "cuda":
        return torch.cuda.mem_get_info(runtime.device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024  # reported in kB
    except (OSError, KeyError, ValueError):
        return None


def check_memory(run: RunConfig, train_set: ImageSet, runtime: Runtime) -> None:
    """Refuse, before allocating, a run whose model, batches and data cannot fit in memory. The
    model is measured on the meta device: its parameters, and each layer's output per image."""
    config = run.train
    batch = min(config.batch_size, len(train_set))
    try:
        probe = registry.on_meta(run.model)
        parameters, per_image = sum(p.numel() for p in probe.parameters()), probe.activation_numbers()
    except (RuntimeError, OverflowError, ValueError, TypeError) as err:  # sizes no layer can take
        raise UserError(f"cannot build a {run.model.layer_sizes} model: {str(err).splitlines()[0][:120]}") from None
    activations = batch * (run.model.input_dim + per_image)
    data = len(train_set) * train_set.n_pixels if use_memory_loader(config, len(train_set), train_set.n_pixels) else 0
    needed = FLOAT_BYTES * (PARAMETER_COPIES * parameters + ACTIVATION_COPIES * activations + data)
    free = available_memory(runtime)
    if free is not None and needed > free:
        raise UserError(
            f"this run needs about {needed / GIB:.1f} GiB for the model, its batches and the data, "
            f"but {free / GIB:.1f} GiB are free; lower -z or --hidden (the model), -b (the batches) "
            "or use --loader stream (the data)"
        )


def build_model(config: ModelConfig) -> Autoencoder:
    try:
        return registry.build(config)
    except (RuntimeError, MemoryError):  # the allocator's way of saying the layers do not fit
        raise UserError(
            f"not enough memory for a {config.layer_sizes} model; choose a smaller --hidden or -z"
        ) from None


def build_trainer(
    run: RunConfig,
    train_set: ImageSet,
    runtime: Runtime,
    dist: SingleProcess | None = None,
    resume_state: dict | None = None,
    save_path: Path | None = None,
    model: Autoencoder | None = None,
) -> Trainer:
    """A new run (the family's initialisation, or ``model``'s weights), or the saved one continued
    when ``resume_state`` is given.

    Example::

        run = RunConfig.create(epochs=1).for_images(train_set.image_shape)
        history = build_trainer(run, train_set, make_runtime()).fit()
    """
    dist = dist if dist is not None else SingleProcess()
    if run.train.seed is not None:
        # Rank 0 draws what a single process would (DDP copies its initial weights to the
        # others); the other ranks get noise streams of their own.
        torch.manual_seed(run.train.seed + dist.rank)
    model = model if model is not None else build_model(run.model)
    if resume_state is not None:
        resume.load_weights(model, resume_state, save_path)
    runtime.place(model)
    batches = dist.shard(make_batches(train_set, run.train, runtime.device))
    trainer = Trainer(model, run, runtime, batches, dist)
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
        self.saved_epoch = saved_epoch  # the epoch the file on disk holds, None before this run saved one
        self.replaces = saved_epoch is None  # a new run: what is at save_path is another run's

    def __call__(self, trainer: Trainer) -> None:
        state = trainer.run_state()  # on every rank: it gathers their generators
        with self.guard.deferred():
            if self.dist.is_main:
                if self.replaces:
                    keep_previous(self.save_path)
                    self.replaces = False
                save_run(self.save_path, trainer.model, state, "then continue with --resume")
            self.saved_epoch = trainer.epoch
        history = trainer.history
        self.dist.say(
            f"epoch {trainer.epoch:3d}/{trainer.config.epochs}  loss {history.losses[-1]:.6f}  "
            f"lr {history.lrs[-1]:.2e}  {history.seconds[-1]:7.1f}s",
            flush=True,
        )

    def kept(self) -> str:
        """What the checkpoint on disk holds after a stop."""
        if self.saved_epoch is None:
            return "no epoch finished, so nothing was saved"
        return f"{self.save_path} keeps epoch {self.saved_epoch}, the last one finished"


def save_run(path: Path, model: Autoencoder, state: dict | None, then: str = "run again") -> None:
    """:func:`checkpoint.save`, its failures as one line: the atomic write kept the previous file."""
    try:
        checkpoint.save(path, model, state)
    except (OSError, RuntimeError) as err:  # torch's zip writer reports a failed write as a RuntimeError
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
        if shutil.disk_usage(path.parent if str(path.parent) else ".").free < LOW_DISK_BYTES:
            reason = "no space left on the device"  # what torch's writer means by its own words
        raise UserError(
            f"cannot write {path} ({reason}); the last checkpoint written whole is kept; "
            f"free some space or fix the folder's permissions, {then}"
        ) from None
