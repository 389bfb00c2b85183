"""``report``: one self-contained HTML page about a checkpoint, to keep or to send."""

from __future__ import annotations

import time
from pathlib import Path

from ..analysis.config import DENOISE_SEED, LAB_N_STEPS, LAB_NOISE_STD
from ..errors import UserError
from ..files import atomic_write, check_writable
from ..training.config import DEVICES
from .args import add_data_args, load_data, non_negative_float, non_negative_int, seed, step_count

NAME = "report"
HELP = "one HTML page about a checkpoint: model, recipe, training, the lab's steps, evaluation, latent space"
DESCRIPTION = (
    "Write one self-contained HTML file about a checkpoint: the model and its data, the recipe and "
    "loss curve from the run state beside it, the lab's Steps 4-6, the evaluation against PCA "
    "(as eval prints it), the latent figures (as figures draws them) and the environment. The "
    "figures are inlined, so the file opens offline and requests nothing."
)
DEFAULT_OUT = Path("report.html")
BYTES_PER_MB = 1e6

MEMORY_ADVICE = "use --no-eval, or --device cpu"


def configure(p):
    p.add_argument(
        "-l",
        "--load",
        required=True,
        metavar="PATH",
        help="checkpoint from train.py, or a state_dict saved by the lab's own code",
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="FILE", help=f"the HTML file to write (default {DEFAULT_OUT})"
    )
    p.add_argument("--index", type=non_negative_int, default=0, help="training image for Steps 4 and 5 (default 0)")
    p.add_argument(
        "--pair",
        type=non_negative_int,
        nargs=2,
        default=[0, 1],
        metavar=("A", "B"),
        help="training images to interpolate between in Step 6 (default 0 1)",
    )
    p.add_argument("--n-steps", type=step_count, default=LAB_N_STEPS, help="interpolation steps, endpoints included")
    p.add_argument(
        "--noise-std",
        type=non_negative_float,
        default=LAB_NOISE_STD,
        help="std of the Gaussian noise in Step 5 (default sqrt(0.1), the lab's)",
    )
    p.add_argument("--seed", type=seed, default=DENOISE_SEED, help=f"seed for the noise (default {DENOISE_SEED})")
    p.add_argument(
        "--no-eval",
        action="store_true",
        help="leave out the evaluation against PCA and the denoising table (the slow part)",
    )
    add_data_args(p, from_checkpoint=True)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.set_defaults(run=run)


def say(message: str) -> None:
    print(message, flush=True)  # progress shows as it happens, also through a pipe


def run(args) -> int:
    from ..analysis.evaluation import check_compatible, torchmetrics_image
    from ..analysis.report import ReportRequest, build_report
    from ..analysis.report_html import render
    from ..training import checkpoint
    from ..training.runtime import make_runtime

    started = time.perf_counter()
    out = check_writable(args.out, "report")
    if not args.no_eval:
        torchmetrics_image()  # SSIM's library: missing, it would fail only after the slow part
    runtime = make_runtime(args.device)
    say(f"loading {args.load} and its data")
    model = runtime.place(checkpoint.load_model(args.load))
    train_set, test_set = load_data(args, args.load)
    check_compatible(model, test_set, args.load)
    for index in [args.index, *args.pair]:
        train_set.image(index)  # fail before any work if an index is out of range
    request = ReportRequest(
        index=args.index,
        pair=tuple(args.pair),
        n_steps=args.n_steps,
        noise_std=args.noise_std,
        seed=args.seed,
        evaluate=not args.no_eval,
    )
    page = build_report(model, args.load, train_set, test_set, runtime, request, started, say)
    data = render(page).encode("utf-8")
    try:
        atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    except OSError as err:
        raise UserError(f"cannot write report {out}: {err.strerror or err}") from None
    say(f"saved {out} ({len(data) / BYTES_PER_MB:.2f} MB) in {time.perf_counter() - started:.1f} s")
    return 0
