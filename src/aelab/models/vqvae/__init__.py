"""The ``vq-vae`` family: a vector-quantised autoencoder (van den Oord, Vinyals and Kavukcuoglu,
2017) on the conv body, whose code is a grid of vectors each snapped to the nearest of a learnt
codebook's rows.

The lab's commands work on flat codes of ``bottleneck`` numbers, so the grid is flattened
(channel-major, as ``nn.Flatten`` does) and ``bottleneck`` is ``code_dim`` times the grid's
cells, set here from the conv stages rather than chosen. It has no prior of its own yet, so
``aelab sample`` draws from a Gaussian mixture fitted to its training codes, as for any
deterministic autoencoder. This module declares the family without torch; :mod:`.model` holds
the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import check_whole_number, non_negative_number, option, whole_number
from ..conv import ConvConfig
from ..registry import Family, register

CODEBOOK_SIZE = 512  # the paper's K for its image models
MAX_CODEBOOK_SIZE = 65536  # the indices of a bigger codebook no longer fit 16 bits
CODE_DIM = 16
MAX_CODE_DIM = 4096  # a 1x1 convolution to more channels than this is no bottleneck
COMMITMENT = 0.25  # the paper's beta; it reports results robust from 0.1 to 2
CODEBOOK_UPDATES = ("ema", "loss")  # ema: the paper's appendix (faster, no codebook gradient)
EMA_DECAY = 0.99


def decay(text: str) -> float:
    """``--ema-decay``: a number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise ValueError(f"must be at least 0 and below 1, got {text}")
    return value


@dataclass(frozen=True)
class VQVAEConfig(ConvConfig):
    """A conv body whose last stage's grid is projected to ``code_dim`` channels and quantised."""

    family: str = "vq-vae"
    code_activation: str = "none"
    # None: code_dim times the grid's cells, set in __post_init__ (a given value must agree).
    bottleneck: int | None = None
    codebook_size: int = field(
        default=CODEBOOK_SIZE,
        metadata=option(
            f"VQ-VAEs: rows of the codebook (default {CODEBOOK_SIZE})",
            parse=whole_number(2, MAX_CODEBOOK_SIZE, " (one code cannot tell images apart)"),
            metavar="K",
        ),
    )
    code_dim: int = field(
        default=CODE_DIM,
        metadata=option(
            f"VQ-VAEs: length of each code vector (default {CODE_DIM})",
            parse=whole_number(1, MAX_CODE_DIM),
            metavar="D",
        ),
    )
    commitment: float = field(
        default=COMMITMENT,
        metadata=option(f"VQ-VAEs: weight of the commitment loss (default {COMMITMENT})", parse=non_negative_number),
    )
    codebook_update: str = field(
        default="ema",
        metadata=option(
            "VQ-VAEs: how the codebook learns, ema (moving averages, default) or loss (a codebook loss term)",
            choices=CODEBOOK_UPDATES,
        ),
    )
    ema_decay: float = field(
        default=EMA_DECAY,
        metadata=option(f"VQ-VAEs with --codebook-update ema: the averages' decay (default {EMA_DECAY})", parse=decay),
    )

    def __post_init__(self):
        given = self.bottleneck
        object.__setattr__(self, "bottleneck", 1)  # a stand-in through the shared checks; the grid sets it below
        super().__post_init__()
        if self.code_activation != "none":
            raise ValueError("a vq-vae's code is its codebook's vectors, with no activation; drop --code-activation")
        check_whole_number(self.codebook_size, "codebook_size", 2, MAX_CODEBOOK_SIZE)
        check_whole_number(self.code_dim, "code_dim", 1, MAX_CODE_DIM)
        if not isinstance(self.commitment, (int, float)) or not 0 <= self.commitment < float("inf"):
            raise ValueError(f"commitment must be a finite number of at least 0, got {self.commitment!r}")
        if self.codebook_update not in CODEBOOK_UPDATES:
            raise ValueError(
                f"codebook_update must be one of {', '.join(CODEBOOK_UPDATES)}, got {self.codebook_update!r}"
            )
        if not isinstance(self.ema_decay, (int, float)) or not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be at least 0 and below 1, got {self.ema_decay!r}")
        _, height, width = self.grid_shape
        cells = self.code_dim * height * width
        if given is not None and given != cells:
            raise ValueError(
                f"a vq-vae's bottleneck is code_dim x its {height}x{width} grid = {cells}, not {given}; "
                "drop -z (set --code-dim instead)"
            )
        object.__setattr__(self, "bottleneck", cells)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """The code as ``code_dim x H x W``: one code vector per cell of the last stage's grid."""
        _, height, width = self.feature_shape
        return (self.code_dim, height, width)

    @property
    def shape_text(self) -> str:
        widths = "-".join(map(str, self.conv_channels))
        grid = "x".join(map(str, self.grid_shape))
        return f"{'x'.join(map(str, self.image_shape))}-{widths}-{grid}-K{self.codebook_size}"


register(
    Family(
        name="vq-vae",
        config=VQVAEConfig,
        model="aelab.models.vqvae.model:VQVAE",
        summary="a conv body whose code is a grid of vectors snapped to a learnt codebook",
        recipes={
            # The lab's Adam (1e-3, weight decay 1e-5, plateau schedule) on MSE, at batch 128: the
            # codebook's moving averages take a step per batch, and the lab's 2048 would give them
            # 29 an epoch, too few for a decay of 0.99 to settle in the first epochs.
            "lab": dict(loss="mse", batch_size=128),
            # The conv family's best recipe: BCE with a one-cycle schedule.
            "best": dict(loss="bce", schedule="onecycle", lr=3e-3, weight_decay=0.0, batch_size=256, train_noise=0.1),
        },
        losses=("mse", "bce"),
    )
)
