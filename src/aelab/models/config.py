"""The shape of a model, as a frozen dataclass saved beside its weights.

:class:`ModelConfig` holds what every family shares; each family's module subclasses it with
its own fields and checks and registers the subclass (:mod:`.registry`). ``ModelConfig(family=
"conv", ...)`` builds the class that family registered, so a saved dict rebuilds its config
whatever its family. No torch here: the command line reads these before any heavy import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

CODE_ACTIVATIONS = ("relu", "none")
LAB_INPUT_DIM = 784  # a flattened 28x28 image
LAB_HIDDEN = 392
LAB_BOTTLENECK = 8
DEFAULT_FAMILY = "mlp"  # the lab's network, and what a checkpoint without a family is
SHARED_INTS = ("input_dim", "hidden", "bottleneck", "output_dim", "depth")


def option(help: str, parse=None, choices: tuple | None = None, metavar: str | None = None):
    """A family's setting that the command line offers as ``--NAME`` (metadata of a dataclass field).

    ``parse`` turns the flag's text into the value and raises ValueError with a phrase for bad
    text; ``choices`` lists the allowed values instead.

    Example::

        beta: float = field(default=1.0, metadata=option("the weight of the KL term", parse=float))
    """
    return {"help": help, "parse": parse, "choices": choices, "metavar": metavar}


def positive_int(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape; the defaults are the lab's 784-392-8-392-784 with a ReLU code.

    Example::

        >>> ModelConfig(bottleneck=16).layer_sizes
        '784-392-16'
        >>> type(ModelConfig(family="vae")).__name__
        'VAEConfig'
    """

    input_dim: int = LAB_INPUT_DIM
    hidden: int = LAB_HIDDEN
    bottleneck: int = LAB_BOTTLENECK
    output_dim: int = LAB_INPUT_DIM
    # The lab puts a ReLU on the code; a linear code ("none") uses the bottleneck fully.
    code_activation: str = field(
        default="relu", metadata=option("activation on the code (lab: relu)", choices=CODE_ACTIVATIONS)
    )
    image_shape: tuple[int, int, int] = (1, 28, 28)
    family: str = DEFAULT_FAMILY
    depth: int = 1  # hidden layers on each side (the lab's mlp: 1)

    def __new__(cls, *args, **kwargs):
        if cls is ModelConfig:  # the class the named family registered
            from .registry import get

            cls = get(kwargs.get("family", DEFAULT_FAMILY)).config
        return super().__new__(cls)

    def __post_init__(self):
        for name in SHARED_INTS:
            positive_int(getattr(self, name), name)
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(
                f"code_activation must be one of {', '.join(CODE_ACTIVATIONS)}, got {self.code_activation!r}"
            )
        own = type(self).__dataclass_fields__["family"].default
        if self.family != own:
            raise ValueError(f"family must be {own!r} for a {type(self).__name__}, got {self.family!r}")
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))

    @property
    def shape_text(self) -> str:
        """``784-392-8``: the layers' widths from the input to the code."""
        return "-".join(map(str, (self.input_dim, *[self.hidden] * self.depth, self.bottleneck)))

    @property
    def layer_sizes(self) -> str:
        """``vae 784-400-20``: how the command line and messages name this model."""
        return f"{self.family} {self.shape_text}"

    def to_dict(self) -> dict:
        """The fields as JSON-ready values (what checkpoints and exports save)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """The config ``values`` describe; keys the family does not have are left out, as files
        written before each family had its own fields hold every family's."""
        from .registry import get

        family = get(values.get("family", DEFAULT_FAMILY))
        known = {f.name for f in fields(family.config)}
        return family.config(**{k: v for k, v in values.items() if k in known})


def non_negative_number(text: str) -> float:
    """A flag's text as a finite float of at least 0."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"must be a finite number of at least 0, got {text}")
    return value


def whole_number(low: int, high: int, why: str = ""):
    """A flag's parser for a whole number from ``low`` to ``high`` (``why``: a reason for the bounds,
    said when they are broken).

    Example::

        draws = field(default=5, metadata=option("draws per image", parse=whole_number(1, 1000)))
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}{why}, got {value}")
        return value

    parse.__name__ = f"whole_number_{low}_{high}"
    return parse


def check_whole_number(value, name: str, low: int, high: int) -> int:
    """A config field's value as a whole number from ``low`` to ``high``, or a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def family_options(config: type[ModelConfig]) -> dict[str, dict]:
    """The fields of ``config`` that the command line offers, by name, with their :func:`option`."""
    return {f.name: dict(f.metadata) for f in fields(config) if "help" in f.metadata}
