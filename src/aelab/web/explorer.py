"""What the web explorer computes, free of any web framework: one model of any family and its two splits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..analysis.inference import code_ranges, encode_all, psnr_per_image
from ..analysis.lab_steps import denoise
from ..data.images import ImageSet, describe_size
from ..errors import UserError
from ..models.base import Autoencoder
from .decoder import describe, weight_bytes

# A unit that is (nearly) constant over the training set still moves the decoder when pushed;
# give its slider this much room instead of a zero-width range.
MIN_SLIDER_SPAN = 1.0
ENCODE_BATCH = 4096  # bounds the memory of encoding a whole split at start-up
PIXEL_DECIMALS = 4  # 1/10000 is far below one grey level (1/255) and keeps answers small


@dataclass(frozen=True)
class SliderRange:
    low: float
    high: float


def psnr(reference: torch.Tensor, image: torch.Tensor) -> float | None:
    """Peak signal-to-noise ratio in dB; ``None`` for identical images (it would be infinite)."""
    value = float(psnr_per_image(image.reshape(1, -1), reference.reshape(1, -1))[0])
    return value if math.isfinite(value) else None


def pixels(image: torch.Tensor) -> list[float]:
    """A flat image as a short JSON-friendly list."""
    return np.round(image.detach().reshape(-1).double().cpu().numpy(), PIXEL_DECIMALS).tolist()


def slider_ranges(model: Autoencoder, images: ImageSet) -> list[SliderRange]:
    """Per bottleneck unit, the 1st-99th percentile of the codes of every training image."""
    low, high = code_ranges(encode_all(model, images, ENCODE_BATCH))
    return [SliderRange(float(lo), float(max(hi, lo + MIN_SLIDER_SPAN))) for lo, hi in zip(low.tolist(), high.tolist())]


class NeedsVAE(UserError):
    """Sampling asked of a model with no prior over its codes; the web layer answers 409."""


class Explorer:
    """Reconstruct, denoise, interpolate, encode, decode and (VAEs) sample on a loaded model and dataset.

    Every method checks its indices against the split and raises :class:`UserError`
    with a message meant for the user; the web layer turns those into 4xx answers.
    """

    def __init__(self, model: Autoencoder, train: ImageSet, test: ImageSet):
        for images in (train, test):
            images.check_fits(model.config.input_dim)
        if model.config.output_dim != model.config.input_dim:
            raise UserError(
                f"the checkpoint outputs {model.config.output_dim} pixels for {model.config.input_dim} "
                "in; the explorer shows only autoencoders whose output is an image like the input"
            )
        shape = model.config.image_shape
        if math.prod(shape) == model.config.input_dim and shape != train.image_shape:
            # as many pixels in another arrangement: every picture would come out scrambled
            raise UserError(
                f"the checkpoint is for {describe_size(shape)} images but {train.name} images are "
                f"{describe_size(train.image_shape)}; use the dataset it was trained on"
            )
        self.model = model.cpu().eval()
        self.splits = {"train": train, "test": test}
        self.ranges = slider_ranges(self.model, train)
        # Checked at start-up, so a decoder the page cannot run stops serve instead of the page.
        self.decoder_layers, self.decoder_params = describe(self.model)

    @property
    def config(self):
        return self.model.config

    @property
    def dataset(self) -> str:
        return self.splits["train"].name

    @property
    def shape(self) -> tuple[int, int, int]:
        """Channels, height and width as the dataset stores them; the model's output has as many pixels."""
        return tuple(self.splits["train"].image_shape)

    @property
    def image_shape(self) -> tuple[int, int]:
        """Height and width, as ``/api/info`` has always given them."""
        return self.shape[1:]

    @property
    def class_names(self) -> list[str]:
        """The name of every label the training split holds, in label order."""
        train = self.splits["train"]
        return [train.class_name(label) for label in torch.unique(train.labels).tolist()]

    def split(self, name: str) -> ImageSet:
        try:
            return self.splits[name]
        except KeyError:
            raise UserError(f"unknown split {name!r}; choose train or test") from None

    def image(self, split: str, index: int) -> torch.Tensor:
        return self.split(split).image(index)

    def label(self, split: str, index: int) -> int:
        return int(self.split(split).labels[index])

    def label_name(self, split: str, index: int) -> str:
        images = self.split(split)
        return images.class_name(int(images.labels[index]))

    @torch.inference_mode()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.encode(image.reshape(1, -1))[0]

    @torch.inference_mode()
    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.model.decode(code.reshape(1, -1))[0]

    @torch.inference_mode()
    def reconstruct(self, split: str, index: int) -> dict:
        return self.reconstruct_image(self.image(split, index))

    @torch.inference_mode()
    def reconstruct_image(self, image: torch.Tensor) -> dict:
        """Any flat image of the model's size: a dataset image, a drawing, an upload."""
        code = self.encode(image)
        output = self.decode(code)  # the model's forward pass, keeping the code on the way
        return {
            "original": image,
            "reconstruction": output,
            "code": code,
            "mse": float(torch.mean((output - image) ** 2)),
        }

    @torch.inference_mode()
    def denoise(self, split: str, index: int, noise: float, seed: int) -> dict:
        """The lab's Step 5: Gaussian noise of std ``noise`` (unclipped, as the model sees it)."""
        image = self.image(split, index)
        noisy, denoised = denoise(self.model, image, noise, torch.Generator().manual_seed(seed))
        return {
            "original": image,
            "noisy": noisy.clamp(0, 1),
            "denoised": denoised,
            "psnr_noisy": psnr(image, noisy),
            "psnr_denoised": psnr(image, denoised),
        }

    @torch.inference_mode()
    def interpolate(self, split: str, a: int, b: int, steps: int) -> torch.Tensor:
        return self.model.interpolate(self.image(split, a), self.image(split, b), steps)

    @property
    def can_sample(self) -> bool:
        return self.model.variational

    @torch.inference_mode()
    def sample(self, n: int, temperature: float, seed: int) -> torch.Tensor:
        """``n`` images decoded from the prior; the same seed and ``n`` draw the same codes."""
        if not self.can_sample:
            raise NeedsVAE(
                f"sampling needs a VAE (--model vae or conv-vae): this checkpoint is a plain "
                f"{self.config.family} autoencoder, which has no prior over its codes to draw from"
            )
        return self.model.sample(n, temperature, torch.Generator().manual_seed(seed))

    def decoder_weights(self) -> bytes:
        """The weights of :attr:`decoder_layers` in order (see :mod:`.decoder`)."""
        return weight_bytes(self.decoder_params)
