"""The lab's Steps 4-6: reconstruction, denoising and bottleneck interpolation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.images import ImageSet
from ..data.noise import noisy_copy
from ..errors import UserError
from ..models.base import Autoencoder
from .config import LAB_FIGURE_NAMES, LAB_N_STEPS, LAB_NOISE_STD
from .inference import model_device
from .plots import image_row, save_figure


@torch.no_grad()
def reconstruct(model: Autoencoder, image: torch.Tensor) -> torch.Tensor:
    return model(image.reshape(1, -1))[0]


@torch.no_grad()
def denoise(
    model: Autoencoder,
    image: torch.Tensor,
    noise_std: float = LAB_NOISE_STD,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add the lab's Gaussian noise (unclipped, as the lab does) and reconstruct; returns (noisy, denoised)."""
    noisy = noisy_copy(image, noise_std, generator)
    return noisy, reconstruct(model, noisy)


def ask_index(prompt: str, size: int, input_fn=input, print_fn=print) -> int:
    """Ask until the answer is an index in ``0..size-1``; end of input is a usage error."""
    while True:
        try:
            answer = input_fn(f"{prompt} (0-{size - 1}): ").strip()
        except EOFError:
            raise UserError("no image index given and no input to read; pass --index N and --pair A B") from None
        try:
            index = int(answer)
        except ValueError:
            print_fn(f"{answer!r} is not a whole number; enter an index from 0 to {size - 1}")
            continue
        if 0 <= index < size:
            return index
        print_fn(f"{index} is out of range; enter an index from 0 to {size - 1}")


@dataclass
class LabRequest:
    index: int | None = None
    pair: tuple[int, int] | None = None
    n_steps: int = LAB_N_STEPS
    noise_std: float = LAB_NOISE_STD
    seed: int | None = None


def run_lab(
    model: Autoencoder,
    images: ImageSet,
    request: LabRequest,
    out: Path | None,
    show: bool,
    input_fn=input,
    print_fn=print,
) -> list[Path]:
    """Steps 4-6 as the lab runs them; figures go to ``out`` and/or the screen."""
    images.check_fits(model.config.input_dim)
    device = model_device(model)
    model.eval()
    shape = model.config.image_shape
    generator = torch.Generator().manual_seed(request.seed) if request.seed is not None else None
    figures = []

    print_fn("Running Step 4: reconstruction")
    index = request.index
    if index is None:
        index = ask_index("Enter an image index", len(images), input_fn, print_fn)
    image = images.image(index).to(device)
    figures.append(
        image_row(
            [image, reconstruct(model, image)],
            ["original", "reconstruction"],
            f"{images.name} {images.split} image {index}",
            shape,
            show,
        )
    )

    print_fn("Running Step 5: denoising")
    noisy, denoised = denoise(model, image, request.noise_std, generator)
    figures.append(
        image_row(
            [image, noisy, denoised],
            ["original", f"noisy (std {request.noise_std:.3g})", "denoised"],
            f"denoising image {index}",
            shape,
            show,
        )
    )

    print_fn("Running Step 6: bottleneck interpolation")
    pair = request.pair
    if pair is None:
        pair = (
            ask_index("Enter the first image index", len(images), input_fn, print_fn),
            ask_index("Enter the second image index", len(images), input_fn, print_fn),
        )
    a, b = (images.image(i).to(device) for i in pair)
    strip = model.interpolate(a, b, request.n_steps)
    titles = [f"{i / (request.n_steps - 1):.2f}" for i in range(request.n_steps)]
    figures.append(image_row(list(strip), titles, f"interpolating image {pair[0]} to image {pair[1]}", shape, show))

    written = []
    if out is not None:
        for fig, name in zip(figures, LAB_FIGURE_NAMES):
            save_figure(fig, out / name)
            written.append(out / name)
    import matplotlib.pyplot as plt

    if show:
        plt.show()
    for fig in figures:  # a caller running the lab again (the report, the tests) starts with none open
        plt.close(fig)
    return written
