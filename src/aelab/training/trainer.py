"""The Trainer: epochs of a step over a batch source, the schedule, the history and the run state.

It runs the plain loop's method (:mod:`.plain_loop`) with the data on the device and no host
sync per batch; its step is a hand-derived one (:mod:`.fused_step` for the MLP,
:mod:`.fused_vae_step` for the MLP VAE, replayed as CUDA graphs on a GPU) unless ``step`` asks
for autograd, or the family, torchrun or ``--compile`` needs it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm import tqdm

from ..errors import UserError
from ..models.base import Autoencoder
from .batches import MemoryBatches
from .config import TrainConfig
from .cuda_graph import GraphedStep, portable_state
from .distributed import SingleProcess
from .fused_step import FusedStep
from .fused_vae_step import FusedVAEStep
from .plain_loop import AutogradStep, TrainingLoss, make_optimizer, make_scheduler
from .runtime import Runtime

FUSED_FAMILIES = ("mlp", "vae")  # the families with a hand-derived step


@dataclass
class History:
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # cumulative training time at each epoch end


class NonFiniteLoss(UserError):
    pass


def choose_step(config: TrainConfig, runtime: Runtime, dist: SingleProcess, family: str = "mlp") -> str:
    """ "fused" or "autograd". The fused steps are written out by hand for the lab's MLP and the
    MLP VAE. Several processes and ``--compile`` need autograd: DDP syncs gradients through
    autograd's hooks and the compiler traces autograd's graph, and the fused steps have neither."""
    needs_autograd = [
        why
        for why, applies in (
            ("under torchrun", dist.world_size > 1),
            ("with --compile", runtime.compile),
            (f"a {family} model", family not in FUSED_FAMILIES),
            (f"a {family} model in bf16", family == "vae" and config.precision == "bf16"),
        )
        if applies
    ]
    if config.step == "fused" and needs_autograd:
        raise UserError(
            f"--step fused cannot train {' or '.join(needs_autograd)} (it computes gradients "
            "without autograd); use --step autograd or auto"
        )
    if config.step == "auto":
        return "autograd" if needs_autograd else "fused"
    return config.step


def fused_step(model: Autoencoder, config: TrainConfig):
    """The family's hand-derived step: the MLP's or the VAE's."""
    if model.variational:
        return FusedVAEStep(
            model, config.lr, config.weight_decay, config.train_noise, config.clip_noise, config.binarize
        )
    return FusedStep(
        model,
        config.lr,
        config.weight_decay,
        config.loss,
        config.train_noise,
        config.precision,
        config.clip_noise,
        config.binarize,
    )


class Trainer:
    """Owns the model, optimizer, scheduler and RNG of one run; ``fit`` trains epoch by epoch."""

    def __init__(
        self, model: Autoencoder, config: TrainConfig, runtime: Runtime, batches, dist: SingleProcess | None = None
    ):
        self.model, self.config, self.runtime, self.batches = model, config, runtime, batches
        self.dist = dist if dist is not None else SingleProcess()
        self.step_kind = choose_step(config, runtime, self.dist, model.config.family)
        if self.step_kind == "fused":
            step = fused_step(model, config)
            self.optimizer = step.optimizer
            self.step = runtime.graphed(step)
        else:
            self.optimizer = make_optimizer(model, config)
            objective = self.dist.wrap(TrainingLoss(model, config.loss), batches)
            self.step = runtime.maybe_compile(AutogradStep(objective, self.optimizer, config, runtime.autocast))
        self.scheduler = make_scheduler(self.optimizer, config, len(batches))
        self.per_batch_schedule = config.schedule == "onecycle"
        self.history = History()
        self.epoch = 0

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
        batches = tqdm(
            self.batches,
            desc=f"epoch {self.epoch + 1}",
            leave=False,
            unit="batch",
            disable=not progress,
            file=sys.stderr,
        )
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
            "model_config": asdict(self.model.config),
        }

    def restore(self, state: dict) -> None:
        if isinstance(self.step, GraphedStep):
            self.step.forget()  # its graphs point at the Adam state that loading replaces
        self.optimizer.load_state_dict(state["optimizer"])
        match_layouts(self.optimizer)
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.history = History(**state["history"])
        set_rng_state(self.batches, self.dist.entry_for_this_rank(state["rng"]), self.runtime.device)


def match_layouts(optimizer) -> None:
    """Each parameter's Adam moments in that parameter's memory layout. The fused update walks
    them as raw memory, so a channels-last conv weight with row-major moments (loaded from a run
    state) would pair up the wrong elements, silently."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


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
