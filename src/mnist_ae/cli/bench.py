"""``bench``: the lab's pipeline against our trainer, same recipe, seed and epochs, one process."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError
from ..files import check_writable, write_text
from ..training.config import PRECISIONS
from .args import positive_int, seed

NAME = "bench"
HELP = "time the lab's pipeline against ours and write a table"
DESCRIPTION = ("Train the lab's recipe with the lab's own pipeline and with ours (same epochs and "
               "seed, in one process), then print and write a markdown table and JSON.")


def configure(p):
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs for each run (default 10)")
    p.add_argument("--lab-epochs", type=positive_int, default=None, metavar="N",
                   help="train the lab's pipeline for only N epochs (default: --epochs); the "
                        "speed-up compares epochs per second")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["fp32", "bf16"],
                   help="our trainer's precisions to run (default fp32 bf16)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default="./data", metavar="DIR")
    p.add_argument("--out", type=Path, default=Path("bench"), metavar="DIR",
                   help="writes results.md and results.json here (default bench/)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.benchmark import markdown_report, run_benchmark

    md_path, json_path = args.out / "results.md", args.out / "results.json"
    check_writable(md_path, "results")
    check_writable(json_path, "results")
    if args.lab_epochs is not None and args.lab_epochs > args.epochs:
        raise UserError(f"--lab-epochs {args.lab_epochs} is more than --epochs {args.epochs}; "
                        "pass at most --epochs")
    report = run_benchmark(args.data_root, args.epochs, args.seed, args.device, tuple(args.precision),
                           args.lab_epochs)
    table = markdown_report(report)
    print(table)
    write_text(md_path, table)
    write_text(json_path, json.dumps(report, indent=2))
    print(f"wrote {md_path} and {json_path}")
    return 0
