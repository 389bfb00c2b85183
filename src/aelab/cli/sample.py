"""``sample``: new images from any autoencoder, drawn as a grid.

A VAE is drawn from its own prior; a model with no prior (``model.variational`` False) from a
Gaussian mixture fitted to the codes of the data it was trained on (``analysis/mixture.py``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UserError
from ..files import check_image_path
from .args import add_data_args, load_data, number, positive_int, seed

NAME = "sample"
HELP = "draw new images from any autoencoder (a grid of decoded samples)"
DESCRIPTION = (
    "Decode codes drawn from a variational autoencoder's prior N(0, I), or for a deterministic "
    "autoencoder from a Gaussian mixture fitted to the codes of its training images, their spread "
    "scaled by --temperature, into a grid of new images. Seeded: the same seed draws the same grid."
)
MAX_SAMPLES = 1024  # a 32 x 32 grid, still legible on a page
DEFAULT_SAMPLES = 64
MAX_TEMPERATURE = 10.0  # far beyond where samples stop looking like the data
DEFAULT_COMPONENTS = 10  # one per MNIST digit, a start for any data


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
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="a checkpoint of any family")
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
        help="scale of the spread: a VAE's prior's, or each mixture draw's deviation from its component's "
        "mean; below 1 safer, typical images; above 1 more varied (default 1)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of the draws, and of the mixture's fit (default 0)")
    p.add_argument(
        "--components",
        type=positive_int,
        metavar="K",
        help=f"deterministic models only: components of the Gaussian mixture fitted to the training codes "
        f"(default {DEFAULT_COMPONENTS}); a VAE has its own prior",
    )
    add_data_args(p, from_checkpoint=True)  # where a deterministic model's training codes come from
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.plots import image_grid, pyplot, save_figure
    from ..training import checkpoint

    check_image_path(args.out, "sample grid")
    model = checkpoint.load_model(args.load)
    if model.variational:
        if args.components is not None:
            raise UserError(
                f"--components applies to deterministic models, and {args.load} is a VAE: it has its own "
                "prior to draw from; drop --components"
            )
        import torch

        images = model.sample(args.n, args.temperature, torch.Generator().manual_seed(args.seed))
    else:
        images = mixture_samples(model, args)
    columns = math.ceil(math.sqrt(args.n))
    fig = image_grid(images, model.config.image_shape, f"{args.n} samples, temperature {args.temperature:g}", columns)
    save_figure(fig, args.out)
    pyplot().close(fig)
    print(f"saved {args.out}")
    return 0


def mixture_samples(model, args):
    """Draws for a model without a prior: a mixture fitted to the codes of its training split."""
    from ..analysis.evaluation import check_compatible
    from ..analysis.mixture import sample_images

    components = DEFAULT_COMPONENTS if args.components is None else args.components
    train_set, _ = load_data(args, args.load)
    check_compatible(model, train_set, args.load)
    if components > len(train_set):
        raise UserError(
            f"--components {components} is more than the {len(train_set)} training codes the mixture "
            f"is fitted to; pass at most {len(train_set)}"
        )
    images, mixture, fitted = sample_images(model, train_set, args.n, components, args.temperature, args.seed)
    print(
        f"sampled from a {mixture.components}-component Gaussian mixture fitted to the {fitted} training codes"
        + ("" if mixture.converged else f" (EM stopped at its {mixture.iterations}-iteration bound)")
    )
    return images
