"""The analysis commands' defaults and output names. No torch here: the command line reads them
before any heavy import."""

from __future__ import annotations

import math

from ..errors import UserError

# The lab's Steps 4-6 (lab1.py).
LAB_NOISE_STD = math.sqrt(0.1)  # the lab's img + 0.1**0.5 * randn
LAB_N_STEPS = 8
LAB_FIGURE_NAMES = ("reconstruction.png", "denoising.png", "interpolation.png")

# eval: the lab's noise, bracketed from faint to heavy.
DENOISE_STDS = (0.1, 0.2, LAB_NOISE_STD, 0.5)
DENOISE_SEED = 0

# figures
LATENT_FIGURE_NAMES = ("latent_codes.png", "latent_traversal.png", "latent_interpolation.png")
LATENT_N_STEPS = 9
LATENT_PAIRS = ((0, 6), (1, 7), (3, 8), (4, 9), (2, 5))  # digits that share strokes morph visibly

# sweep
SWEEP_BOTTLENECKS = (2, 4, 8, 16, 32)
SWEEP_FILE_NAMES = ("sweep.md", "sweep.csv", "sweep.png")


def parse_bottlenecks(text: str) -> list[int]:
    """``"2,4,8"`` (commas and/or spaces) to sizes, refusing empty, non-numeric, < 1 or repeated ones."""
    items = text.replace(",", " ").split()
    if not items:
        raise UserError("the bottleneck list is empty; give sizes such as 2,4,8,16,32")
    sizes = []
    for item in items:
        try:
            size = int(item)
        except ValueError:
            raise UserError(f"bottleneck size {item!r} is not a whole number; give sizes such as 2,4,8") from None
        if size < 1:
            raise UserError(f"bottleneck size must be at least 1, got {size}")
        if size in sizes:
            raise UserError(f"bottleneck size {size} is listed twice")
        sizes.append(size)
    return sizes
