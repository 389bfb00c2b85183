"""Speed, measured: the lab's pipeline as written against our trainer, in one process.

Both train the lab's recipe for the same epochs from the same seed; the table reports
throughput, the speed ratio, test MSE, peak memory, and how close our step is to the
machine's own matrix-multiply rate for these shapes (the roofline).
"""

from __future__ import annotations

import platform
import threading
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn, optim

from .data import load_images, streaming_loader
from .evaluation import mean_mse
from .model import MLPAutoencoder, ModelConfig, autoencoderMLP4Layer, init_lab_weights
from .runtime import Runtime, make_runtime
from .training import TrainConfig, Trainer, make_batches

PAGE_BYTES = 4096
MEMORY_POLL_SECONDS = 0.01
INFERENCE_REPEATS = 5
GEMM_REPEATS = 20


@dataclass
class Result:
    name: str
    epochs: int
    train_seconds: float
    final_loss: float
    test_mse: float
    peak_memory_mb: float
    n_images: int
    setup_seconds: float = 0.0  # data loading, compile or capture: not in train_seconds

    @property
    def epochs_per_second(self) -> float:
        return self.epochs / self.train_seconds

    @property
    def images_per_second(self) -> float:
        return self.epochs * self.n_images / self.train_seconds


class PeakMemory:
    """Peak resident memory (CPU) or peak allocated memory (CUDA) while the block runs, in MB."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0
        self._stop = threading.Event()

    @staticmethod
    def _resident_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE_BYTES

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._resident_bytes())
            time.sleep(MEMORY_POLL_SECONDS)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif platform.system() == "Linux":
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif hasattr(self, "_thread"):
            self._stop.set()
            self._thread.join()
        self.mb = self.peak / 2**20


def lab_pipeline(data_root, epochs: int, seed: int, device: torch.device, test: torch.Tensor) -> Result:
    """The lab's train.py, line for line: DataLoader + ToTensor, eager step, ``.item()`` per batch."""
    torch.manual_seed(seed)
    loader = streaming_loader("mnist", data_root, batch_size=2048)
    model = autoencoderMLP4Layer(N_input=784, N_bottleneck=8, N_output=784).to(device)
    model.apply(init_lab_weights)
    optimizer = optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min")
    loss_fn = nn.MSELoss(reduction="mean")
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        model.train()
        for _ in range(epochs):
            loss_train = 0.0
            for imgs, _labels in loader:
                imgs = imgs.view(imgs.shape[0], -1).to(device=device)
                loss = loss_fn(model(imgs), imgs)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_train += loss.item()
            scheduler.step(loss_train)
        seconds = time.perf_counter() - start
    return Result("lab-style pipeline", epochs, seconds, loss_train / len(loader),
                  mean_mse(model, test), memory.mb, len(loader.dataset))


def our_trainer(data_root, epochs: int, seed: int, runtime: Runtime, test: torch.Tensor) -> Result:
    start = time.perf_counter()
    torch.manual_seed(seed)
    config = TrainConfig(epochs=epochs, seed=seed, precision=runtime.precision)
    train_set = load_images("mnist", data_root, train=True)
    model = MLPAutoencoder(ModelConfig())
    init_lab_weights(model)
    model.to(runtime.device)
    with PeakMemory(runtime.device) as memory:
        trainer = Trainer(model, config, runtime, make_batches(train_set, config, runtime.device))
        setup = time.perf_counter() - start
        history = trainer.fit()
    return Result(f"our trainer, {runtime.precision}", epochs, history.seconds[-1], history.losses[-1],
                  mean_mse(model, test), memory.mb, len(train_set), setup)


def timed(fn, repeats: int, runtime: Runtime) -> float:
    fn()  # warm-up: first calls pay for allocation and kernel selection
    runtime.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    runtime.synchronize()
    return (time.perf_counter() - start) / repeats


def gemm_roofline_seconds(runtime: Runtime, n_images: int, batch: int = 2048,
                          config: ModelConfig = ModelConfig()) -> float:
    """Seconds per epoch for the step's matrix products alone: 4 forward, 3 input-gradient
    and 4 weight-gradient products per batch, at this machine's measured rate."""
    dtype = torch.bfloat16 if runtime.precision == "bf16" else torch.float32
    dims = [config.input_dim, config.hidden, config.bottleneck, config.hidden, config.output_dim]

    weights = [torch.ones(dims[i + 1], dims[i], device=runtime.device, dtype=dtype) for i in range(4)]

    def products(rows: int):
        acts = [torch.ones(rows, d, device=runtime.device, dtype=dtype) for d in dims]

        def run():
            for i, weight in enumerate(weights):
                acts[i] @ weight.t()
                acts[i + 1].t() @ acts[i]
                if i:  # the input needs no gradient
                    acts[i + 1] @ weight
        return run

    full, rest = divmod(n_images, batch)
    seconds = full * timed(products(batch), GEMM_REPEATS, runtime)
    return seconds + (timed(products(rest), GEMM_REPEATS, runtime) if rest else 0.0)


def inference_images_per_second(model: nn.Module, test: torch.Tensor, runtime: Runtime) -> float:
    model.eval()
    with torch.no_grad(), runtime.autocast():
        seconds = timed(lambda: model(test), INFERENCE_REPEATS, runtime)
    return len(test) / seconds


def run_benchmark(data_root, epochs: int = 10, seed: int = 0, device: str = "auto",
                  precisions=("fp32", "bf16")) -> dict:
    runtime = make_runtime(device, "fp32")
    test = load_images("mnist", data_root, train=False).floats(runtime.device)
    results = [lab_pipeline(data_root, epochs, seed, runtime.device, test)]
    rooflines, inference = {}, {}
    for precision in precisions:
        rt = make_runtime(device, precision)
        results.append(our_trainer(data_root, epochs, seed, rt, test))
        rooflines[precision] = gemm_roofline_seconds(rt, results[-1].n_images)
        inference[precision] = inference_images_per_second(MLPAutoencoder().to(rt.device), test, rt)
    base = results[0]
    rows = []
    for result in results:
        precision = result.name.rsplit(" ", 1)[-1]
        row = {**asdict(result), "epochs_per_second": result.epochs_per_second,
               "images_per_second": result.images_per_second,
               "speedup_vs_lab": base.train_seconds / result.train_seconds}
        if precision in rooflines:
            row["roofline_seconds"] = rooflines[precision] * result.epochs
            row["vs_roofline"] = result.train_seconds / row["roofline_seconds"]
            row["inference_images_per_second"] = inference[precision]
        rows.append(row)
    return {"device": runtime.name, "torch": torch.__version__, "epochs": epochs, "seed": seed,
            "rows": rows}


def markdown_table(report: dict) -> str:
    head = ("| pipeline | train s | epochs/s | images/s | speed-up | vs GEMM roofline | final loss "
            "| test MSE | peak MB | inference images/s |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in report["rows"]:
        roof = f"{r['vs_roofline']:.2f}x" if "vs_roofline" in r else "-"
        infer = f"{r['inference_images_per_second']:,.0f}" if "inference_images_per_second" in r else "-"
        lines.append(f"| {r['name']} | {r['train_seconds']:.1f} | {r['epochs_per_second']:.2f} | "
                     f"{r['images_per_second']:,.0f} | {r['speedup_vs_lab']:.2f}x | {roof} | "
                     f"{r['final_loss']:.5f} | {r['test_mse']:.5f} | {r['peak_memory_mb']:.0f} | {infer} |")
    title = f"{report['epochs']} epochs, seed {report['seed']}, {report['device']}, torch {report['torch']}\n\n"
    return title + head + "\n".join(lines) + "\n"
