"""A sweep's rate-distortion table (markdown and CSV) and plot, each written atomically."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

from ..files import atomic_write, write_text
from .config import SWEEP_FILE_NAMES
from .plots import pyplot, save_figure
from .sweep import SWEEP_COLUMNS, SweepRow
from .tables import markdown_table

PCA_STYLE = {"color": "black", "linestyle": "--", "marker": "s"}


def row_dict(row: SweepRow) -> dict:
    return {**asdict(row), "below_pca": row.below_pca}


def write_csv(rows: list[SweepRow], path: str | Path) -> None:
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=SWEEP_COLUMNS)
            writer.writeheader()
            writer.writerows(row_dict(r) for r in rows)

    atomic_write(path, write)


def sweep_markdown(rows: list[SweepRow], dataset: str = "mnist") -> str:
    machines = sorted({r.machine for r in rows})
    header = [
        "recipe",
        "bottleneck",
        "epochs",
        "AE test MSE",
        "PCA test MSE",
        "AE below PCA",
        "AE PSNR (dB)",
        "PCA PSNR (dB)",
        "training time (s)",
    ]
    cells = [
        [
            r.label,
            str(r.bottleneck),
            str(r.epochs),
            f"{r.ae_mse:.4f}",
            f"{r.pca_mse:.4f}",
            f"{r.below_pca:.0%}",
            f"{r.ae_psnr:.2f}",
            f"{r.pca_psnr:.2f}",
            f"{r.train_seconds:.0f}",
        ]
        for r in rows
    ]
    lines = [
        f"Test MSE on the {dataset} test set (mean over pixels, 0-1 scale); PCA fitted on the training "
        f"split with as many components as the bottleneck. Trained on: {'; '.join(machines)}.",
        "",
    ]
    return "\n".join(lines + markdown_table(header, cells)) + "\n"


def plot_rate_distortion(rows: list[SweepRow], path: str | Path, dataset: str = "mnist") -> None:
    """Test MSE against bottleneck size: one line per recipe, and PCA's as the linear reference."""
    from matplotlib.ticker import NullLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = sorted({r.bottleneck for r in rows})
    # PCA does not depend on the recipe; any row at a size carries its value.
    pca = {r.bottleneck: r.pca_mse for r in rows}
    ax.plot(sizes, [pca[z] for z in sizes], label="PCA (same number of components)", **PCA_STYLE)
    for label in dict.fromkeys(r.label for r in rows):
        mine = sorted((r for r in rows if r.label == label), key=lambda r: r.bottleneck)
        ax.plot(
            [r.bottleneck for r in mine],
            [r.ae_mse for r in mine],
            marker="o",
            label=f"{family_and_recipe(label)} recipe, {mine[0].epochs} epochs",
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(z) for z in sizes])
    ax.xaxis.set_minor_locator(NullLocator())  # only the swept sizes are ticked
    ax.set_xlabel("bottleneck size (code units / PCA components)")
    ax.set_ylabel("test MSE (mean over pixels)")
    ax.set_title(f"Rate-distortion on the {dataset} test set")
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend()
    save_figure(fig, path)
    plt.close(fig)


def write_report(rows: list[SweepRow], out: str | Path, dataset: str = "mnist") -> list[Path]:
    out = Path(out)
    md, csv_path, png = (out / name for name in SWEEP_FILE_NAMES)
    write_text(md, sweep_markdown(rows, dataset))
    write_csv(rows, csv_path)
    plot_rate_distortion(rows, png, dataset)
    return [md, csv_path, png]


def family_and_recipe(label: str) -> str:
    """``conv best`` stays; the lab's family goes unnamed in row labels (``best``) and is named here."""
    return label if " " in label else f"mlp {label}"
