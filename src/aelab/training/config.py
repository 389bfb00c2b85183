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
from ..models.config import FAMILIES, VARIATIONAL, ModelConfig

LOADERS = ("auto", "memory", "stream")
# elbo: a VAE's negative ELBO, its reconstruction term set by the model's likelihood.
LOSSES = ("mse", "bce", "elbo")
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
    # Dynamic binarisation: each batch's pixels become coin flips with their grey level as the
    # chance, inputs and targets alike: the data a Bernoulli VAE's likelihood is defined on.
    binarize: bool = False
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
                raise UserError(
                    f"{name.replace('_', ' ')} must be a finite number "
                    f"{'greater than' if name == 'lr' else 'of at least'} 0, got {value}"
                )
        for name in ("clip_noise", "binarize"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name.replace('_', ' ')} must be true or false, got {getattr(self, name)!r}")
        self.image_size = self.data.image_size  # DataConfig checks the data settings and makes a tuple
        for name, allowed in (
            ("loss", LOSSES),
            ("schedule", SCHEDULES),
            ("loader", LOADERS),
            ("precision", PRECISIONS),
            ("step", STEPS),
        ):
            if getattr(self, name) not in allowed:
                raise UserError(f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(allowed)}")

    @property
    def data(self) -> DataConfig:
        return DataConfig(
            dataset=self.dataset, image_size=self.image_size, channels=self.channels, test_fraction=self.test_fraction
        )

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# Each recipe is what it changes from the defaults of TrainConfig and ModelConfig, per family.
# "lab" is the lab's recipe for the autoencoders and pytorch/examples' for the VAEs; "best" is
# tuned here (docs/recipes.md).
RECIPE_NAMES = ("lab", "best")
VAE_TUTORIAL = dict(loss="elbo", hidden=400, bottleneck=20, batch_size=128, weight_decay=0.0, binarize=True)
VAE_BEST = dict(
    loss="elbo",
    hidden=512,
    depth=2,
    bottleneck=32,
    schedule="onecycle",
    lr=2e-3,
    batch_size=128,
    weight_decay=0.0,
    binarize=True,
)
RECIPES = {
    "mlp": {
        "lab": {},
        # A linear code uses every bottleneck unit (a ReLU code lets units die), BCE on the logits
        # gives stronger gradients on near-0/1 pixels than MSE through a sigmoid, and a one-cycle
        # schedule at a smaller batch takes more, better-annealed steps in the same epochs. So
        # trained, the model fits the training split better than the test split; a little input
        # noise (clean targets) narrows that gap, where weight decay only underfits.
        "best": dict(
            code_activation="none",
            loss="bce",
            schedule="onecycle",
            lr=1e-2,
            weight_decay=0.0,
            batch_size=256,
            train_noise=0.1,
        ),
    },
    "conv": {
        "lab": dict(family="conv"),
        # The MLP's best recipe, at the smaller peak learning rate convolutions train at.
        "best": dict(
            family="conv",
            code_activation="none",
            loss="bce",
            schedule="onecycle",
            lr=3e-3,
            weight_decay=0.0,
            batch_size=256,
            train_noise=0.1,
        ),
    },
    # pytorch/examples' vae: 784-400-20, Adam 1e-3 at batch 128, on dynamically binarised images.
    "vae": {"lab": dict(family="vae", **VAE_TUTORIAL), "best": dict(family="vae", **VAE_BEST)},
    "conv-vae": {"lab": dict(family="conv-vae", **VAE_TUTORIAL), "best": dict(family="conv-vae", **VAE_BEST)},
}
TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))
MODEL_FIELDS = frozenset(f.name for f in fields(ModelConfig))


@dataclass(frozen=True)
class Recipe:
    """A recipe with the command's overrides laid over it: fields for each of the two configs."""

    name: str
    train: dict
    model: dict


def resolve(recipe: str, family: str = "mlp", **overrides) -> Recipe:
    """``family``'s ``recipe`` with every override that is not None laid over it."""
    if family not in FAMILIES:
        raise UserError(f"unknown model {family!r}; choose one of: {', '.join(FAMILIES)}")
    if recipe not in RECIPE_NAMES:
        raise UserError(f"unknown recipe {recipe!r}; choose one of: {', '.join(RECIPE_NAMES)}")
    settings = {**RECIPES[family][recipe], **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(settings) - TRAIN_FIELDS - MODEL_FIELDS)
    if unknown:
        raise ValueError(f"not a training or model setting: {', '.join(unknown)}")
    loss = settings.get("loss", "mse")
    if family in VARIATIONAL and loss != "elbo":
        raise UserError(
            f"a {family} model trains on its negative ELBO, not --loss {loss}; "
            "choose its decoder's distribution with --likelihood instead"
        )
    if family not in VARIATIONAL and loss == "elbo":
        raise UserError("--loss elbo is a VAE's loss; use --model vae or conv-vae, or --loss mse or bce")
    if family in VARIATIONAL and overrides.get("code_activation") == "relu":
        raise UserError("a VAE's code is its posterior mean, which takes no activation; drop --code-activation")
    variational_only = [f"--{name}" for name in ("likelihood", "beta") if overrides.get(name) is not None]
    if family not in VARIATIONAL and variational_only:
        raise UserError(
            f"{' and '.join(variational_only)} set a VAE's decoder and KL weight; a {family} model "
            "has neither: drop them or use --model vae or conv-vae"
        )
    return Recipe(
        name=recipe,
        train={k: v for k, v in settings.items() if k in TRAIN_FIELDS},
        model={k: v for k, v in settings.items() if k in MODEL_FIELDS},
    )
