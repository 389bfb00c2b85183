"""``sample``: new images from a VAE's prior, drawn as a grid."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UserError
from ..files import check_writable
from .args import number, positive_int, seed

NAME = "sample"
HELP = "draw new images from a VAE (a grid of decoded prior samples)"
DESCRIPTION = (
    "Decode codes drawn from a variational autoencoder's prior N(0, I), their spread scaled by "
    "--temperature, into a grid of new images. Seeded: the same seed draws the same grid."
)
MAX_SAMPLES = 1024  # a 32 x 32 grid, still legible on a page
DEFAULT_SAMPLES = 64
MAX_TEMPERATURE = 10.0  # far beyond where samples stop looking like the data


def sample_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SAMPLES}, got {value}")
    return value


def temperature(text: str) -> float:
    value = number(text)
    if not math.isfinite(value) or not 0 < value <= MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most {MAX_TEMPERATURE:g}, got {text}")
    return value


def configure(p):
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="a VAE checkpoint (train.py --model vae)")
    p.add_argument(
        "-n",
        type=sample_count,
        default=DEFAULT_SAMPLES,
        help=f"how many images (default {DEFAULT_SAMPLES}, at most {MAX_SAMPLES})",
    )
    p.add_argument(
        "--out", type=Path, default=Path("samples.png"), metavar="PATH", help="image to write (default samples.png)"
    )
    p.add_argument(
        "--temperature",
        type=temperature,
        default=1.0,
        help="scale of the prior's spread: below 1 safer, typical images; above 1 more varied (default 1)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the draws (default 0)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.plots import image_grid, pyplot, save_figure
    from ..training import checkpoint

    check_writable(args.out, "sample grid")
    model = checkpoint.load_model(args.load)
    if not model.variational:
        raise UserError(
            f"{args.load} is a {model.config.family} autoencoder, and sampling needs a VAE: a plain "
            "autoencoder has no prior over its codes to draw from, so random codes decode to "
            "blurs; train one with train.py --model vae (or conv-vae)"
        )
    import torch

    images = model.sample(args.n, args.temperature, torch.Generator().manual_seed(args.seed))
    columns = math.ceil(math.sqrt(args.n))
    fig = image_grid(images, model.config.image_shape, f"{args.n} samples, temperature {args.temperature:g}", columns)
    save_figure(fig, args.out)
    pyplot().close(fig)
    print(f"saved {args.out}")
    return 0
