"""Speed of each model family, measured: its tutorial's training loop against our trainer.

The tutorial loop is how pytorch/examples (``vae``, ``mnist``) trains a model: torchvision's
dataset with ``ToTensor`` behind a shuffling DataLoader, an eager step, and ``loss.item()`` after
every batch. Ours is the Trainer ``train.py`` runs (:class:`.turns.OurTrainer`). Both train the
same model from the same seed with the same recipe, taking turns epoch by epoch
(:func:`.turns.take_turns`), so a slow minute of a shared machine slows both alike. Each row
adds the test MSE (and a VAE's negative ELBO and IW-NLL), so the speed is not bought with quality,
and the inference rate of the trained model in PyTorch and, exported to ONNX, in onnxruntime.

A third contestant, the arithmetic floor, takes the same turns: an epoch's floating-point work
(every product and convolution of the step, forward and backward, as torch's FlopCounterMode
counts it) done as large square matrix products, the fastest kernel this machine has. No trainer
of this model runs an epoch faster, so the tutorial loop's time over the floor's bounds the
speed-up any trainer can show here.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import torch
from torch import optim

from ..models import registry
from ..training.config import RunConfig, TrainConfig
from ..training.plain_loop import make_scheduler
from ..training.runtime import Runtime, make_runtime
from .benchmark import (
    INFERENCE_MIN_SECONDS,
    INFERENCE_REPEATS,
    BenchData,
    inference_images_per_second,
    lab_dataloader,
)
from .inference import mean_mse
from .turns import OurTrainer, take_turns


class TutorialLoop:
    """pytorch/examples' loop around one of our models and its recipe."""

    name = "tutorial loop"

    def __init__(self, data: BenchData, train_set, model_config, config: TrainConfig, runtime: Runtime):
        torch.manual_seed(config.seed)
        self.model, self.config, self.device = registry.build(model_config).to(runtime.device), config, runtime.device
        self.loader = lab_dataloader(data, train_set, batch_size=config.batch_size)
        self.optimizer = optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, config, len(self.loader))
        self.epochs = config.epochs

    def epoch(self) -> float:
        self.model.train()
        train_loss = 0.0
        for data, _ in self.loader:
            data = data.to(self.device)
            if self.config.binarize:
                data = torch.bernoulli(data)
            inputs = data + self.config.train_noise * torch.randn_like(data) if self.config.train_noise else data
            self.optimizer.zero_grad()
            loss = self.model.loss(inputs, data, self.config.loss)
            loss.backward()
            train_loss += loss.item()
            self.optimizer.step()
            if self.config.schedule == "onecycle":
                self.scheduler.step()
        if self.config.schedule == "plateau":
            self.scheduler.step(train_loss)
        return train_loss / len(self.loader)


class ArithmeticFloor:
    """One epoch's multiply-adds of a training step, done as square fp32 matrix products."""

    name = "arithmetic floor"
    SIDE = 1024  # square products this large run at the machine's peak matrix rate...
    MIN_PRODUCTS = 8  # ...unless an epoch is too small for this many of them (tiny test data)
    EPOCHS = 2  # a rate, not a run: two rounds measure it

    def __init__(self, model_config, config: TrainConfig, n_images: int, runtime: Runtime):
        from torch.utils.flop_counter import FlopCounterMode

        probe = registry.build(model_config)
        batch = torch.rand(config.batch_size, model_config.input_dim)
        with FlopCounterMode(display=False) as counter:
            probe.loss(batch, batch, config.loss).backward()
        self.flops_per_image = counter.get_total_flops() / config.batch_size
        epoch_flops = self.flops_per_image * n_images
        side = min(self.SIDE, max(1, int((epoch_flops / (2 * self.MIN_PRODUCTS)) ** (1 / 3))))
        self.products = max(1, round(epoch_flops / (2 * side**3)))
        self.a, self.b, self.out = (torch.rand(side, side, device=runtime.device) for _ in range(3))
        self.epochs = min(self.EPOCHS, config.epochs)
        torch.mm(self.a, self.b, out=self.out)  # warm-up

    def epoch(self) -> float:
        for _ in range(self.products):
            torch.mm(self.a, self.b, out=self.out)
        return math.nan


def onnx_images_per_second(model, test: torch.Tensor) -> float | None:
    """The trained model exported to ONNX and run by onnxruntime on the CPU; None without the
    onnx and onnxruntime packages."""
    try:
        import onnx  # noqa: F401  the exporter writes through it
        import onnxruntime
    except ImportError:
        return None
    from ..training.exported import export_onnx

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        export_onnx(model.cpu().eval(), test[:2].cpu(), path, ("images", "reconstructions"))
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = test.cpu().numpy()
    session.run(None, {"images": images})  # warm-up
    passes, start = 0, time.perf_counter()
    while passes < INFERENCE_REPEATS or time.perf_counter() - start < INFERENCE_MIN_SECONDS:
        session.run(None, {"images": images})
        passes += 1
    return passes * len(images) / (time.perf_counter() - start)


def run_family_benchmark(
    data: BenchData,
    family: str,
    recipe: str = "lab",
    epochs: int = 10,
    seed: int = 0,
    device: str = "auto",
    iw_samples: int = 1000,
) -> dict:
    runtime = make_runtime(device)
    train_set, test_set = data.splits()
    run = RunConfig.create(
        family, recipe, image_shape=train_set.image_shape, data=data.config, epochs=epochs, seed=seed
    )
    model_config, config = run.model, run.train
    ours = OurTrainer("our trainer", run, train_set, runtime)
    tutorial = TutorialLoop(data, train_set, model_config, config, runtime)  # last: its DataLoader shuffles from here
    floor = ArithmeticFloor(model_config, config, len(train_set), runtime)
    totals = take_turns([tutorial, ours, floor], runtime)
    test = test_set.floats(runtime.device)
    tutorial_rate = epochs / totals[tutorial.name].seconds
    rows = []
    for contestant in (tutorial, ours):
        seconds = totals[contestant.name].seconds
        row = {
            "name": contestant.name,
            "epochs": epochs,
            "train_seconds": seconds,
            "epoch_seconds": totals[contestant.name].epoch_seconds,
            "speedup": epochs / seconds / tutorial_rate,
            "final_loss": totals[contestant.name].final_loss,
            "test_mse": mean_mse(contestant.model, test),
            "inference_images_per_second": inference_images_per_second(contestant.model, test, runtime),
            "onnxruntime_images_per_second": onnx_images_per_second(contestant.model, test),
        }
        if contestant.model.variational:
            from .likelihood import likelihood

            scores = likelihood(contestant.model.to(runtime.device), test, iw_samples)
            row.update(negative_elbo=scores.negative_elbo, iw_nll=scores.iw_nll, iw_samples=iw_samples)
        rows.append(row)
    return {
        "device": runtime.name,
        "torch": torch.__version__,
        "family": family,
        "recipe": recipe,
        "model": model_config.layer_sizes,
        "epochs": epochs,
        "seed": seed,
        "dataset": data.config.label,
        "schedule": "interleaved: one epoch of each per round, order rotating",
        "rows": rows,
        "floor": floor_summary(
            floor.flops_per_image * len(train_set) / 1e9,
            totals[floor.name].epoch_seconds,
            totals[tutorial.name].epoch_seconds,
            totals[ours.name].epoch_seconds,
        ),
    }


def floor_summary(
    gflop_per_epoch: float, floor_seconds: list[float], tutorial_seconds: list[float], ours_seconds: list[float]
) -> dict:
    """The floor against the two loops, each timed in the rounds the floor ran in (the first ones):
    a shared machine's speed drifts from round to round, and only the same rounds compare."""
    rounds = len(floor_seconds)
    floor, tutorial, ours = (
        sum(seconds[:rounds]) / rounds for seconds in (floor_seconds, tutorial_seconds, ours_seconds)
    )
    return {
        "gflop_per_epoch": gflop_per_epoch,
        "epoch_seconds": floor,
        "epochs": rounds,
        "most_speedup_possible": tutorial / floor,
        "ours_over_floor": ours / floor,
    }


def family_report(report: dict) -> str:
    from .tables import markdown_table

    variational = "iw_nll" in report["rows"][0]
    header = (
        ["pipeline", "epochs/s", "speed-up", "test MSE"]
        + (["-ELBO (nats)", "IW-NLL (nats)"] if variational else [])
        + ["PyTorch inference img/s", "onnxruntime img/s"]
    )
    rows = []
    for r in report["rows"]:
        onnx = r["onnxruntime_images_per_second"]
        rows.append(
            [r["name"], f"{r['epochs'] / r['train_seconds']:.3f}", f"{r['speedup']:.2f}x", f"{r['test_mse']:.5f}"]
            + ([f"{r['negative_elbo']:.2f}", f"{r['iw_nll']:.2f}"] if variational else [])
            + [f"{r['inference_images_per_second']:,.0f}", "n/a" if onnx is None else f"{onnx:,.0f}"]
        )
    lines = [
        f"{report['family']} ({report['model']}), {report['recipe']} recipe, {report['epochs']} epochs, "
        f"seed {report['seed']}, {report['dataset']}, on {report['device']}, torch {report['torch']}",
        "",
    ]
    lines += markdown_table(header, rows)
    floor = report["floor"]
    lines += [
        "",
        f"Arithmetic floor: {floor['gflop_per_epoch']:,.0f} GFLOP per epoch at this machine's peak matrix rate "
        f"takes {floor['epoch_seconds']:.2f} s; in the {floor['epochs']} rounds it ran, the tutorial loop "
        f"took {floor['most_speedup_possible']:.2f}x as long, the most any trainer could gain on it here, "
        f"and ours {floor['ours_over_floor']:.2f}x.",
    ]
    if variational:
        lines += [
            "",
            f"Negative ELBO and IW-NLL: nats per test image, K = {report['rows'][0]['iw_samples']} draws, "
            "on the test split binarised once with seed 0 (see docs/families.md).",
        ]
    return "\n".join(lines) + "\n"
