"""The bottleneck sweep: train one recipe at several code sizes and score each against PCA.

A recipe is a ``TrainConfig`` plus ``ModelConfig`` overrides under a short label ("lab"
for the defaults), so another recipe is another call with other arguments, and rows of
several recipes share one table and one plot (see :mod:`mnist_ae.sweep_report`).
Rows are trained with the same steps and seeding as ``train.py``.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint
from .data import ImageSet
from .errors import UserError
from .evaluation import EVAL_BATCH, model_reconstructor, psnr_per_image
from .model import MLPAutoencoder, ModelConfig, init_lab_weights
from .pca import PCA, PCAReconstructor, fit_pca
from .runtime import Runtime
from .training import TrainConfig, Trainer, make_batches

LAB_LABEL = "lab"
DEFAULT_BOTTLENECKS = (2, 4, 8, 16, 32)
# The sweep sets these from the data and the swept size; an override may not change them.
FIXED_MODEL_FIELDS = ("input_dim", "output_dim", "image_shape", "bottleneck")


@dataclass
class SweepRow:
    """One trained model: its test error beside PCA's at the same code size, and its cost."""

    label: str
    bottleneck: int
    epochs: int
    ae_mse: float
    pca_mse: float
    ae_psnr: float
    pca_psnr: float
    train_seconds: float
    machine: str
    checkpoint: str = ""

    @property
    def below_pca(self) -> float:
        """How far the autoencoder's MSE is below PCA's, as a fraction of PCA's."""
        return 1.0 - self.ae_mse / self.pca_mse


SWEEP_COLUMNS = tuple(f.name for f in fields(SweepRow)) + ("below_pca",)


def machine_description(runtime: Runtime) -> str:
    """What the times were measured on: the device, the CPU model and its core count."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass  # not Linux: keep platform's answer
    return f"{runtime.name}; {cpu}; {os.cpu_count()} cores"


def parse_bottlenecks(text: str) -> list[int]:
    """``"2,4,8"`` (commas and/or spaces) to sizes, refusing empty, non-numeric, < 1 or repeated ones."""
    items = text.replace(",", " ").split()
    if not items:
        raise UserError("the bottleneck list is empty; give sizes such as 2,4,8,16,32")
    sizes = []
    for item in items:
        try:
            size = int(item)
        except ValueError:
            raise UserError(f"bottleneck size {item!r} is not a whole number; give sizes such as 2,4,8") from None
        if size < 1:
            raise UserError(f"bottleneck size must be at least 1, got {size}")
        if size in sizes:
            raise UserError(f"bottleneck size {size} is listed twice")
        sizes.append(size)
    return sizes


def model_config_for(images: ImageSet, bottleneck: int, overrides: dict | None = None) -> ModelConfig:
    overrides = dict(overrides or {})
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    fixed = sorted(set(overrides) & set(FIXED_MODEL_FIELDS))
    if unknown or fixed:
        raise UserError(f"model overrides may set {', '.join(sorted(known - set(FIXED_MODEL_FIELDS)))}; "
                        f"got {', '.join(unknown + fixed)}")
    n_pixels = images.images[0].numel()
    try:
        return ModelConfig(input_dim=n_pixels, output_dim=n_pixels, image_shape=images.image_shape,
                           bottleneck=bottleneck, **overrides)
    except ValueError as err:
        raise UserError(f"invalid model override: {err}") from None


def train_model(model_config: ModelConfig, train_config: TrainConfig, train_set: ImageSet,
                runtime: Runtime, data_root=None, on_epoch_end=None) -> Trainer:
    """The steps of ``train.py``, in its order, so a seeded row repeats ``train.py --seed``'s run."""
    if train_config.seed is not None:
        torch.manual_seed(train_config.seed)
    model = MLPAutoencoder(model_config)
    init_lab_weights(model)
    model.to(runtime.device)
    trainer = Trainer(model, train_config, runtime, make_batches(train_set, train_config, runtime.device, data_root))
    trainer.fit(on_epoch_end)
    return trainer


@torch.no_grad()
def test_scores(reconstruct, clean: torch.Tensor) -> tuple[float, float]:
    """(MSE, PSNR) on the clean split, in :mod:`mnist_ae.evaluation`'s conventions."""
    recon = torch.cat([reconstruct(chunk) for chunk in clean.split(EVAL_BATCH)])
    return (recon - clean).pow(2).mean().item(), psnr_per_image(recon, clean).mean().item()


def run_sweep(bottlenecks, train_config: TrainConfig, train_set: ImageSet, test_set: ImageSet,
              runtime: Runtime, model_overrides: dict | None = None, label: str = LAB_LABEL,
              save_dir: Path | None = None, pca: PCA | None = None, data_root=None,
              on_row=None, progress: bool = True) -> list[SweepRow]:
    """Train ``train_config`` at each bottleneck size; ``on_row(rows)`` runs after each one.

    ``pca`` (fitted on ``train_set``) may be passed in to share one fit between recipes.
    """
    configs = {z: model_config_for(train_set, z, model_overrides) for z in bottlenecks}
    pca = pca or fit_pca(train_set.floats(), max_components=max(bottlenecks))
    pca.basis(max(bottlenecks))  # a shared fit too small for a size fails before any training
    machine = machine_description(runtime)
    clean = test_set.floats(runtime.device)
    rows: list[SweepRow] = []
    bar = tqdm(total=len(configs) * train_config.epochs, desc=f"sweep {label}", unit="epoch",
               disable=not progress, file=sys.stderr)
    try:
        for z, model_config in configs.items():
            def advance(trainer: Trainer, z=z):
                bar.update(1)
                bar.set_postfix(z=z, loss=f"{trainer.history.losses[-1]:.5f}")

            trainer = train_model(model_config, train_config, train_set, runtime, data_root, advance)
            path = ""
            if save_dir is not None:
                path = str(Path(save_dir) / f"MLP.{label}.{z}.pth")
                checkpoint.save(path, trainer.model, {**trainer.run_state(), "model_config": asdict(model_config)})
            ae_mse, ae_psnr = test_scores(model_reconstructor(trainer.model), clean)
            pca_mse, pca_psnr = test_scores(PCAReconstructor(pca, z), clean)
            rows.append(SweepRow(label=label, bottleneck=z, epochs=train_config.epochs, ae_mse=ae_mse,
                                 pca_mse=pca_mse, ae_psnr=ae_psnr, pca_psnr=pca_psnr,
                                 train_seconds=trainer.history.seconds[-1], machine=machine, checkpoint=path))
            bar.write(f"{label} z={z}: test MSE {ae_mse:.5f} (PCA {pca_mse:.5f}), "
                      f"{rows[-1].train_seconds:.0f}s training")
            if on_row is not None:
                on_row(rows)
    finally:
        bar.close()
    return rows
