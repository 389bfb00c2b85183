"""One checkpoint's whole story on one page, as ``aelab report`` writes it: the parts gathered
and the figures drawn into PNG bytes in memory; :mod:`.report_html` lays them out. The numbers
and pictures come from the functions ``lab``, ``eval`` and ``figures`` use, so the page agrees
with those commands; only the API every model family shares is used (``encode``, ``decode``,
``forward``, ``interpolate``, ``config``), so any family's checkpoint makes a report.
"""

from __future__ import annotations

import dataclasses
import io
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.images import ImageSet, describe_size
from ..data.noise import seeded
from ..errors import UserError
from ..training import checkpoint
from ..training.config import TrainConfig
from ..training.runtime import Runtime
from .config import DENOISE_SEED, DENOISE_STDS, LAB_N_STEPS, LAB_NOISE_STD, LATENT_N_STEPS, LATENT_PAIRS
from .eval_report import denoising_section, reconstruction_section
from .evaluation import EvalReport, evaluate, model_reconstructor
from .inference import encode_all, model_device, reconstructions
from .lab_steps import denoise, reconstruct
from .latent import codes_figure, grid_figure, interpolation_figure, traversal_figure
from .pca import PCAReconstructor, fit_pca
from .plots import image_row, pyplot
from .report_html import Details, Facts, Image, Markdown, Page, Section, Table, Text
from .sweep import machine_description

# Screen resolution, not print: the lab's model's page stays near 1 MB (docs/report.md).
REPORT_DPI = 100
LOSS_FIGURE_INCHES = (8, 4)
GLANCE_CLASSES = 10  # at most this many columns in the summary's strip, whatever the dataset
SAMPLE_GRID = (4, 8)  # rows x columns of a variational model's samples
RUN_OWN = ("dataset", "seed")  # settings each run picks for itself: no recipe has a value for them
NOT_RECORDED = "not recorded: no run state beside the weights (a plain state_dict, as the lab's code saves)"


@dataclass
class ReportRequest:
    index: int = 0  # training image of Steps 4 and 5, as lab1.py asks for one
    pair: tuple[int, int] = (0, 1)  # training images of Step 6
    n_steps: int = LAB_N_STEPS
    noise_std: float = LAB_NOISE_STD
    seed: int = DENOISE_SEED  # of Step 5's noise and of the denoising table's
    noise_stds: tuple[float, ...] = DENOISE_STDS
    evaluate: bool = True  # PCA fit and test-set metrics: the slow part


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=REPORT_DPI, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)
    return buffer.getvalue()


def read_run_state(path) -> tuple[dict | None, str]:
    """The run state saved beside ``path`` and, when there is none to use, why."""
    if not checkpoint.state_path(path).is_file():
        return None, NOT_RECORDED
    try:
        return checkpoint.load_run_state(path), ""
    except UserError as err:  # the weights alone still make a report; say what is missing
        return None, f"not readable: {err}"


def shown(value) -> str:
    return "none" if value is None else str(value)


def family(model) -> str:
    return getattr(model.config, "family", None) or type(model).__name__


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def model_section(model, path, train_set: ImageSet, test_set: ImageSet) -> Section:
    config = model.config
    shape = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(vars(config))
    shape.setdefault("family", family(model))
    present = test_set.labels.unique(sorted=True).tolist()
    return Section(
        "model",
        "Model and data",
        [
            Facts(
                [("checkpoint", str(path)), ("parameters", f"{parameter_count(model):,}")]
                + [(name, shown(value)) for name, value in shape.items()]
            ),
            Facts(
                [
                    ("dataset", test_set.name),
                    ("image shape", describe_size(test_set.image_shape)),
                    ("images", f"{len(train_set):,} train, {len(test_set):,} test"),
                    ("classes", ", ".join(test_set.class_name(c) for c in present)),
                ]
            ),
        ],
    )


def recipe_section(state: dict | None, why_not: str) -> Section:
    if state is None or "train_config" not in state:
        return Section("recipe", "Recipe", [Text(why_not or NOT_RECORDED)])
    defaults = dataclasses.asdict(TrainConfig())
    rows = []
    for name, value in state["train_config"].items():
        lab = defaults.get(name, value)
        differs = name in defaults and shown(lab) != shown(value) and name not in RUN_OWN
        rows.append([name, shown(value), shown(lab) if differs else ""])
    return Section(
        "recipe",
        "Recipe",
        [
            Text(
                "The TrainConfig saved in the run state beside the weights; the last column gives the lab's "
                "value (TrainConfig's default) where this run's differs."
            ),
            Table(["setting", "value", "the lab's"], rows, numeric_from=3),
        ],
    )


def loss_figure(history: dict, loss: str, test_mse: float | None) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=LOSS_FIGURE_INCHES)
    epochs = range(1, len(history["losses"]) + 1)
    ax.plot(epochs, history["losses"], marker=".", label=f"train loss ({loss})")
    if test_mse is not None:
        ax.axhline(test_mse, color="tab:orange", linestyle="--", label=f"test MSE {test_mse:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"training loss ({loss})")
    ax.grid(alpha=0.3)
    if history.get("lrs"):
        lr_axis = ax.twinx()
        lr_axis.plot(epochs, history["lrs"], color="grey", linestyle=":", label="learning rate")
        lr_axis.set_yscale("log")
        lr_axis.set_ylabel("learning rate")
        lr_axis.legend(loc="upper center")
    ax.legend(loc="upper right")
    return png(fig)


def training_section(state: dict | None, why_not: str, test_mse: float | None) -> Section:
    history = (state or {}).get("history") or {}
    if not history.get("losses"):
        return Section("training", "Training", [Text(why_not or NOT_RECORDED)])
    losses, lrs, seconds = history["losses"], history.get("lrs", []), history.get("seconds", [])
    objective = state.get("train_config", {}).get("loss", "mse")
    per_epoch = [b - a for a, b in zip([0.0] + seconds, seconds)]
    planned = state.get("train_config", {}).get("epochs")
    facts = [
        ("epochs", f"{len(losses)}" + (f" of {planned} planned" if planned and planned != len(losses) else "")),
        ("final train loss", f"{losses[-1]:.5f} ({objective})"),
        ("trained on", shown(state.get("device"))),
    ]
    if per_epoch:
        facts += [
            ("training time", f"{seconds[-1]:.1f} s in all"),
            (
                "per epoch",
                f"{seconds[-1] / len(per_epoch):.2f} s on average, "
                f"{min(per_epoch):.2f} s fastest, {max(per_epoch):.2f} s slowest",
            ),
        ]
    mse_line = test_mse if objective == "mse" else None  # a test MSE over another loss's curve would mislead
    rows = [
        [str(epoch), f"{loss:.5f}", f"{lr:.2e}", f"{took:.2f}", f"{at:.1f}"]
        for epoch, (loss, lr, took, at) in enumerate(zip(losses, lrs, per_epoch, seconds), start=1)
    ]
    return Section(
        "training",
        "Training",
        [
            Facts(facts),
            Image(
                loss_figure(history, objective, mse_line),
                "training loss per epoch",
                "Training loss per epoch (mean over the epoch's batches), learning rate on the right axis.",
            ),
            Details(
                "every epoch",
                [Table(["epoch", "loss", "learning rate", "seconds", "cumulative s"], rows, numeric_from=0)],
            ),
        ],
    )


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


@torch.no_grad()
def sample_figure(model, title: str, seed: int):
    """A grid of a variational model's draws from its prior, repeatable and leaving the global RNG as it was."""
    rows, cols = SAMPLE_GRID
    device = model_device(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        images = model.sample(rows * cols).cpu()
    return grid_figure(
        images.reshape(rows, cols, -1), model.config.image_shape, [""] * rows, [""] * cols, title, "", ""
    )


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


def environment_section(runtime: Runtime, started: float) -> Section:
    import matplotlib
    import numpy

    return Section(
        "environment",
        "Environment",
        [
            Facts(
                [
                    ("python", platform.python_version()),
                    ("torch", torch.__version__),
                    ("numpy", numpy.__version__),
                    ("matplotlib", matplotlib.__version__),
                    ("device and CPU", machine_description(runtime)),
                    ("report built", f"{time.strftime('%Y-%m-%d %H:%M %Z')}, in {time.perf_counter() - started:.1f} s"),
                ]
            ),
            Text("Where this page was built; the training may have run elsewhere (see Training).", note=True),
        ],
    )


@torch.no_grad()
def glance_figure(model, images: ImageSet):
    """The first test image of a few classes over its reconstruction: the model at a glance."""
    classes = images.labels.unique(sorted=True).tolist()[:GLANCE_CLASSES]
    originals = torch.stack([images.image(int((images.labels == c).nonzero()[0])) for c in classes])
    recon = reconstructions(model, originals.to(model_device(model))).cpu()
    return grid_figure(
        torch.stack([originals, recon]),
        model.config.image_shape,
        ["test image", "reconstruction"],
        [images.class_name(c) for c in classes],
        "",
        "class",
        "",
    )


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
