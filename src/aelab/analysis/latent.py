"""Pictures of the code space: test-set codes in 2-D, per-unit traversals, interpolations.

Grids of images are drawn as one mosaic per figure (one ``imshow``, ticks naming the rows
and columns) rather than an axes per cell: a 32-unit traversal stays fast and its labels
line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.images import ImageSet
from ..errors import UserError
from ..models.base import Autoencoder
from .config import LATENT_FIGURE_NAMES, LATENT_N_STEPS, LATENT_PAIRS
from .inference import CODE_QUANTILES, code_ranges, encode_all, model_device
from .pca import fit_pca
from .plots import as_picture, pyplot, save_figure, show_image

CELL_INCHES = 0.75  # one 28 x 28 image in a grid
GAP = 2  # pixels between images in a mosaic
INACTIVE = 1e-6  # a unit whose 1st and 99th percentiles agree this closely never varies (a dead ReLU)
SCATTER_POINT = 2
CLASS_COLOURS = "tab10"
DRAW_ORDER_SEED = 0


@dataclass
class Projection:
    points: torch.Tensor  # N x 2
    xlabel: str
    ylabel: str
    how: str


def project_2d(codes: torch.Tensor) -> Projection:
    """The codes themselves for a 2-unit code, else their two leading principal components."""
    z = codes.shape[1]
    if z == 2:
        return Projection(codes, "code unit 1", "code unit 2", "the codes themselves")
    if z == 1:
        return Projection(
            torch.cat([codes, torch.zeros_like(codes)], dim=1), "code unit 1", "(one unit only)", "the codes themselves"
        )
    pca = fit_pca(codes, max_components=2)
    first, both = pca.explained_ratio(1), pca.explained_ratio(2)
    return Projection(
        pca.encode(codes, 2).float(),
        f"PC 1 of the codes ({first:.0%} of variance)",
        f"PC 2 of the codes ({both - first:.0%} of variance)",
        f"PCA projection of the {z}-D codes",
    )


def codes_figure(codes: torch.Tensor, labels: torch.Tensor, title: str, class_name=str):
    plt = pyplot()
    projection = project_2d(codes)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    colours = plt.get_cmap(CLASS_COLOURS)
    # One scatter in a shuffled order: drawn class by class, the last class would cover the others.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DRAW_ORDER_SEED))
    points = projection.points[order].numpy()
    ax.scatter(
        points[:, 0],
        points[:, 1],
        s=SCATTER_POINT,
        alpha=0.5,
        rasterized=True,
        color=[colours(c % colours.N) for c in labels[order].tolist()],
    )
    handles = [
        plt.Line2D([], [], linestyle="", marker="o", color=colours(c % colours.N), label=class_name(c))
        for c in labels.unique(sorted=True).tolist()
    ]
    ax.set_xlabel(projection.xlabel)
    ax.set_ylabel(projection.ylabel)
    ax.set_title(f"{title}\n{projection.how}, coloured by class")
    ax.legend(handles=handles, title="class", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(alpha=0.3)
    return fig


def mosaic(images: torch.Tensor, image_shape):
    """``rows x cols x pixels`` images to one picture, white lines between them (digits are white on black)."""
    rows, cols = images.shape[:2]
    channels, height, width = image_shape
    tiles = images.reshape(rows, cols, channels, height, width)
    canvas = torch.ones(channels, rows * (height + GAP) - GAP, cols * (width + GAP) - GAP)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + GAP), c * (width + GAP)
            canvas[:, top : top + height, left : left + width] = tiles[r, c]
    return as_picture(canvas, canvas.shape)


def grid_figure(
    images: torch.Tensor,
    image_shape,
    row_labels: list[str],
    col_labels: list[str],
    title: str,
    xlabel: str,
    ylabel: str,
):
    plt = pyplot()
    rows, cols = images.shape[:2]
    height, width = image_shape[-2:]
    fig, ax = plt.subplots(figsize=(1.6 + cols * CELL_INCHES, 1.2 + rows * CELL_INCHES))
    show_image(ax, mosaic(images, image_shape))
    ax.set_xticks([c * (width + GAP) + width / 2 - 0.5 for c in range(cols)], col_labels, fontsize=8)
    ax.set_yticks([r * (height + GAP) + height / 2 - 0.5 for r in range(rows)], row_labels, fontsize=8)
    ax.tick_params(length=0)
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, pad=12)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def traversal_codes(codes: torch.Tensor, n_steps: int = LATENT_N_STEPS):
    """``z x n_steps x z`` codes: row ``u`` sweeps unit ``u`` over its 1st-99th percentile, the rest at their mean.

    Also returns each unit's ``(low, high)`` range.
    """
    low, high = code_ranges(codes)
    z = codes.shape[1]
    sweep = torch.linspace(0.0, 1.0, n_steps, dtype=codes.dtype)
    grid = codes.mean(dim=0).repeat(z, n_steps, 1)
    for unit in range(z):
        grid[unit, :, unit] = low[unit] + sweep * (high[unit] - low[unit])
    return grid, list(zip(low.tolist(), high.tolist()))


@torch.no_grad()
def traversal(model: Autoencoder, codes: torch.Tensor, n_steps: int = LATENT_N_STEPS):
    """The decoded traversal, ``z x n_steps x pixels``, and each unit's range."""
    grid, ranges = traversal_codes(codes, n_steps)
    z = codes.shape[1]
    device = model_device(model)
    images = model.decode(grid.reshape(z * n_steps, z).to(device)).cpu()
    return images.reshape(z, n_steps, -1), ranges


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def traversal_figure(model: Autoencoder, codes: torch.Tensor, title: str, n_steps: int = LATENT_N_STEPS):
    images, ranges = traversal(model, codes, n_steps)
    rows = [
        f"unit {u + 1}: {lo:.2f} to {hi:.2f}" + (" (inactive)" if hi - lo < INACTIVE else "")
        for u, (lo, hi) in enumerate(ranges)
    ]
    cols = [f"{s / (n_steps - 1):.2f}" for s in range(n_steps)]
    low, high = (ordinal(round(p * 100)) for p in CODE_QUANTILES)
    return grid_figure(
        images,
        model.config.image_shape,
        rows,
        cols,
        f"{title}\neach unit swept from its test-set {low} to {high} percentile, others at their mean",
        f"position in the unit's range (0 = {low} percentile, 1 = {high})",
        "code unit and its range",
    )


def pick_examples(images: ImageSet, pairs) -> list[tuple[int, int]]:
    """The first test image of each class in ``pairs``: repeatable, and no cherry-picking."""
    present = set(images.labels.tolist())
    for pair in pairs:
        for c in pair:
            if c not in present:
                raise UserError(
                    f"class {c} has no image in the {images.name} {images.split} set; "
                    f"choose from {', '.join(map(str, sorted(present)))}"
                )
    first = {c: int((images.labels == c).nonzero()[0]) for c in present}
    return [(first[a], first[b]) for a, b in pairs]


def interpolation_figure(model: Autoencoder, images: ImageSet, pairs, title: str, n_steps: int = LATENT_N_STEPS):
    device = model_device(model)
    indices = pick_examples(images, pairs)
    strips = torch.stack(
        [model.interpolate(images.image(a).to(device), images.image(b).to(device), n_steps).cpu() for a, b in indices]
    )
    rows = [
        f"{images.class_name(ca)} to {images.class_name(cb)}\n(images {a}, {b})"
        for (ca, cb), (a, b) in zip(pairs, indices)
    ]
    cols = [f"{s / (n_steps - 1):.2f}" for s in range(n_steps)]
    return grid_figure(
        strips,
        model.config.image_shape,
        rows,
        cols,
        f"{title}\ndecoded straight lines between two test images' codes",
        "interpolation weight t: code = (1 - t) code_a + t code_b",
        "class pair (test image indices)",
    )


def write_figures(
    model: Autoencoder, images: ImageSet, out: Path, name: str, pairs=LATENT_PAIRS, n_steps: int = LATENT_N_STEPS
) -> list[Path]:
    """All three figures for one model, saved atomically into ``out``."""
    if n_steps < 2:
        raise UserError(f"need at least 2 steps (both ends of each sweep), got {n_steps}")
    plt = pyplot()
    codes = encode_all(model, images)
    title = f"{name} (bottleneck {model.config.bottleneck}), {images.name} {images.split} set"
    figures = [
        codes_figure(codes, images.labels, f"Test-set codes of {title}", images.class_name),
        traversal_figure(model, codes, f"Latent traversal of {title}", n_steps),
        interpolation_figure(model, images, pairs, f"Interpolation in {title}", n_steps),
    ]
    written = []
    for fig, file_name in zip(figures, LATENT_FIGURE_NAMES):
        save_figure(fig, out / file_name)
        plt.close(fig)
        written.append(out / file_name)
    return written
