"""Train, study and show off small autoencoders on MNIST-style images.

``from aelab import MLPAutoencoder`` works as before, but torch is imported only when
one of these names is first used, so ``aelab --help`` answers at once.
"""

__version__ = "0.1.0"

_MODEL_NAMES = {"MLPAutoencoder": "mlp.model", "autoencoderMLP4Layer": "mlp.model", "ModelConfig": "config"}
__all__ = list(_MODEL_NAMES)


def __getattr__(name: str):
    if name not in _MODEL_NAMES:
        raise AttributeError(f"module 'aelab' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".models.{_MODEL_NAMES[name]}", __name__), name)
