"""The bottleneck sweep: train one recipe at several code sizes and score each against PCA.

Rows of several recipes share one table and one plot (see :mod:`.sweep_report`). Each row is
set up by :func:`~aelab.training.run.build_trainer`, as ``train.py`` sets up its run, so a
seeded row is ``train.py --seed``'s run to the bit.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from ..data.images import ImageSet
from ..models.config import DEFAULT_FAMILY
from ..progress import progress_bar
from ..training.config import RunConfig
from ..training.run import build_trainer, save_run
from ..training.runtime import Runtime
from ..training.trainer import Trainer
from .evaluation import model_reconstructor
from .inference import EVAL_BATCH, psnr_per_image
from .pca import PCA, PCAReconstructor, fit_pca

tqdm = progress_bar()


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


@torch.no_grad()
def test_scores(reconstruct, clean: torch.Tensor) -> tuple[float, float]:
    """(MSE, PSNR) on the clean split, in :mod:`.inference`'s conventions."""
    recon = torch.cat([reconstruct(chunk) for chunk in clean.split(EVAL_BATCH)])
    return (recon - clean).pow(2).mean().item(), psnr_per_image(recon, clean).mean().item()


def run_sweep(
    bottlenecks,
    run: RunConfig,
    train_set: ImageSet,
    test_set: ImageSet,
    runtime: Runtime,
    save_dir: Path | None = None,
    pca: PCA | None = None,
    on_row=None,
    progress: bool = True,
) -> list[SweepRow]:
    """Train ``run`` at each bottleneck size; ``on_row(rows)`` runs after each one.

    Rows are labelled with ``run.recipe`` (after the family, for other families than the lab's).
    ``pca`` (fitted on ``train_set``) may be passed in to share one fit between recipes.
    """
    family, train_config = run.model.family, run.train
    label = run.recipe if family == DEFAULT_FAMILY else f"{family} {run.recipe}"
    configs = {z: replace(run, model=replace(run.model, bottleneck=z)) for z in bottlenecks}
    pca = pca or fit_pca(train_set.floats(), max_components=max(bottlenecks))
    pca.basis(max(bottlenecks))  # a shared fit too small for a size fails before any training
    machine = machine_description(runtime)
    clean = test_set.floats(runtime.device)
    rows: list[SweepRow] = []
    bar = tqdm(
        total=len(configs) * train_config.epochs,
        desc=f"sweep {label}",
        unit="epoch",
        disable=not progress,
        file=sys.stderr,
    )
    try:
        for z, run_z in configs.items():

            def advance(trainer: Trainer, z=z):
                bar.update(1)
                bar.set_postfix(z=z, loss=f"{trainer.history.losses[-1]:.5f}")

            trainer = build_trainer(run_z, train_set, runtime)
            trainer.fit(advance)
            path = ""
            if save_dir is not None:
                path = str(Path(save_dir) / f"{family.upper()}.{run.recipe}.{z}.pth")
                save_run(Path(path), trainer.model, trainer.run_state(), "or pass --no-models")
            ae_mse, ae_psnr = test_scores(model_reconstructor(trainer.model), clean)
            pca_mse, pca_psnr = test_scores(PCAReconstructor(pca, z), clean)
            rows.append(
                SweepRow(
                    label=label,
                    bottleneck=z,
                    epochs=train_config.epochs,
                    ae_mse=ae_mse,
                    pca_mse=pca_mse,
                    ae_psnr=ae_psnr,
                    pca_psnr=pca_psnr,
                    train_seconds=trainer.history.seconds[-1],
                    machine=machine,
                    checkpoint=path,
                )
            )
            bar.write(
                f"{label} z={z}: test MSE {ae_mse:.5f} (PCA {pca_mse:.5f}), {rows[-1].train_seconds:.0f}s training"
            )
            if on_row is not None:
                on_row(rows)
    finally:
        bar.close()
    return rows
