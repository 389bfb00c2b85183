"""The JSON shapes of the explorer's API; the request bodies are sized to the loaded model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, create_model

Split = Literal["train", "test"]
Pixels = list[float]

NOISE_MAX = 1.0  # a noise std of 1 already buries a digit; the slider stops there
STEPS_MIN, STEPS_MAX, STEPS_DEFAULT = 2, 64, 8  # both endpoints, up to a strip that still fits
SEED_MAX = 2**32 - 1
# Sampling: up to an 8 x 8 grid in one answer; a temperature of 2 already draws codes twice as
# spread as the prior the decoder was trained against.
SAMPLES_MAX, SAMPLES_DEFAULT = 64, 16
TEMPERATURE_MAX, TEMPERATURE_DEFAULT = 2.0, 1.0
# Training codes stay well inside +-100; the bound keeps float32 decoding finite for any input.
CODE_BOUND = 10_000.0
# The request body limit fits the largest legal request, an encode body of input_dim numbers.
# The longest repr of a float is 24 characters (-2.2250738585072014e-308); each number may take
# twice that with its comma, spaces, a newline and indentation (json.dumps(indent=4) needs 34).
MAX_NUMBER_CHARS = 48
BODY_MARGIN_BYTES = 4096  # the braces, the key and any whitespace around them
# An upload is a whole image file: a phone photo is 2-4 MB as JPEG; a drawing is a few kilobytes.
MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20
PIXELS_HELP = (
    "C x H x W pixels in [0, 1], channel-major: for colour the red plane, then green, then blue, each plane row-major"
)


class ErrorOut(BaseModel):
    detail: str = Field(description="what is wrong with the request, in one line")


class SliderOut(BaseModel):
    low: float
    high: float


class DecoderLayerOut(BaseModel):
    kind: Literal["linear", "relu", "conv_transpose"]
    inputs: int | None = Field(None, description="linear: numbers in")
    outputs: int | None = Field(None, description="linear: numbers out")
    in_shape: list[int] | None = Field(None, description="conv_transpose: channels, height, width in")
    out_shape: list[int] | None = Field(None, description="conv_transpose: channels, height, width out")
    kernel: int | None = Field(None, description="conv_transpose: the square kernel's side")
    stride: int | None = None
    padding: int | None = None


class InfoOut(BaseModel):
    dataset: str
    family: str = Field(description="the model family: mlp, conv, vae or conv-vae")
    layer_sizes: str = Field(description="the model's shape as the command line names it, e.g. 784-392-8")
    can_sample: bool = Field(description="a VAE: /api/sample draws new images from its prior")
    image_shape: list[int] = Field(
        description="height and width; images are flat lists of channels x height x width pixels, channel-major"
    )
    channels: int = Field(description="1 (grey) or 3 (colour: red, green and blue planes)")
    class_names: list[str] = Field(
        description="the name of every label in the training split, in label order (MNIST's are its digits)"
    )
    splits: dict[str, int] = Field(description="number of images in each split")
    bottleneck: int
    hidden: int = Field(description="units in each hidden layer")
    code_activation: str = Field(description="relu or none (a VAE's code, its posterior mean, is linear)")
    decoder_layers: list[DecoderLayerOut] = Field(
        description="the decoder, layer by layer, as /api/decoder's weights are laid out"
    )
    sliders: list[SliderOut] = Field(
        description="per bottleneck unit, the 1st-99th percentile of the training images' codes"
    )
    noise_default: float
    noise_max: float
    steps_min: int
    steps_max: int
    steps_default: int
    upload_max_bytes: int = Field(description="the largest image file /api/upload takes")
    samples_max: int
    samples_default: int
    temperature_max: float
    temperature_default: float


LabelName = Annotated[str, Field(description="the label's class name (a digit's is the digit)")]


class ImageOut(BaseModel):
    split: Split
    index: int
    label: int
    label_name: LabelName
    pixels: Pixels = Field(description=PIXELS_HELP)


class CodeOut(BaseModel):
    code: list[float]


class DecodeOut(BaseModel):
    pixels: Pixels


class ReconstructOut(BaseModel):
    split: Split
    index: int
    label: int
    label_name: LabelName
    original: Pixels
    reconstruction: Pixels
    code: list[float]
    mse: float = Field(description="mean squared error per pixel between original and reconstruction")


class PixelsReconstructOut(BaseModel):
    code: list[float]
    reconstruction: Pixels
    mse: float = Field(description="mean squared error per pixel between the pixels sent and the reconstruction")


class UploadOut(BaseModel):
    original: Pixels = Field(
        description="the file as the model sees it: converted to the model's channels "
        "and resized to its height and width as the training images were"
    )
    reconstruction: Pixels
    code: list[float]
    mse: float = Field(description="mean squared error per pixel between original and reconstruction")
    size_received: list[int] = Field(description="the file's own height and width, before resizing")


class DenoiseOut(BaseModel):
    split: Split
    index: int
    label: int
    label_name: LabelName
    noise: float
    seed: int
    original: Pixels
    noisy: Pixels = Field(description="the noisy input, clipped to [0, 1] for display")
    denoised: Pixels
    psnr_noisy: float | None = Field(
        description="PSNR (dB) of the noisy image the model sees (unclipped); null when identical"
    )
    psnr_denoised: float | None


class InterpolateOut(BaseModel):
    split: Split
    a: int
    b: int
    steps: int
    weights: list[float] = Field(description="where each frame lies between image a (0) and b (1)")
    frames: list[Pixels]


class SampleRequest(BaseModel):
    # Strict, like the other bodies: "16", "0.5" and true are not numbers, and a count or a seed
    # must be a whole number (16, not 16.0); a seed of null draws a new one.
    n: int = Field(SAMPLES_DEFAULT, strict=True, ge=1, le=SAMPLES_MAX, description="how many images")
    temperature: float = Field(
        TEMPERATURE_DEFAULT,
        strict=True,
        gt=0,
        le=TEMPERATURE_MAX,
        allow_inf_nan=False,
        description="scale of the prior's spread: below 1 typical images, above 1 varied",
    )
    seed: int | None = Field(
        None,
        strict=True,
        ge=0,
        le=SEED_MAX,
        description="the same seed, n and temperature give the same images; none: a new seed",
    )


class SampleOut(BaseModel):
    n: int
    temperature: float
    seed: int = Field(description="the seed these images came from; send it to draw them again")
    images: list[Pixels] = Field(description=f"n new images, each {PIXELS_HELP}")


def max_body_bytes(input_dim: int, bottleneck: int) -> int:
    """The request body limit: the longer request body's numbers, each at its allowance, plus the margin."""
    return max(input_dim, bottleneck) * MAX_NUMBER_CHARS + BODY_MARGIN_BYTES


def bounded_vector(length: int, low: float, high: float, what: str):
    # Strict: only JSON numbers. An int (JSON 0 or 1) is still a number; "0.5", true and null are not.
    item = Annotated[float, Field(strict=True, ge=low, le=high, allow_inf_nan=False)]
    return Annotated[
        list[item],
        Field(min_length=length, max_length=length, description=f"{length} {what}, each in [{low:g}, {high:g}]"),
    ]


def request_models(input_dim: int, bottleneck: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """Encode and decode bodies whose lengths are the model's, so the schema documents them."""
    encode = create_model("EncodeRequest", pixels=(bounded_vector(input_dim, 0.0, 1.0, "pixels"), ...))
    decode = create_model(
        "DecodeRequest", code=(bounded_vector(bottleneck, -CODE_BOUND, CODE_BOUND, "code values"), ...)
    )
    return encode, decode
