"""One training run's settings as a dataclass, and the named recipes laid over them.

The dataclass defaults *are* the lab's recipe (its report: Adam 1e-3, weight decay 1e-5,
``ReduceLROnPlateau``, MSE, batch 2048), so ``--recipe lab`` adds nothing to them. No torch
here: the command line reads these choices before any heavy import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..data.sources import DEFAULT_TEST_FRACTION, DataConfig
from ..errors import UserError
from ..models.config import ModelConfig

LOADERS = ("auto", "memory", "stream")
LOSSES = ("mse", "bce")
SCHEDULES = ("plateau", "onecycle")
PRECISIONS = ("fp32", "bf16", "tf32")
DEVICES = ("auto", "cpu", "cuda")
# fused: the hand-derived step (fused_step.py); autograd: the plain loop's step (plain_loop.py);
# auto: fused, unless --compile or several processes need autograd's hooks.
STEPS = ("auto", "fused", "autograd")


@dataclass
class TrainConfig:
    """One training run; the defaults are the lab's recipe."""

    epochs: int = 50
    batch_size: int = 2048
    lr: float = 1e-3
    weight_decay: float = 1e-5
    loss: str = "mse"
    schedule: str = "plateau"
    train_noise: float = 0.0  # std of Gaussian noise on the inputs; targets stay clean
    clip_noise: bool = False  # clip the noisy inputs to [0, 1]
    seed: int | None = None
    dataset: str = "mnist"  # a named set, or the absolute path of a folder, .npz or .npy
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    test_fraction: float = DEFAULT_TEST_FRACTION
    loader: str = "auto"
    precision: str = "fp32"
    step: str = "auto"
    recipe: str = "lab"  # the preset the options came from, for the record

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{name.replace('_', ' ')} must be a positive whole number, got {value!r}")
        for name in ("lr", "weight_decay", "train_noise"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (name == "lr" and value == 0):
                raise UserError(f"{name.replace('_', ' ')} must be a finite number "
                                f"{'greater than' if name == 'lr' else 'of at least'} 0, got {value}")
        if not isinstance(self.clip_noise, bool):
            raise UserError(f"clip noise must be true or false, got {self.clip_noise!r}")
        self.image_size = self.data.image_size  # DataConfig checks the data settings and makes a tuple
        for name, allowed in (("loss", LOSSES), ("schedule", SCHEDULES), ("loader", LOADERS),
                              ("precision", PRECISIONS), ("step", STEPS)):
            if getattr(self, name) not in allowed:
                raise UserError(f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(allowed)}")

    @property
    def data(self) -> DataConfig:
        return DataConfig(dataset=self.dataset, image_size=self.image_size, channels=self.channels,
                          test_fraction=self.test_fraction)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# Each recipe is what it changes from the defaults of TrainConfig and ModelConfig.
RECIPES = {
    "lab": {},
    # A linear code uses every bottleneck unit (a ReLU code lets units die), BCE on the logits
    # gives stronger gradients on near-0/1 pixels than MSE through a sigmoid, and a one-cycle
    # schedule at a smaller batch takes more, better-annealed steps in the same epochs. So
    # trained, the model fits the training split better than the test split; a little input
    # noise (clean targets) narrows that gap, where weight decay only underfits.
    "best": dict(code_activation="none", loss="bce", schedule="onecycle", lr=1e-2,
                 weight_decay=0.0, batch_size=256, train_noise=0.1),
}
TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))
MODEL_FIELDS = frozenset(f.name for f in fields(ModelConfig))


@dataclass(frozen=True)
class Recipe:
    """A recipe with the command's overrides laid over it: fields for each of the two configs."""

    name: str
    train: dict
    model: dict


def resolve(recipe: str, **overrides) -> Recipe:
    """``recipe``'s settings with every override that is not None laid over them."""
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPES)}")
    settings = {**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(settings) - TRAIN_FIELDS - MODEL_FIELDS)
    if unknown:
        raise ValueError(f"not a training or model setting: {', '.join(unknown)}")
    return Recipe(name=recipe, train={k: v for k, v in settings.items() if k in TRAIN_FIELDS},
                  model={k: v for k, v in settings.items() if k in MODEL_FIELDS})
