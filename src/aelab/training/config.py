"""One run's settings: the model's, the data's and the training's, as one nested config.

:class:`RunConfig` is built once (from the command line, or from Python with
:meth:`RunConfig.create`), saved whole in the run state beside the weights and read back whole,
so a checkpoint rebuilds its run by itself. :class:`TrainConfig`'s defaults *are* the lab's
recipe (its report: Adam 1e-3, weight decay 1e-5, ``ReduceLROnPlateau``, MSE, batch 2048); a
family's named recipes (:mod:`aelab.models.registry`) are what they change. No torch here: the
command line reads these choices before any heavy import.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from ..data.sources import DataConfig
from ..errors import UserError
from ..models import registry
from ..models.config import DEFAULT_FAMILY, ModelConfig

LOADERS = ("auto", "memory", "stream")
# elbo: a VAE's negative ELBO, its reconstruction term set by the model's likelihood.
LOSSES = ("mse", "bce", "elbo")
SCHEDULES = ("plateau", "onecycle")
PRECISIONS = ("fp32", "bf16", "tf32")
DEVICES = ("auto", "cpu", "cuda")
# fused: the family's hand-derived step; autograd: the plain loop's step (plain_loop.py);
# auto: fused where the family has one, unless --compile or several processes need autograd's hooks.
STEPS = ("auto", "fused", "autograd")
RECIPE_NAMES = registry.RECIPE_NAMES
# What a run state from before the nested config held in its training config.
EARLIER_DATA_FIELDS = ("dataset", "image_size", "channels", "test_fraction")


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains; the defaults are the lab's recipe."""

    epochs: int = 50
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "mse"
    schedule: str = "plateau"
    train_noise: float = 0.0  # std of Gaussian noise on the inputs; targets stay clean
    clip_noise: bool = False  # clip the noisy inputs to [0, 1]
    # Dynamic binarisation: each batch's pixels become coin flips with their grey level as the
    # chance, inputs and targets alike: the data a Bernoulli VAE's likelihood is defined on.
    binarize: bool = False
    seed: int | None = None
    loader: str = "auto"
    precision: str = "fp32"
    step: str = "auto"

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name.replace('_', ' ')} must be a positive whole number, got {value!r}")
        for name in ("lr", "weight_decay", "train_noise"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                raise UserError(
                    f"{name.replace('_', ' ')} must be a finite number "
                    f"{'greater than' if name == 'lr' else 'of at least'} 0, got {value}"
                )
        for name in ("clip_noise", "binarize"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name.replace('_', ' ')} must be true or false, got {getattr(self, name)!r}")
        for name, allowed in (
            ("loss", LOSSES),
            ("schedule", SCHEDULES),
            ("loader", LOADERS),
            ("precision", PRECISIONS),
            ("step", STEPS),
        ):
            if getattr(self, name) not in allowed:
                raise UserError(f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(allowed)}")

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))
DATA_FIELDS = frozenset(f.name for f in fields(DataConfig))


@dataclass(frozen=True)
class RunConfig:
    """A whole run: the model, the data it trains on, how it trains, and the recipe named.

    Example::

        >>> run = RunConfig.create(family="vae", recipe="lab", epochs=10)
        >>> run.model.layer_sizes, run.train.batch_size, run.data.dataset
        ('vae 784-400-20', 128, 'mnist')
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: str = "lab"  # the preset the settings came from, for the record

    @classmethod
    def create(
        cls,
        family: str = DEFAULT_FAMILY,
        recipe: str = "lab",
        image_shape=None,
        data: DataConfig | None = None,
        **settings,
    ) -> RunConfig:
        """``family``'s ``recipe`` with ``settings`` laid over it. Each setting goes to the config
        with a field of its name; one that is None is left out (a flag not given).

        ``image_shape`` (channels, height, width) sizes the model's input; by default the data's
        own, where it is known before reading it (the named sets). ``data`` is the data config
        to start from (the data's own settings lie over it).
        """
        data, train, model_settings = settle(family, recipe, data, settings)
        shape = tuple(image_shape) if image_shape is not None else data.known_shape()
        if shape is None:
            raise UserError(
                f"the shape of the images in {data.label} is known once they are read; "
                "pass image_shape (channels, height, width), or load the data first"
            )
        return cls(model=model_for(family, shape, model_settings), data=data, train=train, recipe=recipe)

    def for_images(self, image_shape) -> RunConfig:
        """This run with its model sized for images of ``image_shape``."""
        overrides = {f.name: getattr(self.model, f.name) for f in fields(self.model)}
        return replace(self, model=model_for(self.model.family, tuple(image_shape), overrides))

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "data": self.data.to_dict(),
            "train": asdict(self.train),
            "recipe": self.recipe,
        }

    @classmethod
    def from_dict(cls, values: dict) -> RunConfig:
        """A saved run config (``to_dict``'s); or a whole run state from before the nested config,
        whose training config held the data's fields and the recipe."""
        if "train_config" not in values:
            return cls(
                model=ModelConfig.from_dict(values["model"]),
                data=DataConfig.from_dict(values["data"]),
                train=TrainConfig.from_dict(values["train"]),
                recipe=values.get("recipe", "lab"),
            )
        train = values["train_config"]
        return cls(
            model=ModelConfig.from_dict(values["model_config"]),
            data=DataConfig.from_dict({k: train[k] for k in EARLIER_DATA_FIELDS if k in train}),
            train=TrainConfig.from_dict(train),
            recipe=train.get("recipe", "lab"),
        )


def settle(family: str, recipe: str, data: DataConfig | None, settings: dict) -> tuple[DataConfig, TrainConfig, dict]:
    """Every check of a run's settings that needs no image shape; the data and training configs
    and the model's settings. :meth:`RunConfig.create` calls it, and the command line calls it
    before reading any data, so a wrong flag stops the run at once."""
    chosen = registry.get(family)
    if recipe not in chosen.recipes:
        raise UserError(f"unknown recipe {recipe!r}; choose one of: {', '.join(chosen.recipes)}")
    given = {k: v for k, v in settings.items() if v is not None}
    merged = {**chosen.recipes[recipe], **given}
    model_fields = {f.name for f in fields(chosen.config)} - {"family", "input_dim", "output_dim", "image_shape"}
    misplaced = sorted(set(merged) - model_fields - TRAIN_FIELDS - DATA_FIELDS)
    for name in misplaced:
        owners = [f.name for f in registry.families() if name in {g.name for g in fields(f.config)}]
        if owners:
            raise UserError(
                f"--{name.replace('_', '-')} does not apply to a {family} model; drop it or use "
                f"--model {' or '.join(owners)}"
            )
        raise UserError(f"{name!r} is not a setting of the model, the data or the training")
    data = DataConfig(**{**asdict(data or DataConfig()), **{k: v for k, v in merged.items() if k in DATA_FIELDS}})
    train = TrainConfig(**{k: v for k, v in merged.items() if k in TRAIN_FIELDS})
    if train.loss not in chosen.losses:
        takes = [f.name for f in registry.families() if train.loss in f.losses]
        raise UserError(
            f"a {family} model trains on {chosen.loss_hint or ' or '.join(chosen.losses)}, not --loss {train.loss}"
            + (f" (that is the loss of {', '.join(takes)})" if takes else "")
        )
    return data, train, {k: v for k, v in merged.items() if k in model_fields}


def model_for(family: str, image_shape: tuple, settings: dict) -> ModelConfig:
    """``family``'s config for images of ``image_shape``: as many inputs and outputs as they have pixels."""
    pixels = math.prod(image_shape)
    values = {**settings, "family": family, "input_dim": pixels, "output_dim": pixels, "image_shape": image_shape}
    try:
        return ModelConfig(**values)
    except (TypeError, ValueError) as err:  # a shape these images cannot take (a conv's strides, say)
        channels, height, width = image_shape
        size = f"{height}x{width}" + (" colour" if channels == 3 else "")
        raise UserError(f"cannot build a {family} model for {size} images: {err}") from None
