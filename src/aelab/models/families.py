"""One model class per family; :func:`build` makes the one a config names."""

from __future__ import annotations

from .base import Autoencoder
from .config import ModelConfig
from .conv import ConvAutoencoder
from .mlp import MLPAutoencoder
from .vae import VariationalAutoencoder

CLASSES = {
    "mlp": MLPAutoencoder,
    "conv": ConvAutoencoder,
    "vae": VariationalAutoencoder,
    "conv-vae": VariationalAutoencoder,
}


def build(config: ModelConfig) -> Autoencoder:
    """A new model of ``config``'s family and shape, with that family's initial weights."""
    model = CLASSES[config.family](config)
    model.initialize()
    return model
