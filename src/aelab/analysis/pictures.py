"""The Python API's figures: reconstructions, an interpolation, samples and a loss curve, each a
``matplotlib.figure.Figure`` returned to the caller.

They are built without pyplot, so drawing one changes no backend and opens no window: a notebook
shows the figure a cell returns (with or without ``%matplotlib inline``), and a script saves it
with ``fig.savefig("x.png")``.
"""

from __future__ import annotations

import torch

from .plots import FIGURE_DPI, as_picture, show_image

CELL_INCHES = 1.6  # each image's side on the page
MIN_WIDTH_INCHES = 6.0  # room for the title above a row of one or two images


def notebook_figure(**kwargs):
    """A Figure that a notebook cell shows when it is the cell's value, whatever the backend."""
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        def _repr_png_(self) -> bytes:  # Jupyter's fallback when no inline backend claims the figure
            from io import BytesIO

            buffer = BytesIO()
            self.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
            return buffer.getvalue()

    return NotebookFigure(**kwargs)


def figure(rows: int, columns: int, title: str):
    width = max(CELL_INCHES * columns, MIN_WIDTH_INCHES)
    fig = notebook_figure(figsize=(width, CELL_INCHES * rows + 0.4), layout="constrained")
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


def plot_samples(
    model,
    n: int = 16,
    temperature: float = 1.0,
    seed: int | None = 0,
    columns: int = 8,
    data=None,
    components: int = 10,
):
    """``n`` new images in rows of ``columns``: a variational model draws from its own prior (and
    ignores ``data`` and ``components``); any other model from a ``components``-component Gaussian
    mixture fitted to the codes of ``data`` (an ImageSet, best the split it was trained on), the
    fit seeded by ``seed`` (0 when ``seed`` is None) and ``temperature`` scaling each draw's
    deviation from its component's mean.

    Example::

        >>> fig = aelab.plot_samples(vae, n=32)
        >>> fig = aelab.plot_samples(mlp, n=32, data=train_set, components=10)
    """
    from ..errors import UserError

    if model.variational:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        images = model.sample(n, temperature, generator)
        source = "samples"
    else:
        if data is None:
            raise UserError(
                f"a {model.config.family} model has no prior to sample from; pass data= (its training "
                "images) to sample from a Gaussian mixture fitted to their codes, or use a variational family"
            )
        from .evaluation import check_compatible
        from .mixture import sample_images

        check_compatible(model, data)
        images, mixture, _ = sample_images(model, data, n, components, temperature, 0 if seed is None else seed)
        source = f"{mixture.components}-component mixture samples"
    rows = -(-n // columns)
    fig, axes = figure(rows, min(columns, n), f"{model.config.layer_sizes}: {source} at temperature {temperature:g}")
    for index, image in enumerate(images):
        show_image(axes.flat[index], as_picture(image, model.config.image_shape))
    return fig


def plot_losses(history, title: str = "training loss"):
    """The training loss of each epoch (a :func:`aelab.train` history, or a list of losses).

    Example::

        >>> model, history = aelab.train(epochs=5)
        >>> fig = aelab.plot_losses(history)
    """
    losses = list(getattr(history, "losses", history))
    fig = notebook_figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), losses, marker="." if len(losses) < 60 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig
