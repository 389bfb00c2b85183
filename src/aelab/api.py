"""The Python API: load, train, evaluate and draw in a few lines, from a notebook or a script.

Every name here, and in :mod:`aelab.api_results` (``evaluate``, ``save``, ``export``), is also at
the package's top level (``aelab.load``, ``aelab.train``, ...), imported on first use, so
``import aelab`` costs nothing. These calls raise :class:`~aelab.errors.UserError` (one sentence
naming the problem and the fix) and never exit, install signal handlers or touch the garbage
collector: that is the command line's business.
Progress bars are ``tqdm.auto`` ones, which render in Jupyter; ``progress=False`` hides them.

Example::

    import aelab

    model = aelab.load("MLP.8.pth")                 # a checkpoint or an exported folder
    train_set, test_set = aelab.load_data(model)    # the data it was trained on
    scores = aelab.evaluate(model, test_set)        # what `aelab eval` prints, as a dict
    fig = aelab.plot_reconstructions(model, test_set.images[:8])
    model, history = aelab.train(model, train_set, epochs=1)   # one more epoch
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError

DEFAULT_ROOT = "./data"  # where named data sets live, as on the command line


def load(path, device: str = "auto"):
    """The model a checkpoint (``.pth``) or an exported folder holds, in eval mode on ``device``.

    Args:
        path: a checkpoint written by ``train.py`` (or the lab's own ``torch.save(model.state_dict())``),
            or a folder written by ``aelab export``.
        device: ``"auto"`` (a GPU when there is one), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        The model, an :class:`~aelab.models.base.Autoencoder` of the family it was trained as.

    Example::

        >>> model = aelab.load("MLP.8.pth")
        >>> model.config.layer_sizes
        '784-392-8'
    """
    from .training import checkpoint
    from .training.runtime import make_runtime

    path = Path(path).expanduser()
    model = make_runtime(device).place(checkpoint.load_model(path)).eval()
    model.source_path = path  # so load_data(model) finds the data it was trained on
    return model


def load_data(
    source="mnist",
    root=DEFAULT_ROOT,
    image_size=None,
    channels=None,
    test_fraction=None,
    cache_dir=None,
    progress: bool = True,
):
    """The train and test splits of a data set, as :class:`~aelab.data.images.ImageSet`\\ s (uint8
    ``N x C x H x W`` images and their labels).

    Args:
        source: a named set (``"mnist"``, ``"fashion-mnist"``, ``"kmnist"``), a folder of images, a
            ``.npz`` or ``.npy`` file, or a model or checkpoint: then the data it was trained on.
        root: where named sets live (torchvision's layout); they are downloaded there when missing.
        image_size, channels, test_fraction, cache_dir: as ``--image-size``, ``--channels``,
            ``--test-fraction`` and ``--cache-dir``.

    Returns:
        ``(train_set, test_set)``.

    Example::

        >>> train_set, test_set = aelab.load_data("mnist")
        >>> len(train_set), test_set.image_shape
        (60000, (1, 28, 28))
    """
    from dataclasses import replace

    from .data.datasets import load_splits
    from .data.sources import DataConfig, dataset_spec

    if isinstance(source, (str, Path)) and not is_model_file(Path(source).expanduser()):
        data = DataConfig(dataset=dataset_spec(str(source)))
    else:
        data = recorded_data(source)
    given = dict(image_size=image_size, channels=channels, test_fraction=test_fraction)
    data = replace(data, **{k: v for k, v in given.items() if v is not None})
    return load_splits(data, Path(root).expanduser(), cache_dir, progress=progress)


def is_model_file(path: Path) -> bool:
    """A checkpoint or an exported folder (``config.json`` beside the weights), not data."""
    from .training.checkpoint import STATE_SUFFIX
    from .training.exported import CONFIG_FILE

    return path.suffix in (".pth", ".pt", STATE_SUFFIX) or (path / CONFIG_FILE).is_file()


def recorded_data(source):
    """The DataConfig a model loaded from a file (its ``source_path``) or a checkpoint path
    records; MNIST's for a model that was never saved or a file that does not say."""
    from .data.sources import DataConfig
    from .models.base import Autoencoder
    from .training import checkpoint

    path = getattr(source, "source_path", None) if isinstance(source, Autoencoder) else source
    if path is None:  # a model trained here and not saved: the data train() defaults to
        return DataConfig()
    if not isinstance(path, (str, Path)):
        raise UserError(f"load_data takes a data set's name or path, a checkpoint or a loaded model, not {path!r}")
    return checkpoint.saved_data_config(Path(path).expanduser()) or DataConfig()


def config(family: str = "mlp", recipe: str = "lab", **settings):
    """A run config: ``family``'s ``recipe`` with any setting of the model, data or training laid over it.

    Args:
        family: a registered family (``"mlp"``, ``"conv"``, ``"vae"``, ``"conv-vae"``, ``"iwae"``, ...).
        recipe: ``"lab"`` (the lab's, or pytorch/examples' for the VAEs) or ``"best"``.
        settings: fields of the model (``bottleneck``, ``hidden``, ``prior``, ...), the data
            (``dataset``, ``image_size``, ...) or the training (``epochs``, ``lr``, ``seed``, ...).

    Returns:
        A :class:`~aelab.training.config.RunConfig`, for :func:`train`.

    Example::

        >>> run = aelab.config("vae", "best", epochs=20)
        >>> run.model.layer_sizes, run.train.lr
        ('vae 784-512-512-32', 0.002)
    """
    from .training.config import RunConfig

    return RunConfig.create(family, recipe, **settings)


def train(
    model=None,
    data=None,
    *,
    epochs: int | None = None,
    family: str = "mlp",
    recipe: str = "lab",
    device: str = "auto",
    progress: bool = True,
    **settings,
):
    """Train a model as ``train.py`` does (the same recipes, seeds, steps and speed); the trained
    model and its history.

    Args:
        model: a run config (:func:`config`), a model to train further (its weights are kept), or
            None for a new model of ``family`` and ``recipe``.
        data: the training split (an ImageSet, as :func:`load_data` gives); MNIST's by default.
        epochs: how many epochs (default: the config's, 50 for the lab's recipe).
        settings: any other setting of the run config (``bottleneck=16``, ``lr=3e-3``, ``seed=0``).

    Returns:
        ``(model, history)``: the model in eval mode, and its per-epoch ``losses``, ``lrs`` and
        cumulative ``seconds``.

    Example::

        >>> model, history = aelab.train(bottleneck=8, epochs=2, seed=0)
        >>> len(history.losses)
        2
    """
    from dataclasses import fields, replace

    from .models.base import Autoencoder
    from .training.config import RunConfig
    from .training.run import build_trainer
    from .training.runtime import make_runtime

    train_set = data if data is not None else load_data(progress=progress)[0]
    if epochs is not None:
        settings["epochs"] = epochs
    existing = model if isinstance(model, Autoencoder) else None
    if isinstance(model, RunConfig):
        run = model.for_images(train_set.image_shape)
        try:
            run = replace(run, train=replace(run.train, **{k: v for k, v in settings.items() if v is not None}))
        except TypeError as err:
            raise UserError(f"with a run config, only training settings may be given here ({err})") from None
    elif existing is not None:
        shape = sorted(set(settings) & {f.name for f in fields(existing.config)})
        if shape:
            raise UserError(f"a model's shape is fixed; {', '.join(shape)} cannot change (train a new model instead)")
        run = RunConfig.create(existing.config.family, recipe, image_shape=train_set.image_shape, **settings)
        run = replace(run, model=existing.config)
    elif model is None:
        run = RunConfig.create(family, recipe, image_shape=train_set.image_shape, **settings)
    else:
        raise UserError(f"train takes a model, a run config or None, not a {type(model).__name__}")
    trainer = build_trainer(run, train_set, make_runtime(device, run.train.precision), model=existing)
    history = trainer.fit(progress=progress)
    return trainer.model.eval(), history
