"""``eval``: a checkpoint's test-set metrics beside a PCA baseline, and its denoising, as tables."""

from __future__ import annotations

import json
from pathlib import Path

from .. import checkpoint
from ..data import load_images
from ..errors import UserError
from ..evaluation import DENOISE_SEED, DENOISE_STDS, EvalReport, check_compatible, evaluate, model_reconstructor
from ..pca import PCAReconstructor, fit_pca
from ..runtime import DEVICES, make_runtime
from .args import add_data_args, positive_float, positive_int

NAME = "eval"
HELP = "test-set MSE, PSNR, SSIM, per-digit MSE and denoising, beside PCA"
DESCRIPTION = ("Evaluate a checkpoint on the test split: MSE (mean over pixels, 0-1 scale), PSNR and SSIM, MSE "
               "per class, the same for a PCA with as many components as the bottleneck (fitted on the "
               "training split), and PSNR before and after denoising seeded Gaussian noise (unclipped, as "
               "in the lab, or clipped with --clip-noise). --compare-to adds a second model, e.g. a "
               "clean-trained one beside one trained with train.py --train-noise, and the denoising gain "
               "of the first over it.")


def configure(p):
    p.add_argument("-l", "--load", required=True, metavar="PATH", help="checkpoint to evaluate")
    p.add_argument("--compare-to", metavar="PATH", help="a second checkpoint shown beside it")
    p.add_argument("--json", metavar="PATH", help="also write every number to this JSON file")
    p.add_argument("--noise-std", type=positive_float, nargs="+", default=list(DENOISE_STDS), metavar="STD",
                   help="noise levels for the denoising table (default 0.1 0.2 sqrt(0.1) 0.5)")
    p.add_argument("--clip-noise", action="store_true",
                   help="clip the noisy images to [0, 1], as a stored image would be (default: unclipped, the lab's)")
    p.add_argument("--seed", type=int, default=DENOISE_SEED, help=f"seed for the noise (default {DENOISE_SEED})")
    p.add_argument("--pca-components", type=positive_int, metavar="K",
                   help="PCA baseline size (default: the model's bottleneck)")
    add_data_args(p)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.set_defaults(run=run)


def model_name(path: str) -> str:
    name = Path(path).name
    return name[: -len(".pth")] if name.endswith(".pth") else name


def training_noise(path: str) -> tuple[float | None, bool | None]:
    """The --train-noise std a checkpoint was trained with and whether it was clipped, when its
    run state is beside it; (None, None) otherwise."""
    state_file = checkpoint.state_path(path)
    if not state_file.is_file():
        return None, None
    try:
        config = checkpoint.safe_load(state_file, what="run state")["train_config"]
        return float(config["train_noise"]), bool(config.get("clip_noise", False))
    except (UserError, KeyError, TypeError, ValueError):
        return None, None  # only a label; a foreign or damaged state file must not stop the evaluation


METRICS = (("mse", "MSE", 4), ("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 3))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table: it reads in a terminal and pastes into the README as it is."""
    return ["| " + " | ".join(header) + " |", "|---" + "|--:" * (len(header) - 1) + "|"] + \
        ["| " + " | ".join(row) + " |" for row in rows]


def reconstruction_section(report: EvalReport, models: dict[str, dict], pca: str) -> list[str]:
    names = list(report.quality)
    lines = [f"Reconstruction, {report.dataset} {report.split} set ({report.n_images} images):", ""]
    lines += table(["metric"] + names, [[label] + [f"{getattr(report.quality[n], metric):.{digits}f}" for n in names]
                                        for metric, label, digits in METRICS])
    lines += ["", "MSE per class:", ""]
    lines += table(["class", "images"] + names,
                   [[str(c), str(count)] + [f"{report.quality[n].per_class_mse[c]:.4f}" for n in names]
                    for c, count in report.class_counts.items()])
    lines.append("")
    pca_mse = report.quality[pca].mse
    for name in models:
        change = 1 - report.quality[name].mse / pca_mse
        lines.append(f"{name}'s test MSE is {abs(change):.0%} {'below' if change >= 0 else 'above'} {pca}'s "
                     f"({report.quality[name].mse:.4f} vs {pca_mse:.4f}).")
    return lines


def denoising_section(report: EvalReport, gain: tuple[str, str] | None) -> list[str]:
    names = list(report.quality)
    header = ["noise std", "noisy input"] + [f"{n} output" for n in names]
    if gain:
        header.append(f"gain of {gain[0]} over {gain[1]} (dB)")
    rows = []
    for row in report.denoising:
        cells = [f"{row.noise_std:.3f}", f"{row.noisy_psnr:.2f}"] + [f"{row.denoised_psnr[n]:.2f}" for n in names]
        if gain:
            cells.append(f"{row.denoised_psnr[gain[0]] - row.denoised_psnr[gain[1]]:+.2f}")
        rows.append(cells)
    return [f"Denoising: PSNR (dB) against the clean image; Gaussian noise, {report.noise_clipping}, "
            f"seed {report.seed}:",
            ""] + table(header, rows)


def format_report(report: EvalReport, models: dict[str, dict], pca: str, gain: tuple[str, str] | None) -> str:
    lines = reconstruction_section(report, models, pca) + [""] + denoising_section(report, gain) + [""]
    for name, info in models.items():
        noise = "unknown (no run state)" if info["train_noise"] is None else info["train_noise"]
        clipped = ", clipped to [0, 1]" if info["train_noise"] and info["train_noise_clipped"] else ""
        lines.append(f"{name}: {info['path']}, bottleneck {info['bottleneck']}, "
                     f"training input noise std {noise}{clipped}")
    return "\n".join(lines)


def run(args) -> int:
    if args.json:
        checkpoint.check_writable(args.json, "JSON report")
    runtime = make_runtime(args.device)
    paths = [args.load] + ([args.compare_to] if args.compare_to else [])
    if len(paths) > 1 and Path(paths[0]).resolve() == Path(paths[1]).resolve():
        raise UserError("--compare-to names the checkpoint being evaluated; give another one")
    names = [model_name(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    loaded = {name: checkpoint.load_model(path, runtime.device) for name, path in zip(names, paths)}
    test_set = load_images(args.dataset, args.data_root, train=False)
    for (name, model), path in zip(loaded.items(), paths):
        check_compatible(model, test_set, path)

    k = args.pca_components or loaded[names[0]].config.bottleneck
    train_set = load_images(args.dataset, args.data_root, train=True)
    pca = fit_pca(train_set.floats(), max_components=k)
    reconstructors = {name: model_reconstructor(model) for name, model in loaded.items()}
    pca_name = f"PCA-{k}"
    reconstructors[pca_name] = PCAReconstructor(pca, k)
    # The model, its linear baseline, then the model it is compared with: the table's columns.
    order = [names[0], pca_name] + names[1:]
    report = evaluate({n: reconstructors[n] for n in order}, test_set, args.noise_std, args.seed, runtime.device,
                      args.clip_noise)

    models = {name: {"path": str(path), "bottleneck": loaded[name].config.bottleneck,
                     **dict(zip(("train_noise", "train_noise_clipped"), training_noise(path)))}
              for name, path in zip(names, paths)}
    gain = (names[0], names[1]) if len(names) > 1 else None
    print(format_report(report, models, pca_name, gain))
    if args.json:
        data = {**report.to_dict(), "models": models,
                "pca": {"name": pca_name, "components": k, "fitted_on": f"{args.dataset} train split"}}
        if gain:
            data["denoising_gain_db"] = {"of": gain[0], "over": gain[1], "by_noise_std": [
                {"noise_std": r.noise_std, "gain": r.denoised_psnr[gain[0]] - r.denoised_psnr[gain[1]]}
                for r in report.denoising]}
        checkpoint.atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))
        print(f"\nsaved {args.json}")
    return 0
