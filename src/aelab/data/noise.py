"""Gaussian noise on images (the lab's Step 5, the evaluation's denoising, training with noise),
and dynamic binarisation.

Unclipped noise (the lab's Step 5) is zero-mean everywhere. Clipped noise is not: on the
black background only its positive half survives, a grey haze of mean ~0.4 std.
"""

from __future__ import annotations

import math

import torch

from ..errors import UserError
from .sources import PIXEL_RANGE


def add_noise(
    images: torch.Tensor, noise: torch.Tensor, std: float, clip: bool, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``images + std * noise``; with ``clip``, kept in the pixel range, as a stored image would be.

    ``out`` (which may be ``noise`` itself) receives the result instead of a new tensor.
    """
    if out is None:
        noisy = images + std * noise
    else:  # the same two roundings as above, so either form gives the same bits
        noisy = torch.add(images, torch.mul(noise, std, out=out), out=out)
    return noisy.clamp_(*PIXEL_RANGE) if clip else noisy


def binarize(images: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Each pixel a coin flip with its grey level as the chance of a 1: uniform draws below the
    pixel. ``torch.bernoulli`` draws the same distribution, three times slower on a CPU.

    ``out`` (of ``images``' shape and dtype) receives the result instead of a new tensor.
    """
    draws = torch.rand(images.shape, dtype=images.dtype, device=images.device, out=out)
    return torch.lt(draws, images, out=draws)


def noisy_copy(
    images: torch.Tensor, std: float, generator: torch.Generator | None = None, clip: bool = False
) -> torch.Tensor:
    """``images + std * N(0, 1)``, the noise drawn on the CPU from ``generator`` (the global one
    if None), so a seeded generator gives the same noisy images on every device."""
    if not math.isfinite(std) or std < 0:
        raise UserError(f"noise std must be a finite number of at least 0, got {std}")
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return add_noise(images, noise.to(images.device), std, clip)


def seeded(seed: int) -> torch.Generator:
    """A CPU generator started at ``seed``: the same seed, the same noise."""
    return torch.Generator().manual_seed(seed)
