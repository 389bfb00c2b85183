"""``lab``: the lab's ``python lab1.py -l MLP.8.pth`` (Steps 4-6)."""

from __future__ import annotations

from pathlib import Path

from ..analysis.config import LAB_FIGURE_NAMES, LAB_N_STEPS, LAB_NOISE_STD
from ..files import prepare_output_folder
from .args import add_data_args, load_data, non_negative_float, non_negative_int, seed, step_count

DEFAULT_OUT = Path("lab_figures")


NAME = "lab"
HELP = "reconstruct, denoise and interpolate (the lab's lab1.py)"
DESCRIPTION = "The lab's Steps 4-6 on a trained checkpoint."


def configure(p):
    p.add_argument(
        "-l",
        "--load",
        required=True,
        metavar="PATH",
        help="checkpoint from train.py, or a state_dict saved by the lab's own code",
    )
    add_data_args(p, from_checkpoint=True)
    p.add_argument("--index", type=non_negative_int, help="image for Steps 4 and 5 (else asked)")
    p.add_argument(
        "--pair",
        type=non_negative_int,
        nargs=2,
        metavar=("A", "B"),
        help="images to interpolate between in Step 6 (else asked)",
    )
    p.add_argument("--n-steps", type=step_count, default=LAB_N_STEPS, help="interpolation steps, endpoints included")
    p.add_argument(
        "--noise-std",
        type=non_negative_float,
        default=LAB_NOISE_STD,
        help="std of the Gaussian noise in Step 5 (default sqrt(0.1), the lab's)",
    )
    p.add_argument("--seed", type=seed, default=None, help="seed for the noise in Step 5")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help=f"write {', '.join(LAB_FIGURE_NAMES)} here")
    p.add_argument("--no-show", action="store_true", help="do not open figure windows")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..analysis.lab_steps import LabRequest, run_lab
    from ..analysis.plots import has_display
    from ..training import checkpoint

    model = checkpoint.load_model(args.load)
    images, _ = load_data(args, args.load)
    for index in ([args.index] if args.index is not None else []) + list(args.pair or []):
        images.image(index)  # fail before any work if an index is out of range
    show = not args.no_show and has_display()
    out = args.out
    if out is None and not show:
        out = DEFAULT_OUT
        if not args.no_show:
            print(f"no display found; saving the figures to {out}/ instead")
    if out is not None:
        prepare_output_folder(out, LAB_FIGURE_NAMES, "figure")
    request = LabRequest(
        index=args.index,
        pair=tuple(args.pair) if args.pair else None,
        n_steps=args.n_steps,
        noise_std=args.noise_std,
        seed=args.seed,
    )
    for path in run_lab(model, images, request, out, show):
        print(f"saved {path}")
    return 0
