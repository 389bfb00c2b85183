"""How well a model reconstructs a split: the lab's MSE, PSNR, SSIM, per-class MSE, denoising.

Conventions, so numbers compare across runs and with the lab's:

* MSE is the lab's: the mean over pixels (and images) on the 0-1 pixel scale.
* PSNR is per image, ``10 log10(1 / MSE_image)`` with a data range of 1, then averaged
  over images (the usual convention in image restoration; it weighs every image alike);
  :mod:`.inference` computes it, for every command alike.
* SSIM is torchmetrics' (Gaussian window 11, sigma 1.5), averaged over images.
* Denoising adds ``N(0, std^2)`` noise, unclipped as in the lab's Step 5 (or, asked for,
  clipped to [0, 1] as a stored image would be), from a seeded generator, so a run repeats
  and every model sees the very same noisy images.

Anything that maps flat images to flat reconstructions (a model, a PCA) is evaluated
the same way: a *reconstructor* is just such a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..data.images import ImageSet, describe_size
from ..data.noise import noisy_copy, seeded
from ..errors import UserError
from ..models.base import Autoencoder
from .config import DENOISE_SEED, DENOISE_STDS
from .inference import model_device, per_image_mse, psnr_per_image, reconstructions

SSIM_BATCH = 2_000  # SSIM stacks five blurred copies of a batch; this bounds its memory
DATA_RANGE = 1.0

Reconstructor = Callable[[torch.Tensor], torch.Tensor]


def model_reconstructor(model: Autoencoder) -> Reconstructor:
    device = model_device(model)
    return lambda images: reconstructions(model, images.to(device)).to(images.device)


def check_compatible(model: Autoencoder, images: ImageSet, path=None) -> None:
    """A checkpoint for another image size cannot be evaluated on this dataset; say so plainly."""
    source = str(path) if path is not None else "the checkpoint"
    images.check_fits(model.config.input_dim, source)
    images.check_fits(model.config.output_dim, source)
    if model.spatial and tuple(images.image_shape) != model.config.image_shape:
        # as many pixels in another layout would pass through the convolutions as nonsense
        raise UserError(
            f"{source} is a {model.config.family} model for {describe_size(model.config.image_shape)} "
            f"images but {images.name} images are {describe_size(images.image_shape)}; use the "
            "dataset it was trained on, or --image-size and --channels to match it"
        )


def torchmetrics_image():
    try:
        from torchmetrics.functional import image
    except ImportError:
        raise UserError(
            "SSIM needs torchmetrics, a dependency of aelab; reinstall it: pip install torchmetrics"
        ) from None
    return image


def mean_ssim(recon: torch.Tensor, target: torch.Tensor, image_shape) -> float:
    metrics = torchmetrics_image()
    total = 0.0
    for r, t in zip(recon.split(SSIM_BATCH), target.split(SSIM_BATCH)):
        r, t = r.reshape(-1, *image_shape), t.reshape(-1, *image_shape)
        total += metrics.structural_similarity_index_measure(r, t, data_range=DATA_RANGE, reduction="sum").item()
    return total / len(recon)


def per_class_mse(errors: torch.Tensor, labels: torch.Tensor) -> dict[int, float]:
    """Mean of the per-image MSE within each label present; weighted by counts it gives the overall MSE."""
    return {int(c): errors[labels == c].mean().item() for c in labels.unique(sorted=True)}


@dataclass
class Quality:
    mse: float
    psnr: float
    ssim: float
    per_class_mse: dict[int, float]


@dataclass
class DenoiseRow:
    noise_std: float
    noisy_psnr: float  # the noisy input itself against the clean image
    denoised_psnr: dict[str, float]  # reconstructor name -> PSNR of its output on the noisy input


@dataclass
class EvalReport:
    dataset: str
    split: str
    n_images: int
    seed: int
    clip_noise: bool = False
    class_counts: dict[int, int] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()  # label i's name; empty when the labels are their own names
    quality: dict[str, Quality] = field(default_factory=dict)
    denoising: list[DenoiseRow] = field(default_factory=list)

    def class_name(self, label: int) -> str:
        return self.class_names[label] if self.class_names else str(label)

    @property
    def noise_clipping(self) -> str:
        return "clipped to [0, 1]" if self.clip_noise else "unclipped"

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "n_images": self.n_images,
            "conventions": {
                "mse": "mean over pixels and images, 0-1 scale",
                "psnr": "dB, per image with data range 1, mean over images",
                "ssim": "torchmetrics, Gaussian window 11, sigma 1.5, mean over images",
                "noise": f"Gaussian, {self.noise_clipping}, seeded",
                "seed": self.seed,
            },
            "class_counts": {self.class_name(c): n for c, n in self.class_counts.items()},
            "reconstruction": {
                name: {
                    "mse": q.mse,
                    "psnr": q.psnr,
                    "ssim": q.ssim,
                    "per_class_mse": {self.class_name(c): v for c, v in q.per_class_mse.items()},
                }
                for name, q in self.quality.items()
            },
            "denoising": [
                {"noise_std": r.noise_std, "noisy_psnr": r.noisy_psnr, "denoised_psnr": r.denoised_psnr}
                for r in self.denoising
            ],
        }


def quality(recon: torch.Tensor, images: ImageSet, clean: torch.Tensor) -> Quality:
    errors = per_image_mse(recon, clean)
    return Quality(
        mse=errors.mean().item(),
        psnr=psnr_per_image(recon, clean).mean().item(),
        ssim=mean_ssim(recon, clean, images.image_shape),
        per_class_mse=per_class_mse(errors.cpu(), images.labels),
    )


def evaluate(
    reconstructors: dict[str, Reconstructor],
    images: ImageSet,
    noise_stds=DENOISE_STDS,
    seed: int = DENOISE_SEED,
    device="cpu",
    clip_noise: bool = False,
) -> EvalReport:
    """Every reconstructor on the clean split, then on the same seeded noisy copies of it."""
    clean = images.floats(device)
    classes, counts = images.labels.unique(sorted=True, return_counts=True)
    report = EvalReport(
        dataset=images.name,
        split=images.split,
        n_images=len(images),
        seed=seed,
        clip_noise=clip_noise,
        class_counts=dict(zip(classes.tolist(), counts.tolist())),
        class_names=images.class_names,
    )
    for name, reconstruct in reconstructors.items():
        report.quality[name] = quality(reconstruct(clean), images, clean)
    for std in noise_stds:
        noisy = noisy_copy(clean, std, seeded(seed), clip_noise)
        denoised = {
            name: psnr_per_image(reconstruct(noisy), clean).mean().item()
            for name, reconstruct in reconstructors.items()
        }
        report.denoising.append(
            DenoiseRow(
                noise_std=float(std), noisy_psnr=psnr_per_image(noisy, clean).mean().item(), denoised_psnr=denoised
            )
        )
    return report
