"""The lab's training recipe, with the whole dataset on the device and no host sync per batch."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn, optim
from tqdm import tqdm

from .cuda_graph import GraphedStep, portable_state
from .data import add_noise, streaming_loader
from .distributed import SingleProcess
from .errors import UserError
from .fast_step import FusedStep
from .model import MLPAutoencoder
from .runtime import Runtime

LOADERS = ("auto", "memory", "stream")
LOSSES = ("mse", "bce")
SCHEDULES = ("plateau", "onecycle")
# Above this many bytes of float32 images the data streams from disk instead of living on the device.
MEMORY_LOADER_LIMIT_BYTES = 4 * 1024**3


@dataclass
class TrainConfig:
    """One training run; the defaults are the lab's recipe."""

    epochs: int = 50
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "mse"
    schedule: str = "plateau"
    train_noise: float = 0.0  # std of Gaussian noise on the inputs; targets stay clean
    clip_noise: bool = False  # clip the noisy inputs to [0, 1]
    seed: int | None = None
    dataset: str = "mnist"
    loader: str = "auto"
    precision: str = "fp32"
    recipe: str = "lab"  # the preset the options came from, for the record

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name.replace('_', ' ')} must be a positive whole number, got {value!r}")
        for name in ("lr", "weight_decay", "train_noise"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                raise UserError(f"{name.replace('_', ' ')} must be a finite number "
                                f"{'above' if name == 'lr' else 'of at least'} 0, got {value}")
        if not isinstance(self.clip_noise, bool):
            raise UserError(f"clip noise must be true or false, got {self.clip_noise!r}")
        for name, allowed in (("loss", LOSSES), ("schedule", SCHEDULES), ("loader", LOADERS)):
            if getattr(self, name) not in allowed:
                raise UserError(f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(allowed)}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class History:
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # cumulative training time at each epoch end


class MemoryBatches:
    """Batches sliced from one device tensor; one ``randperm`` per epoch, the last batch kept short."""

    def __init__(self, data: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.generator = data, batch_size, generator
        self._buffers: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return math.ceil(len(self.data) / self.batch_size)

    def batch_sizes(self) -> list[int]:
        """The distinct batch sizes an epoch yields: the full one, and the short last one if any."""
        return sorted({min(self.batch_size, len(self.data)), len(self.data) % self.batch_size} - {0})

    def index_batches(self):
        """This epoch's permutation, cut into batches of indices."""
        order = torch.randperm(len(self.data), generator=self.generator, device=self.generator.device)
        return order.split(self.batch_size)

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at ``indices``, in a buffer kept for that batch size and overwritten by
        the next batch of that size (a fresh one per batch costs page faults on a CPU)."""
        out = self._buffers.get(len(indices))
        if out is None:
            out = self._buffers[len(indices)] = self.data.new_empty((len(indices), *self.data.shape[1:]))
        # index_select, not data[indices]: several times faster on a CPU.
        return torch.index_select(self.data, 0, indices, out=out)

    def __iter__(self):
        for batch in self.index_batches():
            yield self.gather(batch)


class StreamBatches:
    """The lab's DataLoader, its images flattened and moved to the device."""

    def __init__(self, loader, device: torch.device, generator: torch.Generator):
        self.loader, self.device, self.generator = loader, device, generator

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, _ in self.loader:
            yield images.reshape(images.shape[0], -1).to(self.device, non_blocking=True)


def use_memory_loader(config: TrainConfig, n_images: int, n_pixels: int) -> bool:
    if config.loader != "auto":
        return config.loader == "memory"
    return n_images * n_pixels * 4 <= MEMORY_LOADER_LIMIT_BYTES


def make_batches(train_set, config: TrainConfig, device: torch.device, data_root=None):
    """The run's batch source: the whole split on ``device``, or the lab's DataLoader when too big.

    Shuffling draws from its own generator, seeded by ``config.seed``, so a run repeats exactly.
    """
    if use_memory_loader(config, len(train_set), train_set.images[0].numel()):
        generator = torch.Generator(device=device)
        generator.manual_seed(config.seed) if config.seed is not None else generator.seed()
        return MemoryBatches(train_set.floats(device), config.batch_size, generator)
    generator = torch.Generator()
    generator.manual_seed(config.seed) if config.seed is not None else generator.seed()
    loader = streaming_loader(config.dataset, data_root, config.batch_size, generator=generator)
    return StreamBatches(loader, device, generator)


def reconstruction_loss(model: MLPAutoencoder, inputs: torch.Tensor, targets: torch.Tensor,
                        loss: str) -> torch.Tensor:
    logits = model.decode_logits(model.encode(inputs))
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, targets)
    return F.mse_loss(torch.sigmoid(logits), targets)


class Reconstruction(nn.Module):
    """The loss as a module: DistributedDataParallel syncs gradients only through a forward."""

    def __init__(self, model: MLPAutoencoder, loss: str):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(self.model, inputs, targets, self.loss)


def make_optimizer(model: MLPAutoencoder, config: TrainConfig, runtime: Runtime) -> optim.Optimizer:
    return optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                      **runtime.optimizer_options())


def make_scheduler(optimizer: optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "onecycle":
        # Adam's beta1 stays at 0.9: cycling it against the learning rate (OneCycleLR's
        # default) ends 0.7% worse at z=8.
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, epochs=config.epochs,
                                             steps_per_epoch=steps_per_epoch, cycle_momentum=False)
    return optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")


class NonFiniteLoss(UserError):
    pass


class Trainer:
    """Owns the model, optimizer, scheduler and RNG of one run; ``fit`` trains epoch by epoch."""

    def __init__(self, model: MLPAutoencoder, config: TrainConfig, runtime: Runtime, batches,
                 fused: bool | None = None, dist: SingleProcess | None = None):
        """``fused`` picks the hand-derived step (default: yes, unless compiling or data-parallel,
        whose gradient sync hooks into autograd, which the fused step skips). On a GPU the fused
        step replays from CUDA graphs."""
        self.model, self.config, self.runtime, self.batches = model, config, runtime, batches
        self.dist = dist if dist is not None else SingleProcess()
        if fused is None:
            fused = not runtime.compile and self.dist.world_size == 1
        if fused:
            step = FusedStep(model, config.lr, config.weight_decay, config.loss,
                             config.train_noise, config.precision, config.clip_noise)
            self.optimizer = step.optimizer
            self.step = runtime.graphed(step)
        else:
            self.optimizer = make_optimizer(model, config, runtime)
            self.objective = self.dist.wrap(Reconstruction(model, config.loss), batches)
            self.step = runtime.maybe_compile(self._step)
        self.scheduler = make_scheduler(self.optimizer, config, len(batches))
        self.per_batch_schedule = config.schedule == "onecycle"
        self.history = History()
        self.epoch = 0

    def _step(self, images: torch.Tensor) -> torch.Tensor:
        inputs = images
        if self.config.train_noise:
            inputs = add_noise(images, torch.randn_like(images), self.config.train_noise, self.config.clip_noise)
        with self.runtime.autocast():
            loss = self.objective(inputs, images)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def prepare(self) -> None:
        """Capture the step's CUDA graphs, one per batch size not captured yet, so that epoch
        times are training alone. ``fit`` calls it; call it first to time the capture."""
        if isinstance(self.step, GraphedStep) and isinstance(self.batches, MemoryBatches):
            with self.runtime.matmul_precision():
                for size in self.batches.batch_sizes():
                    if size not in self.step.captured:
                        self.step.capture(self.batches.data[:size])

    def train_epoch(self, progress: bool = False) -> float:
        """One pass over the data; the only host sync is reading the epoch's mean loss."""
        self.model.train()
        total = torch.zeros((), device=self.runtime.device)
        batches = tqdm(self.batches, desc=f"epoch {self.epoch + 1}", leave=False, unit="batch",
                       disable=not progress, file=sys.stderr)
        with self.runtime.matmul_precision():
            for images in batches:
                total += self.step(images)
                if self.per_batch_schedule:
                    self.scheduler.step()
        mean_loss = (self.dist.all_reduce_mean(total) / len(self.batches)).item()
        if not math.isfinite(mean_loss):
            raise NonFiniteLoss(f"training diverged: epoch {self.epoch + 1} loss is {mean_loss}")
        if not self.per_batch_schedule:
            self.scheduler.step(mean_loss)
        return mean_loss

    def fit(self, on_epoch_end=None, progress: bool = False) -> History:
        """Train up to ``config.epochs``; ``on_epoch_end(trainer)`` runs after each epoch."""
        elapsed = self.history.seconds[-1] if self.history.seconds else 0.0
        self.prepare()
        while self.epoch < self.config.epochs:
            self.runtime.synchronize()
            start = time.perf_counter()
            loss = self.train_epoch(progress)
            self.runtime.synchronize()
            elapsed += time.perf_counter() - start
            self.epoch += 1
            self.history.losses.append(loss)
            self.history.lrs.append(float(self.optimizer.param_groups[0]["lr"]))
            self.history.seconds.append(elapsed)
            if on_epoch_end is not None:
                on_epoch_end(self)
        return self.history

    def run_state(self) -> dict:
        """Everything needed to continue this run exactly; loads with ``weights_only=True``."""
        return {
            "train_config": asdict(self.config),
            "epoch": self.epoch,
            "history": asdict(self.history),
            "optimizer": portable_state(self.optimizer.state_dict()),
            "scheduler": portable_state(self.scheduler.state_dict()),
            "rng": self.dist.all_gather(rng_state(self.batches, self.runtime.device)),  # one per rank
            "device": self.runtime.device.type,  # the generators above only load on the same kind
        }

    def restore(self, state: dict) -> None:
        if isinstance(self.step, GraphedStep):
            self.step.forget()  # its graphs point at the Adam state that loading replaces
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.history = History(**state["history"])
        set_rng_state(self.batches, self.dist.own(state["rng"]), self.runtime.device)


def rng_state(batches, device: torch.device) -> dict:
    """The generators a run draws from: the global CPU one, its GPU's, and the shuffle's."""
    state = {"torch": torch.get_rng_state(), "shuffle": batches.generator.get_state()}
    if device.type == "cuda":  # only the run's own GPU: touching others would open contexts there
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(batches, state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    batches.generator.set_state(state["shuffle"])
