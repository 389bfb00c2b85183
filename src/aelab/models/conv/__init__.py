"""The ``conv`` family: stride-2 convolutions down, a linear bottleneck, transposed convolutions up.

:class:`ConvConfig` is also the conv body's settings for other families built on it (``conv-vae``).
This module declares the family without torch; :mod:`.model` holds the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import ModelConfig, option
from ..registry import Family, register

CONV_CHANNELS = (32, 64)  # two stride-2 stages: 28x28 down to 7x7
CONV_KERNEL = 4  # with stride 2 and padding 1 a stage halves the side exactly
CONV_STRIDE = 2
MAX_CONV_STAGES = 6  # 64x64 images shrink to 1x1 after six stride-2 stages


def channel_list(text: str) -> tuple[int, ...]:
    """``32,64``: the stages' widths, as the command line gives them."""
    try:
        widths = tuple(int(item) for item in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} is not whole numbers separated by commas") from None
    if not all(width >= 1 for width in widths):
        raise ValueError(f"every width must be at least 1, got {text}")
    if len(widths) > MAX_CONV_STAGES:
        raise ValueError(f"at most {MAX_CONV_STAGES} stages, got {len(widths)}")
    return widths


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class ConvConfig(ModelConfig):
    """A conv body: one stride-2 stage per width of ``conv_channels``, then the hidden layers."""

    family: str = "conv"
    conv_channels: tuple[int, ...] = field(
        default=CONV_CHANNELS,
        metadata=option(
            f"conv bodies: one stride-2 stage per width (default {','.join(map(str, CONV_CHANNELS))})",
            parse=channel_list,
            metavar="C1,C2,...",
        ),
    )

    def __post_init__(self):
        super().__post_init__()
        channels = tuple(self.conv_channels)
        if not channels or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels):
            raise ValueError(f"conv_channels must be one or more positive integers, got {self.conv_channels!r}")
        object.__setattr__(self, "conv_channels", channels)
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
                "or use fewer stages (--conv-channels)"
            )

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
    def shape_text(self) -> str:
        hidden = "-".join([str(self.hidden)] * self.depth)
        widths = "-".join(map(str, self.conv_channels))
        return f"{'x'.join(map(str, self.image_shape))}-{widths}-{hidden}-{self.bottleneck}"


register(
    Family(
        name="conv",
        config=ConvConfig,
        model="aelab.models.conv.model:ConvAutoencoder",
        summary="strided convolutions around the hidden layers",
        recipes={
            "lab": {},
            # The MLP's best recipe, at the smaller peak learning rate convolutions train at.
            "best": dict(
                code_activation="none",
                loss="bce",
                schedule="onecycle",
                lr=3e-3,
                weight_decay=0.0,
                batch_size=256,
                train_noise=0.1,
            ),
        },
        losses=("mse", "bce"),
    )
)
