"""``eval``'s report as text: reconstruction beside PCA, per class, and denoising, as markdown tables."""

from __future__ import annotations

from .evaluation import EvalReport
from .tables import markdown_table

METRICS = (("mse", "MSE", 4), ("psnr", "PSNR (dB)", 2), ("ssim", "SSIM", 3))


def reconstruction_section(report: EvalReport, models: dict[str, dict], pca: str) -> list[str]:
    names = list(report.quality)
    lines = [f"Reconstruction, {report.dataset} {report.split} set ({report.n_images} images):", ""]
    lines += markdown_table(
        ["metric"] + names,
        [
            [label] + [f"{getattr(report.quality[n], metric):.{digits}f}" for n in names]
            for metric, label, digits in METRICS
        ],
    )
    lines += ["", "MSE per class:", ""]
    lines += markdown_table(
        ["class", "images"] + names,
        [
            [report.class_name(c), str(count)] + [f"{report.quality[n].per_class_mse[c]:.4f}" for n in names]
            for c, count in report.class_counts.items()
        ],
    )
    lines.append("")
    pca_mse = report.quality[pca].mse
    for name in models:
        change = 1 - report.quality[name].mse / pca_mse
        lines.append(
            f"{name}'s test MSE is {abs(change):.0%} {'below' if change >= 0 else 'above'} {pca}'s "
            f"({report.quality[name].mse:.4f} vs {pca_mse:.4f})."
        )
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
    return [
        f"Denoising: PSNR (dB) against the clean image; Gaussian noise, {report.noise_clipping}, seed {report.seed}:",
        "",
    ] + markdown_table(header, rows)


def format_report(report: EvalReport, models: dict[str, dict], pca: str, gain: tuple[str, str] | None) -> str:
    lines = reconstruction_section(report, models, pca) + [""] + denoising_section(report, gain) + [""]
    for name, info in models.items():
        noise = "unknown (no run state)" if info["train_noise"] is None else info["train_noise"]
        clipped = ", clipped to [0, 1]" if info["train_noise"] and info["train_noise_clipped"] else ""
        lines.append(
            f"{name}: {info['path']}, bottleneck {info['bottleneck']}, training input noise std {noise}{clipped}"
        )
    return "\n".join(lines)
