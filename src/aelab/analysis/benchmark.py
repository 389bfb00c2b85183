"""Speed, measured: the lab's pipeline as written against our trainer, in one process, on MNIST or on
any data ``--dataset`` names (a folder of images, an array: :class:`BenchData`).

Both train the lab's recipe from the same seed, for the same epochs unless ``lab_epochs`` asks
for fewer of the lab's slow ones (on a GPU the lab's 50 epochs would take minutes); speed-ups
are then ratios of epochs per second. The machines this runs on are shared, and their speed
drifts by tens of percent within minutes, so the contestants take turns: each round trains every
one of them for one epoch (the order rotating from round to round), and each total sums its own
epochs. A slow minute then slows every contestant, not just the one that happened to be running.
The GEMM roofline takes its turns the same way: one epoch's worth of the step's matrix products
alone, at this machine's rate for these shapes.

Peak memory comes from a separate process per contestant that sets up and trains one epoch,
so each figure is what a run of its own needs, not what this process holds in all.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn, optim
from torch.utils.data import DataLoader

from ..data.datasets import load_splits
from ..data.idx import ensure_files
from ..data.images import ImageSet, PerImagePictures
from ..data.sources import ALL_FILES, DATASETS, DataConfig
from ..models.config import ModelConfig
from ..models.mlp.model import autoencoderMLP4Layer, init_lab_weights
from ..training.config import RunConfig
from ..training.runtime import Runtime, make_runtime
from .inference import mean_mse
from .turns import OurTrainer, Totals, take_turns

LAB_BATCH_SIZE = 2048
INFERENCE_REPEATS = 5  # at least this many passes over the test set...
INFERENCE_MIN_SECONDS = 0.5  # ...and at least this long, so a GPU's sub-millisecond pass is timed too
KIB = 1024
MIB = 2**20


@dataclass(frozen=True)
class BenchData:
    """What every contestant trains on: ``config`` read as ``train`` and the other commands read it."""

    config: DataConfig = DataConfig()
    root: str = "./data"  # of the named sets
    cache_dir: str | None = None
    skip_bad: bool = False

    def splits(self) -> tuple[ImageSet, ImageSet]:
        return load_splits(self.config, self.root, self.cache_dir, self.skip_bad)


def lab_dataloader(data: BenchData, train_set: ImageSet, batch_size: int) -> DataLoader:
    """The lab's data pipeline, shuffled by a DataLoader: torchvision's dataset class with ``ToTensor``
    for a named set as stored; for any other data the same per-image work, a PIL image then ``ToTensor``."""
    from torchvision import datasets, transforms

    if not data.config.named or data.config.image_size is not None or data.config.channels is not None:
        return DataLoader(PerImagePictures(train_set), batch_size=batch_size, shuffle=True)
    ensure_files(data.config.dataset, data.root, ALL_FILES)  # unpacks .gz copies, which torchvision would not
    dataset = getattr(datasets, DATASETS[data.config.dataset])(
        root=str(data.root), train=True, download=False, transform=transforms.ToTensor()
    )
    return DataLoader(dataset, batch_size=batch_size, shuffle=True)


class LabScriptPipeline:
    """The lab's train.py, line for line: DataLoader + ToTensor, eager step, ``.item()`` per batch."""

    name = "lab-style pipeline"

    def __init__(self, data: BenchData, train_set: ImageSet, seed: int, runtime: Runtime, epochs: int):
        torch.manual_seed(seed)
        self.device = runtime.device
        self.loader = lab_dataloader(data, train_set, batch_size=LAB_BATCH_SIZE)
        n = train_set.n_pixels
        self.model = autoencoderMLP4Layer(N_input=n, N_bottleneck=8, N_output=n).to(self.device)
        self.model.apply(init_lab_weights)
        self.optimizer = optim.Adam(self.model.parameters(), lr=1e-3, weight_decay=1e-5)
        self.scheduler = optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, "min")
        self.loss_fn = nn.MSELoss(reduction="mean")
        self.n_images = len(self.loader.dataset)
        self.epochs = epochs

    def epoch(self) -> float:
        self.model.train()
        loss_train = 0.0
        for imgs, _labels in self.loader:
            imgs = imgs.view(imgs.shape[0], -1).to(device=self.device)
            loss = self.loss_fn(self.model(imgs), imgs)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            loss_train += loss.item()
        self.scheduler.step(loss_train)
        return loss_train / len(self.loader)


class GemmRoofline:
    """One epoch of the step's matrix products alone: per batch, 4 forward, 3 input-gradient
    and 4 weight-gradient products, the batches as the trainer cuts them."""

    def __init__(self, runtime: Runtime, n_images: int, epochs: int, config: ModelConfig = ModelConfig()):
        self.name = f"GEMM roofline, {runtime.precision}"
        self.epochs = epochs
        dtype = torch.bfloat16 if runtime.precision == "bf16" else torch.float32
        dims = [config.input_dim, config.hidden, config.bottleneck, config.hidden, config.output_dim]
        self.weights = [torch.ones(dims[i + 1], dims[i], device=runtime.device, dtype=dtype) for i in range(4)]
        full, rest = divmod(n_images, LAB_BATCH_SIZE)
        sizes = [LAB_BATCH_SIZE] * full + ([rest] if rest else [])
        acts = {rows: [torch.ones(rows, d, device=runtime.device, dtype=dtype) for d in dims] for rows in set(sizes)}
        self.batches = [acts[rows] for rows in sizes]
        with runtime.matmul_precision():
            self._products(self.batches[0])  # warm-up: the first call pays for allocation
        self.runtime, self.graph = runtime, None
        if runtime.device.type == "cuda":  # replayed like the trainer's step, so launches cost alike
            runtime.synchronize()
            self.graph = torch.cuda.CUDAGraph()
            with runtime.matmul_precision(), torch.cuda.graph(self.graph):
                self._all_products()

    def _products(self, acts) -> None:
        for i, weight in enumerate(self.weights):
            acts[i] @ weight.t()
            acts[i + 1].t() @ acts[i]
            if i:  # the input needs no gradient
                acts[i + 1] @ weight

    def _all_products(self) -> None:
        for acts in self.batches:
            self._products(acts)

    def epoch(self) -> None:
        with self.runtime.matmul_precision():
            if self.graph is not None:
                self.graph.replay()
            else:
                self._all_products()


def lab_run(data: BenchData, train_set: ImageSet, seed: int, epochs: int, precision: str = "fp32") -> RunConfig:
    """The lab's recipe and network, as ``train.py`` builds them for these images."""
    return RunConfig.create(
        image_shape=train_set.image_shape, data=data.config, epochs=epochs, seed=seed, precision=precision
    )


def our_trainer(data: BenchData, train_set: ImageSet, seed: int, runtime: Runtime, epochs: int) -> OurTrainer:
    """Our Trainer on the lab's recipe, as ``train.py`` sets it up: the in-memory path, the fused step."""
    run = lab_run(data, train_set, seed, epochs, runtime.precision)
    return OurTrainer(f"our trainer, {runtime.precision}", run, train_set, runtime)


def one_epoch_peak_mb(kind: str, data: BenchData, seed: int, device: str, precision: str) -> float:
    """Run in a fresh process: set up one contestant, train one epoch, score the test set; the
    process's peak resident memory (CPU) or the GPU's peak allocation, in MB."""
    runtime = make_runtime(device, precision)
    train_set, test_set = data.splits()
    contestant = (
        LabScriptPipeline(data, train_set, seed, runtime, 1)
        if kind == "lab"
        else our_trainer(data, train_set, seed, runtime, 1)
    )
    contestant.epoch()
    mean_mse(contestant.model, test_set.floats(runtime.device))
    if runtime.device.type == "cuda":
        return torch.cuda.max_memory_allocated(runtime.device) / MIB
    return peak_resident_bytes() / MIB


def peak_resident_bytes() -> int:
    """This process's peak resident memory since it started its program. Linux's getrusage peak
    survives exec, so a child would report its parent's peak; the kernel's high-water mark of the
    process's own address space (VmHWM) does not."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB  # reported in kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * KIB  # macOS counts bytes, others kB


def peak_mb(kind: str, data: BenchData, seed: int, device: str, precision: str) -> float:
    """:func:`one_epoch_peak_mb` in a fresh interpreter (not a fork, which would share pages)."""
    call = f"one_epoch_peak_mb({kind!r}, {data!r}, {seed!r}, {device!r}, {precision!r})"  # reprs that rebuild
    code = f"from aelab.analysis.benchmark import BenchData, DataConfig, one_epoch_peak_mb; print({call})"
    package_parent = str(Path(__file__).resolve().parents[2])  # found even when not installed
    search_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": search_path}
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the peak-memory process for {kind} failed: {last}")
    return float(child.stdout.split()[-1])


def inference_images_per_second(model: nn.Module, test: torch.Tensor, runtime: Runtime) -> float:
    model.eval()
    passes, elapsed = 0, 0.0
    with torch.no_grad(), runtime.matmul_precision(), runtime.autocast():
        model(test)  # warm-up
        runtime.synchronize()
        start = time.perf_counter()
        while passes < INFERENCE_REPEATS or elapsed < INFERENCE_MIN_SECONDS:
            for _ in range(INFERENCE_REPEATS):
                model(test)
            passes += INFERENCE_REPEATS
            runtime.synchronize()
            elapsed = time.perf_counter() - start
    return passes * len(test) / elapsed


def run_benchmark(
    data: BenchData,
    epochs: int = 10,
    seed: int = 0,
    device: str = "auto",
    precisions=("fp32", "bf16"),
    lab_epochs: int | None = None,
) -> dict:
    runtime = make_runtime(device, "fp32")
    train_set, test_set = data.splits()
    test = test_set.floats(runtime.device)
    runtimes = {p: make_runtime(device, p) for p in precisions}
    ours = {p: our_trainer(data, train_set, seed, runtimes[p], epochs) for p in precisions}
    rooflines = {
        p: GemmRoofline(runtimes[p], len(train_set), epochs, lab_run(data, train_set, seed, epochs).model)
        for p in precisions
    }
    # Last, so the global generator its DataLoader shuffles with is where the lab's script has it.
    lab = LabScriptPipeline(data, train_set, seed, runtime, epochs if lab_epochs is None else lab_epochs)
    totals = take_turns([lab, *ours.values(), *rooflines.values()], runtime)

    lab_rate = len(totals[lab.name].epoch_seconds) / totals[lab.name].seconds
    rows = [row(lab, totals[lab.name], lab_rate, test, runtime, data, seed, device)]
    for precision, contestant in ours.items():
        rt = runtimes[precision]
        r = row(contestant, totals[contestant.name], lab_rate, test, rt, data, seed, device)
        roofline = totals[rooflines[precision].name]
        r.update(
            roofline_seconds=roofline.seconds,
            vs_roofline=r["train_seconds"] / roofline.seconds,
            capture_seconds=contestant.capture_seconds,
            inference_images_per_second=inference_images_per_second(contestant.model, test, rt),
        )
        rows.append(r)
    return {
        "device": runtime.name,
        "torch": torch.__version__,
        "epochs": epochs,
        "seed": seed,
        "schedule": "interleaved: one epoch of each contestant per round, order rotating",
        "rows": rows,
        "dataset": data.config.label,
    }


def row(
    contestant,
    totals: Totals,
    lab_epochs_per_second: float,
    test: torch.Tensor,
    runtime: Runtime,
    data: BenchData,
    seed: int,
    device: str,
) -> dict:
    seconds = totals.seconds
    epochs = len(totals.epoch_seconds)
    kind = "lab" if isinstance(contestant, LabScriptPipeline) else "ours"
    return {
        "name": contestant.name,
        "epochs": epochs,
        "n_images": contestant.n_images,
        "train_seconds": seconds,
        "epoch_seconds": totals.epoch_seconds,
        "epochs_per_second": epochs / seconds,
        "images_per_second": epochs * contestant.n_images / seconds,
        "speedup_vs_lab": epochs / seconds / lab_epochs_per_second,
        "final_loss": totals.final_loss,
        "test_mse": mean_mse(contestant.model, test),
        "peak_memory_mb": peak_mb(kind, data, seed, device, runtime.precision),
    }
