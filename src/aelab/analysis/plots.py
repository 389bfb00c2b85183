"""Figures: the loss curve and rows of images, saved atomically or shown on screen.

matplotlib is imported by :func:`pyplot`, when a figure is drawn, not when this module is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..files import atomic_write

FIGURE_DPI = 120
GRID_CELL_INCHES = 0.9
GRID_TITLE_INCHES = 0.5
GRID_GAP = 0.05  # between grid cells, as a share of a cell


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def pyplot(interactive: bool = False):
    """pyplot on a screen backend only when asked and a screen exists, else the file-only Agg."""
    import matplotlib

    if not (interactive and has_display()):
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> None:
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight"))


def loss_curve(
    losses: list[float], path: str | Path, test_mse: float | None = None, title: str = "training loss"
) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    epochs = range(1, len(losses) + 1)
    ax.plot(epochs, losses, label="train", marker="." if len(losses) < 60 else None)
    if test_mse is not None:
        ax.axhline(test_mse, color="tab:orange", linestyle="--", label=f"test MSE {test_mse:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean over pixels)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    save_figure(fig, path)
    plt.close(fig)


def as_picture(image, image_shape):
    """A ``C x H x W`` image (flat or not) as ``imshow`` takes it: ``H x W`` for grey, ``H x W x 3``
    for colour, pixels clipped to [0, 1] (for display only)."""
    channels, height, width = image_shape
    picture = image.detach().cpu().reshape(channels, height, width).clamp(0.0, 1.0)
    return (picture[0] if channels == 1 else picture.permute(1, 2, 0)).numpy()


def show_image(ax, picture) -> None:
    """Draw a picture from :func:`as_picture` at a fixed display range, upscaled crisply: a faint
    decode must look faint, not stretched, as in the lab's figures."""
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")


def image_row(images, titles: list[str], suptitle: str, image_shape, interactive: bool = False):
    """A row of images, each with its title."""
    plt = pyplot(interactive)
    fig, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 2.6), squeeze=False)
    for ax, image, title in zip(axes[0], images, titles):
        show_image(ax, as_picture(image, image_shape))
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def image_grid(images, image_shape, title: str, columns: int):
    """Images in rows of ``columns``, untitled and close together: a page of samples."""
    plt = pyplot()
    rows = -(-len(images) // columns)
    _, height, width = image_shape
    cell = GRID_CELL_INCHES / max(height, width)  # the longer side of each image gets the cell
    fig_height = rows * height * cell + GRID_TITLE_INCHES
    fig, axes = plt.subplots(rows, columns, figsize=(columns * width * cell, fig_height), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < len(images):
            show_image(ax, as_picture(images[index], image_shape))
        ax.axis("off")
    fig.suptitle(title)
    fig.subplots_adjust(wspace=GRID_GAP, hspace=GRID_GAP, top=1 - GRID_TITLE_INCHES / fig_height)
    return fig
