"""One checkpoint's whole story on one page, as ``aelab report`` writes it: the sections gathered in
order, those that run the model (the lab's Steps 4-6, the evaluation against PCA, the latent
space, the summary) built here, those read from the files in :mod:`.report_record`, the figures
drawn by :mod:`.report_figures`; :mod:`.report_html` lays them out. The numbers and pictures come
from the functions ``lab``, ``eval`` and ``figures`` use, so the page agrees with those commands;
only the API every model family shares is used (``encode``, ``decode``, ``forward``,
``interpolate``, ``config``), so any family's checkpoint makes a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.images import ImageSet, describe_size
from ..data.noise import seeded
from ..training.runtime import Runtime
from .config import DENOISE_SEED, DENOISE_STDS, LAB_N_STEPS, LAB_NOISE_STD, LATENT_N_STEPS, LATENT_PAIRS
from .eval_report import denoising_section, reconstruction_section
from .evaluation import EvalReport, evaluate, model_reconstructor
from .inference import encode_all
from .lab_steps import denoise, reconstruct
from .latent import codes_figure, interpolation_figure, traversal_figure
from .pca import PCAReconstructor, fit_pca
from .plots import image_row
from .report_figures import glance_figure, png, sample_figure
from .report_html import Facts, Image, Markdown, Page, Section, Text
from .report_record import (
    environment_section,
    family,
    model_section,
    parameter_count,
    read_run_state,
    recipe_section,
    training_section,
)


@dataclass
class ReportRequest:
    index: int = 0  # training image of Steps 4 and 5, as lab1.py asks for one
    pair: tuple[int, int] = (0, 1)  # training images of Step 6
    n_steps: int = LAB_N_STEPS
    noise_std: float = LAB_NOISE_STD
    seed: int = DENOISE_SEED  # of Step 5's noise and of the denoising table's
    noise_stds: tuple[float, ...] = DENOISE_STDS
    evaluate: bool = True  # PCA fit and test-set metrics: the slow part


@torch.no_grad()
def lab_section(model, images: ImageSet, request: ReportRequest, device) -> Section:
    """Steps 4-6 as ``lab`` draws them, on the training split as the lab asks."""
    shape = model.config.image_shape
    image = images.image(request.index).to(device)
    noisy, denoised = denoise(model, image, request.noise_std, seeded(request.seed))
    a, b = (images.image(i).to(device) for i in request.pair)
    titles = [f"{i / (request.n_steps - 1):.2f}" for i in range(request.n_steps)]
    where = f"{images.name} {images.split}"
    return Section(
        "lab",
        "The lab's Steps 4-6",
        [
            Image(
                png(
                    image_row(
                        [image, reconstruct(model, image)],
                        ["original", "reconstruction"],
                        f"{where} image {request.index}",
                        shape,
                    )
                ),
                "Step 4: reconstruction",
                f"Step 4: {where} image {request.index} and its reconstruction.",
            ),
            Image(
                png(
                    image_row(
                        [image, noisy, denoised],
                        ["original", f"noisy (std {request.noise_std:.3g})", "denoised"],
                        f"denoising image {request.index}",
                        shape,
                    )
                ),
                "Step 5: denoising",
                f"Step 5: Gaussian noise of std {request.noise_std:.3g} (unclipped, as in "
                f"the lab; seed {request.seed}) and the reconstruction of the noisy image.",
            ),
            Image(
                png(
                    image_row(
                        list(model.interpolate(a, b, request.n_steps)),
                        titles,
                        f"interpolating image {request.pair[0]} to image {request.pair[1]}",
                        shape,
                    )
                ),
                "Step 6: interpolation",
                f"Step 6: {request.n_steps} codes on the straight line between the codes "
                f"of images {request.pair[0]} and {request.pair[1]}, decoded.",
            ),
        ],
    )


def evaluation_sections(
    model, name: str, train_set: ImageSet, test_set: ImageSet, request: ReportRequest, runtime: Runtime, say
) -> tuple[list[Section], EvalReport]:
    """``eval``'s tables: the model beside a PCA with as many components as its bottleneck."""
    k = model.config.bottleneck
    say(f"fitting PCA-{k} on the {len(train_set):,} training images")
    pca = fit_pca(train_set.floats(), max_components=k)
    pca_name = f"PCA-{k}"
    say(f"scoring {name} and {pca_name} on the {len(test_set):,} test images, clean and noisy")
    report = evaluate(
        {name: model_reconstructor(model), pca_name: PCAReconstructor(pca, k)},
        test_set,
        request.noise_stds,
        request.seed,
        runtime.device,
    )
    fitted = Text(
        f"{pca_name} was fitted on the {train_set.name} train split by {pca.method} PCA. MSE is the "
        "mean over pixels on the 0-1 scale; PSNR is per image, then averaged.",
        note=True,
    )
    return [
        Section(
            "evaluation",
            "Evaluation against PCA",
            [Markdown(reconstruction_section(report, {name: {}}, pca_name)), fitted],
        ),
        Section("denoising", "Denoising", [Markdown(denoising_section(report, None))]),
    ], report


def latent_section(model, name: str, images: ImageSet, seed: int) -> Section:
    """``figures``' three pictures, and samples from a model that can draw them; class pairs
    absent from the data are left out."""
    codes = encode_all(model, images)
    present = set(images.labels.tolist())
    pairs = [p for p in LATENT_PAIRS if set(p) <= present] or [tuple(sorted(present)[:2])]
    title = f"{name} (bottleneck {model.config.bottleneck}), {images.name} {images.split} set"
    blocks = [
        Image(
            png(codes_figure(codes, images.labels, f"Test-set codes of {title}", images.class_name)),
            "test-set codes in 2-D",
        ),
        Image(png(traversal_figure(model, codes, f"Latent traversal of {title}", LATENT_N_STEPS)), "latent traversal"),
    ]
    if len(present) > 1:
        blocks.append(
            Image(
                png(interpolation_figure(model, images, pairs, f"Interpolation in {title}", LATENT_N_STEPS)),
                "interpolation between classes",
            )
        )
    if callable(getattr(model, "sample", None)):  # only some families have a density to draw from
        blocks.append(
            Image(
                png(sample_figure(model, f"Samples from {title}", seed)),
                "samples from the prior",
                f"Decoded draws from the prior (seed {seed}).",
            )
        )
    return Section("latent", "Latent space", blocks)


def summary_section(model, name: str, test_set: ImageSet, state: dict | None, report: EvalReport | None) -> Section:
    config = model.config
    facts = [
        ("model", f"{name}: {family(model)}, bottleneck {config.bottleneck}, {parameter_count(model):,} parameters"),
        ("data", f"{test_set.name}, {describe_size(test_set.image_shape)}"),
    ]
    history = (state or {}).get("history") or {}
    if history.get("losses"):
        took = f" in {history['seconds'][-1]:.1f} s" if history.get("seconds") else ""
        facts.append(("training", f"{len(history['losses'])} epochs{took}, final loss {history['losses'][-1]:.5f}"))
    if report is not None:
        mse, pca = (q.mse for q in report.quality.values())
        facts.append(
            (
                "test MSE",
                f"{mse:.4f}, {abs(1 - mse / pca):.0%} {'below' if mse <= pca else 'above'} "
                f"{list(report.quality)[1]}'s {pca:.4f}",
            )
        )
    return Section(
        "summary",
        "Summary",
        [Facts(facts), Image(png(glance_figure(model, test_set)), "test images and their reconstructions")],
    )


def build_report(
    model,
    path,
    train_set: ImageSet,
    test_set: ImageSet,
    runtime: Runtime,
    request: ReportRequest,
    started: float,
    say=print,
) -> Page:
    name = Path(path).name.removesuffix(".pth")
    model.eval()
    state, why_not = read_run_state(path)
    say("drawing the lab's Steps 4-6")
    lab = lab_section(model, train_set, request, runtime.device)
    evaluated, report = ([], None)
    if request.evaluate:
        evaluated, report = evaluation_sections(model, name, train_set, test_set, request, runtime, say)
    say("drawing the latent space")
    latent = latent_section(model, name, test_set, request.seed)
    test_mse = report.quality[name].mse if report else None
    sections = [
        summary_section(model, name, test_set, state, report),
        model_section(model, path, train_set, test_set),
        recipe_section(state, why_not),
        training_section(state, why_not, test_mse),
        lab,
        *evaluated,
        latent,
        environment_section(runtime, started),
    ]
    return Page(f"{name}: autoencoder report", f"{path}", sections)
