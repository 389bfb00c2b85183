"""The shape of a model, as a frozen dataclass saved beside its weights.

No torch here: the command line reads the choices below before any heavy import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# mlp: the lab's 4-layer network; conv: strided convolutions around the same hidden layer;
# vae and conv-vae: those bodies with a Gaussian posterior over the code.
FAMILIES = ("mlp", "conv", "vae", "conv-vae")
VARIATIONAL = frozenset({"vae", "conv-vae"})
CONVOLUTIONAL = frozenset({"conv", "conv-vae"})
CODE_ACTIVATIONS = ("relu", "none")
# bernoulli: each pixel a coin with the decoded probability (BCE); gaussian: a fixed-spread
# normal around the decoded value (a scaled MSE).
LIKELIHOODS = ("bernoulli", "gaussian")
LAB_INPUT_DIM = 784  # a flattened 28x28 image
LAB_HIDDEN = 392
LAB_BOTTLENECK = 8
CONV_CHANNELS = (32, 64)  # two stride-2 stages: 28x28 down to 7x7
CONV_KERNEL = 4  # with stride 2 and padding 1 a stage halves the side exactly
CONV_STRIDE = 2


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape; the defaults are the lab's 784-392-8-392-784 with a ReLU code."""

    input_dim: int = LAB_INPUT_DIM
    hidden: int = LAB_HIDDEN
    bottleneck: int = LAB_BOTTLENECK
    output_dim: int = LAB_INPUT_DIM
    # The lab puts a ReLU on the code; a linear code ("none") uses the bottleneck fully.
    code_activation: str = "relu"
    image_shape: tuple[int, int, int] = (1, 28, 28)
    family: str = "mlp"
    depth: int = 1  # hidden layers on each side (the lab's mlp: 1)
    conv_channels: tuple[int, ...] = CONV_CHANNELS  # conv families: one stride-2 stage per width
    likelihood: str = "bernoulli"  # variational families: the decoder's distribution
    beta: float = 1.0  # variational families: the weight of the KL term

    def __post_init__(self):
        for name in ("input_dim", "hidden", "bottleneck", "output_dim", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, allowed in (("code_activation", CODE_ACTIVATIONS), ("family", FAMILIES), ("likelihood", LIKELIHOODS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        beta = (
            float(self.beta)
            if isinstance(self.beta, float) or type(self.beta) is int and abs(self.beta) < 2**53
            else math.nan
        )  # not a number, or an int no float holds exactly
        if not math.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number of at least 0, got {self.beta!r}")
        object.__setattr__(self, "beta", beta)
        if self.variational:  # a VAE's code is its posterior mean: no activation belongs on it
            object.__setattr__(self, "code_activation", "none")
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))
        channels = tuple(self.conv_channels)
        if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels):
            raise ValueError(f"conv_channels must be one or more positive integers, got {self.conv_channels!r}")
        object.__setattr__(self, "conv_channels", channels)
        # Settings another family uses stay at their defaults, so two configs of one model compare equal.
        unused = [
            name
            for name, default, applies in (
                ("conv_channels", CONV_CHANNELS, self.convolutional),
                ("likelihood", "bernoulli", self.variational),
                ("beta", 1.0, self.variational),
            )
            if not applies and getattr(self, name) != default
        ]
        if unused:
            raise ValueError(f"{', '.join(unused)} do not apply to the {self.family} family; leave them out")
        if self.family == "mlp" and self.depth != 1:
            raise ValueError("the mlp family is the lab's network with one hidden layer on each side; depth must be 1")
        if self.convolutional:
            if self.input_dim != self.output_dim or math.prod(self.image_shape) != self.input_dim:
                raise ValueError(
                    f"a {self.family} model reconstructs its {'x'.join(map(str, self.image_shape))} "
                    f"images, so input_dim and output_dim must both be {math.prod(self.image_shape)}"
                )
            _, height, width = self.image_shape
            if height % self.conv_scale or width % self.conv_scale:
                raise ValueError(
                    f"{len(channels)} stride-{CONV_STRIDE} stages need image sides divisible by {self.conv_scale}, "
                    f"and these images are {height}x{width}; resize them (--image-size to multiples of "
                    f"{self.conv_scale}, e.g. {round_up(height, self.conv_scale)} {round_up(width, self.conv_scale)}) "
                    f"or use fewer stages (--conv-channels)"
                )

    @property
    def variational(self) -> bool:
        return self.family in VARIATIONAL

    @property
    def convolutional(self) -> bool:
        return self.family in CONVOLUTIONAL

    @property
    def conv_scale(self) -> int:
        """How much the stride-2 stages shrink each side."""
        return CONV_STRIDE ** len(self.conv_channels)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """The last conv stage's output: its channels and the shrunk image sides."""
        _, height, width = self.image_shape
        return (self.conv_channels[-1], height // self.conv_scale, width // self.conv_scale)

    @property
    def parameter_count(self) -> int:
        """Weights and biases of every layer, counted from the shape alone (nothing is built)."""
        code_outputs = 2 * self.bottleneck if self.variational else self.bottleneck  # a VAE: mean and log-variance
        inner = 2 * (self.depth - 1) * (self.hidden + 1) * self.hidden  # hidden-to-hidden layers, both sides
        if self.convolutional:
            widths = (self.image_shape[0], *self.conv_channels)
            convs = sum((a * CONV_KERNEL**2 + 1) * b + (b * CONV_KERNEL**2 + 1) * a for a, b in zip(widths, widths[1:]))
            flat = math.prod(self.feature_shape)
            return convs + dense(flat, self.hidden, code_outputs) + dense(self.bottleneck, self.hidden, flat) + inner
        return (
            dense(self.input_dim, self.hidden, code_outputs)
            + dense(self.bottleneck, self.hidden, self.output_dim)
            + inner
        )

    @property
    def layer_sizes(self) -> str:
        """``784-392-8``: how the command line and messages name this shape."""
        hidden = "-".join([str(self.hidden)] * self.depth)
        if self.convolutional:
            return (
                f"{self.family} {'x'.join(map(str, self.image_shape))}-{'-'.join(map(str, self.conv_channels))}"
                f"-{hidden}-{self.bottleneck}"
            )
        sizes = f"{self.input_dim}-{hidden}-{self.bottleneck}"
        return sizes if self.family == "mlp" else f"{self.family} {sizes}"


def dense(inputs: int, hidden: int, outputs: int) -> int:
    """Parameters of two linear layers, inputs -> hidden -> outputs."""
    return (inputs + 1) * hidden + (hidden + 1) * outputs


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
