"""A model run over a whole split in chunks, so memory stays bounded, and the measures of its output.

Conventions, shared by ``eval``, ``sweep``, the figures and the explorer: MSE is the mean
over pixels on the 0-1 scale; PSNR is per image, ``10 log10(1 / MSE_image)`` (data range 1).
"""

from __future__ import annotations

import torch

from ..data.images import ImageSet
from ..data.sources import PIXEL_MAX

EVAL_BATCH = 10_000
PEAK = 1.0  # pixels live in [0, 1]; PSNR is measured against this peak
# The 1st and 99th percentiles of each code unit over a split: the range figures sweep and the
# explorer's sliders span. Outliers beyond them would stretch the range over empty code space.
CODE_QUANTILES = (0.01, 0.99)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def reconstructions(model, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """``model(images)`` for flat float images, chunk by chunk."""
    model.eval()
    return torch.cat([model(chunk) for chunk in images.split(batch_size)])


@torch.no_grad()
def encode_all(model, images: ImageSet, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """The codes of every image of a split, on the CPU; uint8 chunks are converted one at a time."""
    model.eval()
    device = model_device(model)
    return torch.cat(
        [
            model.encode(chunk.to(device).reshape(len(chunk), -1).float().div_(PIXEL_MAX)).cpu()
            for chunk in images.images.split(batch_size)
        ]
    )


def code_ranges(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each code unit's ``(low, high)``: its :data:`CODE_QUANTILES` over ``codes`` (N x z)."""
    low, high = torch.quantile(codes.float(), torch.tensor(CODE_QUANTILES), dim=0)
    return low, high


def per_image_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (recon - target).pow(2).mean(dim=1)


def psnr_per_image(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each row against its target; ``inf`` where they are identical."""
    return 10 * torch.log10(PEAK**2 / per_image_mse(recon.double(), target.double())).float()


def mean_mse(model, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> float:
    return per_image_mse(reconstructions(model, images, batch_size), images).mean().item()
