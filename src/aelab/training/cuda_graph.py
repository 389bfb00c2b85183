"""The training step as a CUDA graph: one launch per batch instead of about thirty.

A step of this small model is a few dozen kernels of microseconds each, so on a GPU the
time goes to launching them from Python, not to running them. A CUDA graph records the
step's kernels once and replays them with one call. A graph replays fixed memory addresses,
so everything the step reads or writes must stay put: its input batch (copied into a
buffer the graph owns), the parameters, the Adam state and the learning rate (a tensor on
the GPU that the scheduler fills in place, so a new rate needs no new graph).

Each batch size gets its own graph: a run has two (the full batches and the short last one)
and captures each once. Capturing needs a few real steps first, to create the Adam state
and the step's buffers outside the graph; those steps are undone, so a run learns exactly
what it would have learned without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import optim

# Real steps before a capture: the first creates the Adam state and buffers, the second
# runs on warm caches (PyTorch's guide for whole-network capture uses a few).
WARM_UP_STEPS = 2


class StepSnapshot:
    """Parameters, Adam state and random generators, to undo the warm-up steps in place.

    Restoring writes into the same tensors (a graph holds their addresses). State that
    did not exist yet is set to zero, which is where Adam starts it: step count and both
    moment estimates.
    """

    def __init__(self, params: list[torch.Tensor], optimizer: optim.Optimizer, device: torch.device):
        self.params, self.optimizer, self.device = params, optimizer, device
        self.values = [p.detach().clone() for p in params]
        self.state = {id(t): t.clone() for t in self._state_tensors()}
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    def _state_tensors(self) -> list[torch.Tensor]:
        return [t for s in self.optimizer.state.values() for t in s.values() if torch.is_tensor(t)]

    @torch.no_grad()
    def restore(self) -> None:
        for p, value in zip(self.params, self.values):
            p.copy_(value)
        for t in self._state_tensors():
            saved = self.state.get(id(t))
            if saved is None:
                t.zero_()
            else:
                t.copy_(saved)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state(self.cuda_rng, self.device)


def warm_up_and_undo(
    step, images: torch.Tensor, params: list[torch.Tensor], optimizer: optim.Optimizer, steps: int = WARM_UP_STEPS
) -> None:
    """Run ``step`` a few times on ``images`` (creating its state), then put everything back."""
    snapshot = StepSnapshot(params, optimizer, images.device)
    for _ in range(steps):
        step(images)
    snapshot.restore()


def make_capturable(optimizer: optim.Optimizer, device: torch.device) -> None:
    """Adam reads its step count and learning rate from the GPU, so a replay sees new values.

    A saved run state holds plain numbers; this turns them into tensors again after a resume.
    """
    for group in optimizer.param_groups:
        group["capturable"] = True
        if not torch.is_tensor(group["lr"]):
            group["lr"] = torch.tensor(float(group["lr"]), device=device)


def portable_state(state: dict) -> dict:
    """An optimizer's or scheduler's state as it would be without :func:`make_capturable`:
    settings as plain numbers, Adam not capturable, so that a graphed run's state loads into
    any run of the same kind of device. The graphed step turns them back when it captures."""

    def plain(value):
        if torch.is_tensor(value) and value.dim() == 0:
            return value.item()
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    groups = [
        {
            **{k: plain(v) for k, v in g.items() if k != "params"},
            "params": g["params"],
            **({"capturable": False} if "capturable" in g else {}),
        }
        for g in state.get("param_groups", ())
    ]
    settings = {k: plain(v) for k, v in state.items() if k not in ("state", "param_groups")}
    return {**state, **settings, **({"param_groups": groups} if "param_groups" in state else {})}


@dataclass
class CapturedStep:
    graph: torch.cuda.CUDAGraph
    images: torch.Tensor  # the graph's input: each batch is copied here
    loss: torch.Tensor  # the graph's output, overwritten by each replay


class GraphedStep:
    """``step(images) -> loss`` for ``FusedStep``, replayed from one CUDA graph per batch size."""

    def __init__(self, step):
        self.step = step
        self.optimizer = step.optimizer
        self.captured: dict[int, CapturedStep] = {}
        self.learning_rates: list[torch.Tensor] = []  # the tensors the graphs read, one per group

    def capture(self, images: torch.Tensor) -> CapturedStep:
        """Record the step for batches of ``len(images)``; ``images`` only serves the warm-up."""
        device = images.device
        make_capturable(self.optimizer, device)
        self.learning_rates = [group["lr"] for group in self.optimizer.param_groups]
        static_images = images.clone()
        side = torch.cuda.Stream(device)  # warm-up off the default stream, as PyTorch's capture guide asks
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            warm_up_and_undo(self.step, static_images, [self.step.flat], self.optimizer)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.step(static_images)
        self.captured[len(images)] = CapturedStep(graph, static_images, loss)
        return self.captured[len(images)]

    def forget(self) -> None:
        """Drop the graphs: a resume replaces the Adam state tensors they point at."""
        self.captured.clear()

    def _pass_on_learning_rates(self) -> None:
        """A scheduler that sets a group's rate as a plain number (older torch versions do)
        would leave the graphs on the old one: copy the number into the tensor they read."""
        for group, lr in zip(self.optimizer.param_groups, self.learning_rates):
            if group["lr"] is not lr:
                lr.fill_(float(group["lr"]))
                group["lr"] = lr

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        captured = self.captured.get(len(images)) or self.capture(images)
        self._pass_on_learning_rates()
        captured.images.copy_(images)
        captured.graph.replay()
        return captured.loss
