"""The flags that build a :class:`~aelab.training.config.RunConfig`, shared by train, sweep and bench.

Every flag's destination is the name of the config field it sets, so :func:`run_settings`
hands them on without naming any; a family's own fields (``--conv-channels``, ``--beta``) come
from its config class's :func:`~aelab.models.config.option` metadata, so a new family's flags
appear here without an edit.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..models import registry
from ..models.config import family_options
from ..training.config import LOADERS, LOSSES, PRECISIONS, SCHEDULES, STEPS, TRAIN_FIELDS
from .args import non_negative_float, positive_float, positive_int

# Set by the command itself (-e, --seed) or by the images (the model's input size).
NOT_FLAGS = frozenset({"family", "input_dim", "output_dim", "image_shape", "epochs", "seed"})


def add_model_flags(p: argparse.ArgumentParser) -> None:
    """-z, --hidden, --depth and every registered family's own settings."""
    p.add_argument("-z", "--bottleneck", type=positive_int, help="code size (default 8; VAE recipes: 20 and 32)")
    p.add_argument("--hidden", type=positive_int, help="hidden width (lab: 392)")
    p.add_argument("--depth", type=positive_int, help="hidden layers on each side (lab: 1; not for mlp)")
    offered = {}
    for family in registry.families():
        offered.update({k: v for k, v in family_options(family.config).items() if k not in offered})
    for name, spec in offered.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=flag_type(spec["parse"]),
            choices=spec["choices"],
            metavar=spec["metavar"],
            help=spec["help"],
        )


def flag_type(parse):
    """An argparse type from a parser that raises ValueError with a phrase."""
    if parse is None:
        return None

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = parse.__name__
    return convert


def add_training_flags(p: argparse.ArgumentParser) -> None:
    """How the run trains: the recipe's settings, and the step, precision and loader."""
    p.add_argument("-b", "--batch-size", type=positive_int, help="batch size (lab recipe: 2048)")
    p.add_argument(
        "--binarize",
        action="store_true",
        default=None,
        help="train on coin-flip binarised pixels, new each batch (VAE recipes do)",
    )
    p.add_argument("--lr", type=positive_float, help="learning rate, the peak for onecycle (lab: 1e-3)")
    p.add_argument("--weight-decay", type=non_negative_float, help="Adam weight decay (lab: 1e-5)")
    p.add_argument("--loss", choices=LOSSES, help="mse (the lab's) or bce on the decoder's logits; elbo for VAEs")
    p.add_argument("--schedule", choices=SCHEDULES, help="plateau (the lab's ReduceLROnPlateau) or onecycle")
    p.add_argument(
        "--train-noise",
        type=non_negative_float,
        metavar="STD",
        help="add N(0, STD^2) noise to the inputs, targets clean: to denoise, or to regularize (lab: 0; best: 0.1)",
    )
    p.add_argument(
        "--clip-noise",
        action="store_true",
        default=None,
        help="clip the noisy inputs to [0, 1], as a stored image would be (eval has the same flag)",
    )
    p.add_argument(
        "--step",
        choices=STEPS,
        default="auto",
        help="autograd: the plain loop's step (training/plain_loop.py); fused: the family's "
        "hand-derived step, same math, faster; auto (default): fused where the family has "
        "one, autograd under torchrun or --compile",
    )
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="default fp32, the lab's numerics")
    p.add_argument(
        "--loader",
        choices=LOADERS,
        default="auto",
        help="memory: whole set on the device; stream: the lab's DataLoader (default auto)",
    )


def run_settings(args: argparse.Namespace) -> dict:
    """Every model and training setting the flags gave, by field name (None: not given)."""
    names = {f.name for family in registry.families() for f in fields(family.config)} | TRAIN_FIELDS
    return {name: getattr(args, name) for name in sorted(names - NOT_FLAGS) if hasattr(args, name)}
