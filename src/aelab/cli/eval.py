"""``eval``: a checkpoint's test-set metrics beside a PCA baseline, and its denoising, as tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..analysis.config import DENOISE_SEED, DENOISE_STDS
from ..errors import UserError
from ..files import check_writable, write_text
from ..training.config import DEVICES
from .args import add_data_args, load_data, positive_float, positive_int, seed

NAME = "eval"
HELP = "test-set MSE, PSNR, SSIM, per-digit MSE and denoising, beside PCA"
DESCRIPTION = (
    "Evaluate a checkpoint on the test split: MSE (mean over pixels, 0-1 scale), PSNR and SSIM, MSE "
    "per class, the same for a PCA with as many components as the bottleneck (fitted on the "
    "training split), and PSNR before and after denoising seeded Gaussian noise (unclipped, as "
    "in the lab, or clipped with --clip-noise). --compare-to adds a second model, e.g. a "
    "clean-trained one beside one trained with train.py --train-noise, and the denoising gain "
    "of the first over it."
)

MEMORY_ADVICE = "lower --pca-components, or use --device cpu"
DEFAULT_IW_SAMPLES = 1000  # Burda et al.'s K for the importance-weighted NLL


def configure(p):
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="checkpoint to evaluate")
    p.add_argument("--compare-to", metavar="PATH", help="a second checkpoint shown beside it")
    p.add_argument("--json", metavar="PATH", help="also write every number to this JSON file")
    p.add_argument(
        "--noise-std",
        type=positive_float,
        nargs="+",
        default=list(DENOISE_STDS),
        metavar="STD",
        help="noise levels for the denoising table (default 0.1 0.2 sqrt(0.1) 0.5)",
    )
    p.add_argument(
        "--clip-noise",
        action="store_true",
        help="clip the noisy images to [0, 1], as a stored image would be (default: unclipped, the lab's)",
    )
    p.add_argument("--seed", type=seed, default=DENOISE_SEED, help=f"seed for the noise (default {DENOISE_SEED})")
    p.add_argument(
        "--iw-samples",
        type=positive_int,
        default=DEFAULT_IW_SAMPLES,
        metavar="K",
        help=f"VAEs: posterior draws per test image for the ELBO and IW-NLL (default {DEFAULT_IW_SAMPLES})",
    )
    p.add_argument(
        "--pca-components", type=positive_int, metavar="K", help="PCA baseline size (default: the model's bottleneck)"
    )
    add_data_args(p, from_checkpoint=True)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.set_defaults(run=run)


def model_name(path: str) -> str:
    name = Path(path).name
    return name[: -len(".pth")] if name.endswith(".pth") else name


def training_noise(path: str) -> tuple[float | None, bool | None]:
    """The --train-noise std a checkpoint was trained with and whether it was clipped, when its
    run state is beside it; (None, None) otherwise."""
    from ..training import checkpoint

    state_file = checkpoint.state_path(path)
    if not state_file.is_file():
        return None, None
    try:
        config = checkpoint.training_settings(checkpoint.safe_load(state_file, what="run state"))
        return float(config["train_noise"]), bool(config.get("clip_noise", False))
    except (UserError, KeyError, TypeError, ValueError):
        return None, None  # only a label; a foreign or damaged state file must not stop the evaluation


def run(args) -> int:
    from ..analysis.eval_report import format_report
    from ..analysis.evaluation import check_compatible, evaluate, model_reconstructor
    from ..analysis.pca import PCAReconstructor, fit_pca
    from ..training import checkpoint
    from ..training.runtime import make_runtime

    if args.json:
        check_writable(args.json, "JSON report")
    runtime = make_runtime(args.device)
    paths = [args.load] + ([args.compare_to] if args.compare_to else [])
    if len(paths) > 1 and Path(paths[0]).resolve() == Path(paths[1]).resolve():
        raise UserError("--compare-to names the checkpoint being evaluated; give another one")
    names = [model_name(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    loaded = {name: runtime.place(checkpoint.load_model(path)) for name, path in zip(names, paths)}
    train_set, test_set = load_data(args, args.load)
    for model, path in zip(loaded.values(), paths):
        check_compatible(model, test_set, path)

    k = args.pca_components or loaded[names[0]].config.bottleneck
    pca = fit_pca(train_set.floats(), max_components=k)
    reconstructors = {name: model_reconstructor(model) for name, model in loaded.items()}
    pca_name = f"PCA-{k}"
    reconstructors[pca_name] = PCAReconstructor(pca, k)
    # The model, its linear baseline, then the model it is compared with: the table's columns.
    order = [names[0], pca_name] + names[1:]
    report = evaluate(
        {n: reconstructors[n] for n in order}, test_set, args.noise_std, args.seed, runtime.device, args.clip_noise
    )

    models = {
        name: {
            "path": str(path),
            "bottleneck": loaded[name].config.bottleneck,
            **dict(zip(("train_noise", "train_noise_clipped"), training_noise(path))),
        }
        for name, path in zip(names, paths)
    }
    gain = (names[0], names[1]) if len(names) > 1 else None
    print(format_report(report, models, pca_name, gain))
    print(f"{pca_name} was fitted on the {train_set.name} train split by {pca.method} PCA")
    densities = {name: model for name, model in loaded.items() if model.variational}
    scores = {}
    if densities:
        from ..analysis.likelihood import likelihood, likelihood_section

        clean = test_set.floats(runtime.device)
        scores = {
            name: likelihood(model, clean, args.iw_samples, progress=sys.stderr.isatty())
            for name, model in densities.items()
        }
        print("\n" + "\n".join(likelihood_section(scores)))
    if args.json:
        data = {
            **report.to_dict(),
            "models": models,
            "pca": {
                "name": pca_name,
                "components": k,
                "fitted_on": f"{train_set.name} train split",
                "method": pca.method,
            },
            **({"likelihood": {name: s.to_dict() for name, s in scores.items()}} if scores else {}),
        }
        if gain:
            data["denoising_gain_db"] = {
                "of": gain[0],
                "over": gain[1],
                "by_noise_std": [
                    {"noise_std": r.noise_std, "gain": r.denoised_psnr[gain[0]] - r.denoised_psnr[gain[1]]}
                    for r in report.denoising
                ],
            }
        write_text(args.json, json.dumps(data, indent=2) + "\n")
        print(f"\nsaved {args.json}")
    return 0
