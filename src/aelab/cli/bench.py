"""``bench``: the lab's pipeline against our trainer, same recipe, seed and epochs, one process; on
MNIST, or on any data ``--dataset`` names."""

from __future__ import annotations

import json
from pathlib import Path

from ..analysis.tables import markdown_table
from ..errors import UserError
from ..files import check_writable, write_text
from ..models import registry
from ..training.config import PRECISIONS, RECIPE_NAMES
from .args import add_data_args, data_config, positive_int, seed

DEFAULT_OUT = Path("runs/bench")
NAME = "bench"
HELP = "time the lab's pipeline against ours and write a table"
DESCRIPTION = (
    "Train the lab's recipe with the lab's own pipeline and with ours (same epochs and "
    "seed, in one process), on MNIST or your own images, then print and write a markdown "
    "table and JSON."
)


def configure(p):
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs for each run (default 10)")
    p.add_argument(
        "--lab-epochs",
        type=positive_int,
        default=None,
        metavar="N",
        help="train the lab's pipeline for only N epochs (default: --epochs); the speed-up compares epochs per second",
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["fp32", "bf16"],
        help="our trainer's precisions to run (default fp32 bf16)",
    )
    p.add_argument("--device", default="auto")
    add_data_args(p)
    p.add_argument(
        "--model",
        choices=registry.names(),
        metavar="FAMILY",
        help=f"time a family ({', '.join(registry.names())}) against pytorch/examples' training loop instead of "
        "the lab's pipeline; writes results-FAMILY-RECIPE.md/.json",
    )
    p.add_argument(
        "--recipe", choices=RECIPE_NAMES, default="lab", help="with --model: the family's recipe (default lab)"
    )
    p.add_argument(
        "--iw-samples",
        type=positive_int,
        default=1000,
        metavar="K",
        help="with --model vae or conv-vae: draws per test image for the ELBO and IW-NLL (default 1000)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"writes results.md and results.json here (default {DEFAULT_OUT}/, made if missing; a folder you "
        "name must exist)",
    )
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.benchmark import BenchData, run_benchmark

    if args.out is None:  # not the repository's bench/, whose results are committed
        args.out = DEFAULT_OUT
        DEFAULT_OUT.mkdir(parents=True, exist_ok=True)
    stem = f"results-{args.model}-{args.recipe}" if args.model else "results"
    md_path, json_path = args.out / f"{stem}.md", args.out / f"{stem}.json"
    check_writable(md_path, "results")
    check_writable(json_path, "results")
    if args.lab_epochs is not None and args.lab_epochs > args.epochs:
        raise UserError(f"--lab-epochs {args.lab_epochs} is more than --epochs {args.epochs}; pass at most --epochs")
    data = BenchData(data_config(args), args.data_root, args.cache_dir, args.skip_bad_images)
    if args.model:
        from ..analysis.family_bench import family_report, run_family_benchmark

        report = run_family_benchmark(
            data, args.model, args.recipe, args.epochs, args.seed, args.device, args.iw_samples
        )
        table = family_report(report)
    else:
        report = run_benchmark(data, args.epochs, args.seed, args.device, tuple(args.precision), args.lab_epochs)
        table = markdown_report(report)
    print(table)
    write_text(md_path, table)
    write_text(json_path, json.dumps(report, indent=2))
    print(f"wrote {md_path} and {json_path}")
    return 0


def markdown_report(report: dict) -> str:
    header = [
        "pipeline",
        "epochs",
        "train s",
        "capture s",
        "epochs/s",
        "images/s",
        "speed-up",
        "vs GEMM roofline",
        "final loss",
        "test MSE",
        "peak MB",
        "inference images/s",
    ]
    rows = []
    for r in report["rows"]:
        roof = f"{r['vs_roofline']:.2f}x" if "vs_roofline" in r else "-"
        capture = f"{r['capture_seconds']:.2f}" if "capture_seconds" in r else "-"
        infer = f"{r['inference_images_per_second']:,.0f}" if "inference_images_per_second" in r else "-"
        seconds = f"{r['train_seconds']:.1f}" if r["train_seconds"] >= 10 else f"{r['train_seconds']:.3f}"
        rows.append(
            [
                r["name"],
                str(r["epochs"]),
                seconds,
                capture,
                f"{r['epochs_per_second']:.2f}",
                f"{r['images_per_second']:,.0f}",
                f"{r['speedup_vs_lab']:.2f}x",
                roof,
                f"{r['final_loss']:.5f}",
                f"{r['test_mse']:.5f}",
                f"{r['peak_memory_mb']:.0f}",
                infer,
            ]
        )
    on = f" on {report['dataset']}" if report.get("dataset", "mnist") != "mnist" else ""
    title = (
        f"{report['epochs']} epochs{on}, seed {report['seed']}, {report['device']}, torch {report['torch']}; "
        f"contestants take turns, one epoch each per round; speed-up is the ratio of epochs/s\n\n"
    )
    return title + "\n".join(markdown_table(header, rows)) + "\n"
