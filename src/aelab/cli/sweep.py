"""``sweep``: train one or more recipes at several bottleneck sizes and compare each with PCA."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.config import SWEEP_BOTTLENECKS, SWEEP_FILE_NAMES, parse_bottlenecks
from ..errors import UserError
from ..files import prepare_output_folder
from ..models import registry
from ..models.config import DEFAULT_FAMILY
from ..training.config import DEVICES, RECIPE_NAMES, RunConfig
from .args import add_data_args, data_config, positive_int, seed

DEFAULT_OUT = Path("runs/sweep")
DEFAULT_SEED = 0  # a sweep is a measurement: repeatable unless asked otherwise

NAME = "sweep"
HELP = "train at several bottleneck sizes; write a rate-distortion table and plot"
DESCRIPTION = (
    "Train each recipe (default: the lab's) once per bottleneck size, score each model and a PCA with as many "
    "components on the test split, and write sweep.md, sweep.csv and sweep.png."
)


def bottleneck_list(text: str) -> list[int]:
    try:
        return parse_bottlenecks(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


MEMORY_ADVICE = "lower the sizes in -z, or -b"


def configure(p):
    p.add_argument(
        "-z",
        "--bottlenecks",
        type=bottleneck_list,
        default=list(SWEEP_BOTTLENECKS),
        metavar="LIST",
        help=f"code sizes, comma-separated (default {','.join(map(str, SWEEP_BOTTLENECKS))})",
    )
    p.add_argument("-e", "--epochs", type=positive_int, default=50, help="epochs per model (default 50)")
    p.add_argument(
        "--recipe",
        nargs="+",
        choices=RECIPE_NAMES,
        default=["lab"],
        metavar="RECIPE",
        help=f"recipes to sweep, each a row group in the table ({', '.join(RECIPE_NAMES)}; default lab)",
    )
    p.add_argument(
        "--model",
        nargs="+",
        choices=registry.names(),
        default=[DEFAULT_FAMILY],
        metavar="FAMILY",
        help=f"model families to sweep, each with every recipe ({', '.join(registry.names())}; default mlp)",
    )
    p.add_argument("-b", "--batch-size", type=positive_int, help="batch size (default: each recipe's)")
    p.add_argument("--seed", type=seed, default=DEFAULT_SEED, help=f"seed for every model (default {DEFAULT_SEED})")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for {', '.join(SWEEP_FILE_NAMES)} and the checkpoints (default {DEFAULT_OUT})",
    )
    p.add_argument("--no-models", action="store_true", help="do not keep the trained checkpoints")
    add_data_args(p)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.pca import fit_pca
    from ..analysis.sweep import run_sweep
    from ..analysis.sweep_report import write_report
    from ..data.datasets import load_splits
    from ..training.runtime import make_runtime

    data = data_config(args)
    runtime = make_runtime(args.device)
    prepare_output_folder(args.out, SWEEP_FILE_NAMES, "sweep result")
    train_set, test_set = load_splits(
        data,
        args.data_root,
        args.cache_dir,
        args.skip_bad_images,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(
        f"sweeping bottlenecks {', '.join(map(str, args.bottlenecks))} x {args.epochs} epochs "
        f"({', '.join(args.model)} x {', '.join(dict.fromkeys(args.recipe))} recipe) on {runtime.name}",
        flush=True,
    )
    runs = [
        RunConfig.create(
            family,
            name,
            image_shape=train_set.image_shape,
            data=data,
            batch_size=args.batch_size,
            epochs=args.epochs,
            seed=args.seed,
        )
        for family in dict.fromkeys(args.model)
        for name in dict.fromkeys(args.recipe)
    ]
    pca = fit_pca(train_set.floats(), max_components=max(args.bottlenecks))
    rows = []

    try:
        for run_config in runs:
            done = list(rows)

            def write(new_rows, done=done):
                # After every model, so an interrupted sweep keeps the rows it finished.
                write_report(done + new_rows, args.out, data.label)

            rows = done + run_sweep(
                args.bottlenecks,
                run_config,
                train_set,
                test_set,
                runtime,
                pca=pca,
                save_dir=None if args.no_models else args.out,
                on_row=write,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
    except KeyboardInterrupt:
        raise UserError(f"interrupted; the finished rows are in {args.out}/") from None
    for path in write_report(rows, args.out, data.label):
        print(f"saved {path}")
    return 0
