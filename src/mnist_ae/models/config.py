"""The shape of a model, as a frozen dataclass saved beside its weights.

No torch here: the command line reads the choices below before any heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass

CODE_ACTIVATIONS = ("relu", "none")
LAB_INPUT_DIM = 784  # a flattened 28x28 image
LAB_HIDDEN = 392
LAB_BOTTLENECK = 8


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

    def __post_init__(self):
        for name in ("input_dim", "hidden", "bottleneck", "output_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(
                f"code_activation must be one of {', '.join(CODE_ACTIVATIONS)}, "
                f"got {self.code_activation!r}"
            )
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))

    @property
    def parameter_count(self) -> int:
        """Weights and biases of the four layers."""
        return (self.input_dim + 1) * self.hidden + (self.hidden + 1) * self.bottleneck + \
            (self.bottleneck + 1) * self.hidden + (self.hidden + 1) * self.output_dim

    @property
    def layer_sizes(self) -> str:
        """``784-392-8``: how the command line and messages name this shape."""
        return f"{self.input_dim}-{self.hidden}-{self.bottleneck}"
