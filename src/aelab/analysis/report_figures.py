"""The report's figures drawn into PNG bytes in memory, at screen resolution: the loss curve, a
variational model's samples, and the summary's test images over their reconstructions.
"""

from __future__ import annotations

import io

import torch

from ..data.images import ImageSet
from .inference import model_device, reconstructions
from .latent import grid_figure
from .plots import pyplot

# Screen resolution, not print: the lab's model's page stays near 1 MB (docs/report.md).
REPORT_DPI = 100
LOSS_FIGURE_INCHES = (8, 4)
GLANCE_CLASSES = 10  # at most this many columns in the summary's strip, whatever the dataset
SAMPLE_GRID = (4, 8)  # rows x columns of a variational model's samples


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=REPORT_DPI, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    return buffer.getvalue()


def loss_figure(history: dict, loss: str, test_mse: float | None) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=LOSS_FIGURE_INCHES)
    epochs = range(1, len(history["losses"]) + 1)
    ax.plot(epochs, history["losses"], marker=".", label=f"train loss ({loss})")
    if test_mse is not None:
        ax.axhline(test_mse, color="tab:orange", linestyle="--", label=f"test MSE {test_mse:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"training loss ({loss})")
    ax.grid(alpha=0.3)
    if history.get("lrs"):
        lr_axis = ax.twinx()
        lr_axis.plot(epochs, history["lrs"], color="grey", linestyle=":", label="learning rate")
        lr_axis.set_yscale("log")
        lr_axis.set_ylabel("learning rate")
        lr_axis.legend(loc="upper center")
    ax.legend(loc="upper right")
    return png(fig)


@torch.no_grad()
def sample_figure(model, title: str, seed: int):
    """A grid of a variational model's draws from its prior, repeatable and leaving the global RNG as it was."""
    rows, cols = SAMPLE_GRID
    device = model_device(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        images = model.sample(rows * cols).cpu()
    return grid_figure(
        images.reshape(rows, cols, -1), model.config.image_shape, [""] * rows, [""] * cols, title, "", ""
    )


@torch.no_grad()
def glance_figure(model, images: ImageSet):
    """The first test image of a few classes over its reconstruction: the model at a glance."""
    classes = images.labels.unique(sorted=True).tolist()[:GLANCE_CLASSES]
    originals = torch.stack([images.image(int((images.labels == c).nonzero()[0])) for c in classes])
    recon = reconstructions(model, originals.to(model_device(model))).cpu()
    return grid_figure(
        torch.stack([originals, recon]),
        model.config.image_shape,
        ["test image", "reconstruction"],
        [images.class_name(c) for c in classes],
        "",
        "class",
        "",
    )
