"""The Python API's figures: reconstructions, an interpolation, samples and a loss curve, each a
``matplotlib.figure.Figure`` returned to the caller.

They are built without pyplot, so drawing one changes no backend and opens no window: a notebook
shows the figure a cell returns, and a script saves it with ``fig.savefig("x.png")``.
"""

from __future__ import annotations

import torch

from .plots import as_picture, show_image

CELL_INCHES = 1.6  # each image's side on the page


def figure(rows: int, columns: int, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(CELL_INCHES * columns, CELL_INCHES * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title)
    return fig, axes


def first_images(images, n: int):
    """The first ``n`` images of an ImageSet, a tensor or an array."""
    pixels = getattr(images, "images", images)
    return torch.as_tensor(pixels)[:n]


def plot_reconstructions(model, images, n: int = 8):
    """The first ``n`` images (top row) over the model's reconstructions of them (bottom row).

    Example::

        >>> fig = aelab.plot_reconstructions(model, test_set, n=8)
        >>> fig.savefig("reconstructions.png")
    """
    originals = model.batch(first_images(images, n))
    outputs = model.reconstruct(originals)
    fig, axes = figure(2, len(originals), f"{model.config.layer_sizes}: inputs (top), reconstructions (bottom)")
    for column, (image, output) in enumerate(zip(originals, outputs)):
        show_image(axes[0, column], as_picture(image, model.config.image_shape))
        show_image(axes[1, column], as_picture(output, model.config.image_shape))
    return fig


def plot_interpolation(model, a, b, n_steps: int = 8):
    """Decodes of ``n_steps`` evenly spaced codes from image ``a``'s to image ``b``'s, ends
    included, with the two inputs beside them and each code's weight on ``b`` above it.

    Example::

        >>> fig = aelab.plot_interpolation(model, test_set.images[0], test_set.images[1])
    """
    a, b = (model.batch(torch.as_tensor(x).reshape(1, -1))[0] for x in (a, b))
    path = model.interpolate(a, b, n_steps)
    fig, axes = figure(1, n_steps + 2, f"{model.config.layer_sizes}: interpolation between two codes")
    pictures = [a, *path, b]
    titles = ["input a", *[f"{i / (n_steps - 1):.2f}" for i in range(n_steps)], "input b"]
    for ax, image, title in zip(axes[0], pictures, titles):
        show_image(ax, as_picture(image, model.config.image_shape))
        ax.set_title(title, fontsize=9)
    return fig


def plot_samples(model, n: int = 16, temperature: float = 1.0, seed: int | None = 0, columns: int = 8):
    """``n`` new images drawn from a variational model's prior, in rows of ``columns``.

    Example::

        >>> fig = aelab.plot_samples(vae, n=32)
    """
    from ..errors import UserError

    if not model.variational:
        raise UserError(f"a {model.config.family} model has no prior to sample from; use a variational family")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    images = model.sample(n, temperature, generator)
    rows = -(-n // columns)
    fig, axes = figure(rows, min(columns, n), f"{model.config.layer_sizes}: samples at temperature {temperature:g}")
    for index, image in enumerate(images):
        show_image(axes.flat[index], as_picture(image, model.config.image_shape))
    return fig


def plot_losses(history, title: str = "training loss"):
    """The training loss of each epoch (a :func:`aelab.train` history, or a list of losses).

    Example::

        >>> model, history = aelab.train(epochs=5)
        >>> fig = aelab.plot_losses(history)
    """
    from matplotlib.figure import Figure

    losses = list(getattr(history, "losses", history))
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), losses, marker="." if len(losses) < 60 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig
