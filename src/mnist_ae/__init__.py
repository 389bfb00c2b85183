"""Train, study and show off small MLP autoencoders on MNIST-style images."""

from .model import MLPAutoencoder, ModelConfig, autoencoderMLP4Layer

__all__ = ["MLPAutoencoder", "ModelConfig", "autoencoderMLP4Layer"]
__version__ = "0.1.0"
