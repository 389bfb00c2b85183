"""Train, study and show off small autoencoders on MNIST-style images and on your own.

The Python API (:mod:`aelab.api`): ``load``, ``load_data``, ``config``, ``train``, ``evaluate``,
``save``, ``export`` and the ``plot_*`` figures; and the classes ``ModelConfig``, ``RunConfig``,
``MLPAutoencoder`` (the lab's network, also as the lab's ``autoencoderMLP4Layer``) and
``UserError``. Each is imported on first use, so ``import aelab`` and ``aelab --help`` answer
at once; ``help(aelab.train)`` shows a name's arguments and an example.

Example::

    import aelab

    model, history = aelab.train(epochs=1, seed=0)
    aelab.plot_reconstructions(model, aelab.load_data()[1])
"""

__version__ = "0.2.0.dev0"

_NAMES = {
    **dict.fromkeys(("load", "load_data", "config", "train"), "api"),
    **dict.fromkeys(("evaluate", "save", "export"), "api_results"),
    **dict.fromkeys(("plot_reconstructions", "plot_interpolation", "plot_samples", "plot_losses"), "analysis.pictures"),
    "ModelConfig": "models.config",
    "RunConfig": "training.config",
    "MLPAutoencoder": "models.mlp.model",
    "autoencoderMLP4Layer": "models.mlp.model",
    "UserError": "errors",
}
__all__ = list(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'aelab' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_NAMES[name]}", __name__), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__():
    return sorted([*globals(), *_NAMES])
