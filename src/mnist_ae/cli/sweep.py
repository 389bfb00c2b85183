"""``sweep``: train the lab's recipe at several bottleneck sizes and compare each with PCA."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import checkpoint
from ..data import load_images
from ..errors import UserError
from ..runtime import DEVICES, make_runtime
from ..sweep import DEFAULT_BOTTLENECKS, LAB_LABEL, parse_bottlenecks, run_sweep
from ..sweep_report import TABLE_NAMES, write_report
from ..training import TrainConfig
from .args import add_data_args, positive_int

DEFAULT_OUT = Path("runs/sweep")
DEFAULT_SEED = 0  # a sweep is a measurement: repeatable unless asked otherwise

NAME = "sweep"
HELP = "train at several bottleneck sizes; write a rate-distortion table and plot"
DESCRIPTION = ("Train the lab's recipe once per bottleneck size, score each model and a PCA with as many "
               "components on the test split, and write sweep.md, sweep.csv and sweep.png.")


def bottleneck_list(text: str) -> list[int]:
    try:
        return parse_bottlenecks(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def configure(p):
    p.add_argument("-z", "--bottlenecks", type=bottleneck_list, default=list(DEFAULT_BOTTLENECKS),
                   metavar="LIST", help="code sizes, comma-separated (default "
                                        f"{','.join(map(str, DEFAULT_BOTTLENECKS))})")
    p.add_argument("-e", "--epochs", type=positive_int, default=50, help="epochs per model (default 50)")
    p.add_argument("-b", "--batch-size", type=positive_int, default=2048, help="batch size (default 2048)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed for every model (default {DEFAULT_SEED})")
    p.add_argument("--label", default=LAB_LABEL, help=f"the recipe's name in the table (default {LAB_LABEL})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for {', '.join(TABLE_NAMES)} and the checkpoints (default {DEFAULT_OUT})")
    p.add_argument("--no-models", action="store_true", help="do not keep the trained checkpoints")
    add_data_args(p)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def prepare_out(out: Path) -> None:
    """Fail before hours of training if the results could not be written."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise UserError(f"--out folder {out.parent} does not exist; create it or choose another")
        checkpoint.check_writable(out, "sweep folder")
        out.mkdir()
    for name in TABLE_NAMES:
        checkpoint.check_writable(out / name, "sweep result")


def run(args) -> int:
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dataset=args.dataset)
    runtime = make_runtime(args.device)
    prepare_out(args.out)
    train_set = load_images(args.dataset, args.data_root, train=True)
    test_set = load_images(args.dataset, args.data_root, train=False)
    print(f"sweeping bottlenecks {', '.join(map(str, args.bottlenecks))} x {args.epochs} epochs "
          f"({args.label} recipe) on {runtime.name}", flush=True)

    def write(rows):
        # After every model, so an interrupted sweep keeps the rows it finished.
        write_report(rows, args.out, args.dataset)

    try:
        rows = run_sweep(args.bottlenecks, config, train_set, test_set, runtime, label=args.label,
                         save_dir=None if args.no_models else args.out, data_root=args.data_root,
                         on_row=write, progress=not args.no_progress and sys.stderr.isatty())
    except KeyboardInterrupt:
        raise UserError(f"interrupted; the finished rows are in {args.out}/") from None
    for path in write_report(rows, args.out, args.dataset):
        print(f"saved {path}")
    return 0
