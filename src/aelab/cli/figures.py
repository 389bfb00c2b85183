"""``figures``: pictures of a model's code space on the test split."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.config import LATENT_FIGURE_NAMES, LATENT_N_STEPS, LATENT_PAIRS
from ..files import prepare_output_folder
from .args import add_data_args, load_data, step_count

DEFAULT_OUT = Path("latent_figures")

NAME = "figures"
HELP = "latent-space figures: codes in 2-D, traversals, interpolations"
DESCRIPTION = (
    "Draw a checkpoint's test-set codes in 2-D coloured by class (the codes themselves when the "
    "bottleneck is 2, else a PCA projection of them), a traversal grid (each unit swept from its "
    "1st to 99th percentile, the others at their mean) and an interpolation grid for class pairs."
)


def class_pair(text: str) -> tuple[int, int]:
    parts = text.replace(":", "-").split("-")
    try:
        a, b = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a class pair such as 3-8") from None
    if a < 0 or b < 0:
        raise argparse.ArgumentTypeError(f"classes are 0 or more, got {text!r}")
    return a, b


def configure(p):
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="checkpoint to draw")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for {', '.join(LATENT_FIGURE_NAMES)} (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--pairs",
        type=class_pair,
        nargs="+",
        default=list(LATENT_PAIRS),
        metavar="A-B",
        help="class pairs to interpolate between, the first test image of each class "
        f"(default {' '.join(f'{a}-{b}' for a, b in LATENT_PAIRS)})",
    )
    p.add_argument(
        "--n-steps",
        type=step_count,
        default=LATENT_N_STEPS,
        help=f"images per traversal and interpolation row, both ends included (default {LATENT_N_STEPS})",
    )
    add_data_args(p, from_checkpoint=True)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.evaluation import check_compatible
    from ..analysis.latent import write_figures
    from ..training import checkpoint

    model = checkpoint.load_model(args.load)
    _, test_set = load_data(args, args.load)
    check_compatible(model, test_set, args.load)
    prepare_output_folder(args.out, LATENT_FIGURE_NAMES, "figure")
    name = Path(args.load).name.removesuffix(".pth")
    for path in write_figures(model, test_set, args.out, name, args.pairs, args.n_steps):
        print(f"saved {path}")
    return 0
