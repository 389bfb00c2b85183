"""Contestants taking turns on one machine, and ours among them: the Trainer ``train.py`` runs.

A contestant has a ``name``, the ``epochs`` it trains and an ``epoch()`` that trains one more and
returns its mean loss. Ours (:class:`OurTrainer`) is :func:`~aelab.training.run.build_trainer`'s
Trainer, each turn one more epoch of its ``fit``, so the benchmarks time the loop that trains
(:func:`~aelab.training.plain_loop.run_epoch`) and hold no training loop of their own but the
tutorial baselines they measure it against.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..data.images import ImageSet
from ..training.config import RunConfig
from ..training.run import build_trainer
from ..training.runtime import Runtime


class OurTrainer:
    """:func:`~aelab.training.run.build_trainer`'s Trainer, as ``train.py`` sets it up; its CUDA
    graph capture (nothing off a GPU) is timed on its own, as ``train.py`` reports it."""

    def __init__(self, name: str, run: RunConfig, train_set: ImageSet, runtime: Runtime):
        self.name, self.epochs, self.n_images = name, run.train.epochs, len(train_set)
        self.trainer = build_trainer(run, train_set, runtime)
        self.model = self.trainer.model
        runtime.synchronize()
        start = time.perf_counter()
        self.trainer.prepare()
        runtime.synchronize()
        self.capture_seconds = time.perf_counter() - start

    def epoch(self) -> float:
        self.trainer.fit(until=self.trainer.epoch + 1)
        return self.trainer.history.losses[-1]


@dataclass
class Totals:
    """One contestant's share of the rounds."""

    name: str
    epoch_seconds: list[float] = field(default_factory=list)
    final_loss: float | None = None

    @property
    def seconds(self) -> float:
        return sum(self.epoch_seconds)


def take_turns(contestants: list, runtime: Runtime) -> dict[str, Totals]:
    """Every contestant trains one epoch per round, until it has trained its ``epochs``;
    the order rotates from round to round."""
    totals = {c.name: Totals(c.name) for c in contestants}
    for round_index in range(max(c.epochs for c in contestants)):
        shift = round_index % len(contestants)
        for contestant in contestants[shift:] + contestants[:shift]:
            if len(totals[contestant.name].epoch_seconds) == contestant.epochs:
                continue
            runtime.synchronize()
            start = time.perf_counter()
            loss = contestant.epoch()
            runtime.synchronize()
            totals[contestant.name].epoch_seconds.append(time.perf_counter() - start)
            totals[contestant.name].final_loss = loss
    return totals
