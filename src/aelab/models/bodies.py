"""The encoder and decoder networks the conv and variational families are built from.

Each encoder maps images to ``outputs`` numbers (a code, or a VAE's mean and log-variance
side by side); each decoder maps a code to flat pre-sigmoid pixels.
"""

from __future__ import annotations

import math

from torch import nn

from .config import ModelConfig
from .conv import CONV_KERNEL, CONV_STRIDE

CONV_PADDING = 1  # kernel 4, stride 2, padding 1: each stage halves (or doubles) a side exactly


def hidden_stack(inputs: int, config: ModelConfig) -> list[nn.Module]:
    """``inputs`` -> hidden, ReLU, then ``depth - 1`` more hidden layers, each with a ReLU."""
    layers: list[nn.Module] = [nn.Linear(inputs, config.hidden), nn.ReLU()]
    for _ in range(config.depth - 1):
        layers += [nn.Linear(config.hidden, config.hidden), nn.ReLU()]
    return layers


def mlp_encoder(config: ModelConfig, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), *hidden_stack(config.input_dim, config), nn.Linear(config.hidden, outputs))


def mlp_decoder(config: ModelConfig) -> nn.Sequential:
    return nn.Sequential(*hidden_stack(config.bottleneck, config), nn.Linear(config.hidden, config.output_dim))


def conv_encoder(config: ModelConfig, outputs: int) -> nn.Sequential:
    """Stride-2 convolutions, one per width, then the MLP's hidden layers to ``outputs``."""
    widths = (config.image_shape[0], *config.conv_channels)
    layers: list[nn.Module] = []
    for before, after in zip(widths, widths[1:]):
        layers += [nn.Conv2d(before, after, CONV_KERNEL, CONV_STRIDE, CONV_PADDING), nn.ReLU()]
    return nn.Sequential(
        *layers, nn.Flatten(), *hidden_stack(math.prod(config.feature_shape), config), nn.Linear(config.hidden, outputs)
    )


def conv_decoder(config: ModelConfig) -> nn.Sequential:
    """The encoder mirrored: hidden layers up to the last stage's features, then transposed
    convolutions back to the image, with no ReLU on the last (it gives logits)."""
    widths = (config.image_shape[0], *config.conv_channels)
    layers: list[nn.Module] = [
        *hidden_stack(config.bottleneck, config),
        nn.Linear(config.hidden, math.prod(config.feature_shape)),
        nn.ReLU(),
        nn.Unflatten(1, config.feature_shape),
    ]
    for after, before in reversed(list(zip(widths, widths[1:]))):
        layers += [nn.ConvTranspose2d(before, after, CONV_KERNEL, CONV_STRIDE, CONV_PADDING), nn.ReLU()]
    return nn.Sequential(*layers[:-1], nn.Flatten())
