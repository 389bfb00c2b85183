"""The Trainer: epochs of a step over a batch source, the schedule, the history and the run state.

It runs the plain loop's method (:mod:`.plain_loop`) with the data on the device and no host
sync per batch; its step is the family's hand-derived one where it has one (:mod:`.fused_step` for the MLP,
:mod:`.fused_vae_step` for the MLP VAE, replayed as CUDA graphs on a GPU) unless ``step`` asks
for autograd, or torchrun or ``--compile`` needs it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from ..errors import UserError
from ..models import registry
from ..models.base import Autoencoder
from ..progress import progress_bar
from .batches import MemoryBatches
from .config import RunConfig, TrainConfig
from .cuda_graph import GraphedStep, portable_state
from .distributed import SingleProcess
from .plain_loop import AutogradStep, TrainingLoss, make_optimizer, make_scheduler, run_epoch
from .runtime import Runtime

tqdm = progress_bar()


@dataclass
class History:
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # cumulative training time at each epoch end


class NonFiniteLoss(UserError):
    pass


def choose_step(config: TrainConfig, runtime: Runtime, dist: SingleProcess, model: Autoencoder) -> str:
    """ "fused" or "autograd". A family may bring a hand-written step (the registry's
    ``fused_step``: the lab's MLP and the MLP VAE do), which says what it cannot train. Several
    processes and ``--compile`` need autograd: DDP syncs gradients through autograd's hooks and
    the compiler traces autograd's graph, and the fused steps have neither."""
    step_class = registry.get(model.config.family).fused_step_class()
    family = model.config.family
    needs_autograd = [
        why
        for why, applies in (
            ("under torchrun", dist.world_size > 1),
            ("with --compile", runtime.compile),
            (f"a {family} model", step_class is None),
        )
        if applies
    ]
    if step_class is not None and (why := step_class.unsupported(model.config, config)):
        needs_autograd.append(why)
    if config.step == "fused" and needs_autograd:
        raise UserError(
            f"--step fused cannot train {' or '.join(needs_autograd)} (it computes gradients "
            "without autograd); use --step autograd or auto"
        )
    if config.step == "auto":
        return "autograd" if needs_autograd else "fused"
    return config.step


class Trainer:
    """Owns the model, optimizer, scheduler and RNG of one run; ``fit`` trains epoch by epoch."""

    def __init__(
        self, model: Autoencoder, run: RunConfig, runtime: Runtime, batches, dist: SingleProcess | None = None
    ):
        self.model, self.run, self.runtime, self.batches = model, run, runtime, batches
        self.config = config = run.train
        self.dist = dist if dist is not None else SingleProcess()
        self.step_kind = choose_step(config, runtime, self.dist, model)
        if self.step_kind == "fused":
            step = registry.get(model.config.family).fused_step_class().for_run(model, config)
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
        """One pass over the data: :func:`.plain_loop.run_epoch` with this run's step and schedule."""
        batches = tqdm(
            self.batches,
            desc=f"epoch {self.epoch + 1}",
            leave=False,
            unit="batch",
            disable=not progress,
            file=sys.stderr,
        )
        with self.runtime.matmul_precision():
            mean_loss = run_epoch(
                self.model, batches, self.step, self.scheduler, self.per_batch_schedule, self.dist.all_reduce_mean
            )
        if not math.isfinite(mean_loss):
            raise NonFiniteLoss(f"training diverged: epoch {self.epoch + 1} loss is {mean_loss}")
        return mean_loss

    def fit(self, on_epoch_end=None, progress: bool = False, until: int | None = None) -> History:
        """Train up to epoch ``until`` (``config.epochs`` if None: the whole run; the benchmarks
        ask for one epoch at a time); ``on_epoch_end(trainer)`` runs after each epoch."""
        last = self.config.epochs if until is None else min(until, self.config.epochs)
        elapsed = self.history.seconds[-1] if self.history.seconds else 0.0
        self.prepare()
        while self.epoch < last:
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
            "config": self.run.to_dict(),  # the whole run config, read back whole by --resume
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
