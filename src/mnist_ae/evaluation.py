"""How well a model reconstructs a split: the lab's MSE (mean over pixels, 0-1 scale)."""

from __future__ import annotations

import torch

from .model import MLPAutoencoder

EVAL_BATCH = 10_000


@torch.no_grad()
def reconstructions(model: MLPAutoencoder, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    model.eval()
    return torch.cat([model(chunk) for chunk in images.split(batch_size)])


@torch.no_grad()
def per_image_mse(model: MLPAutoencoder, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    return (reconstructions(model, images, batch_size) - images).pow(2).mean(dim=1)


def mean_mse(model: MLPAutoencoder, images: torch.Tensor, batch_size: int = EVAL_BATCH) -> float:
    return per_image_mse(model, images, batch_size).mean().item()
