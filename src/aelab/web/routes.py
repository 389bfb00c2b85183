"""The explorer's JSON API: one route per thing the page asks of the model, added to an app.

Each route answers from an :class:`Explorer`; the app around them (its limits, its error
answers, the static page) is :mod:`.app`'s.
"""

# No ``from __future__ import annotations``: FastAPI must see the request models built
# inside add_routes, which string annotations would hide from it.

import random
from typing import Annotated

import torch
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..analysis.config import LAB_NOISE_STD
from .explorer import Explorer, pixels
from .schemas import (
    MAX_UPLOAD_BYTES,
    NOISE_MAX,
    SAMPLES_DEFAULT,
    SAMPLES_MAX,
    SEED_MAX,
    STEPS_DEFAULT,
    STEPS_MAX,
    STEPS_MIN,
    TEMPERATURE_DEFAULT,
    TEMPERATURE_MAX,
    CodeOut,
    DecodeOut,
    DenoiseOut,
    ErrorOut,
    ImageOut,
    InfoOut,
    InterpolateOut,
    PixelsReconstructOut,
    ReconstructOut,
    SampleOut,
    SampleRequest,
    Split,
    UploadOut,
    request_models,
)
from .uploads import FORMAT_NAMES, read_upload

BAD_INPUT = {422: {"model": ErrorOut, "description": "the request is invalid; `detail` says why"}}
BAD_BODY = {**BAD_INPUT, 400: {"model": ErrorOut, "description": "the body could not be read as JSON text"}}
NOT_A_VAE = 409  # the request is fine; the loaded model cannot do it

# The upper bound depends on the split, so each request checks it and names the valid range.
INDEX_HELP = "image index in the split, from 0 to its size - 1 (see /api/info)"
Index = Annotated[int, Query(ge=0, description=INDEX_HELP)]
SplitQuery = Annotated[Split, Query(description="which split the indices refer to")]
UPLOAD_PATH = "/api/upload"
# The body is the file itself, not JSON; FastAPI cannot infer that from a handler that reads it raw.
UPLOAD_BODY = {
    "required": True,
    "description": f"the image file's own bytes ({FORMAT_NAMES}); "
    "Content-Type application/octet-stream or the image's type",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def add_routes(app: FastAPI, explorer: Explorer, body_limit: int) -> None:
    """The API's routes on ``app``, answering from ``explorer``; bodies over ``body_limit`` bytes get 413."""
    config = explorer.config
    EncodeRequest, DecodeRequest = request_models(config.input_dim, config.bottleneck)
    decoder_bytes = explorer.decoder_weights()
    bad_body = {
        **BAD_BODY,
        413: {
            "model": ErrorOut,
            "description": f"the body is over the {body_limit}-byte limit; refused, never read whole",
        },
    }
    bad_upload = {
        **BAD_INPUT,
        413: {
            "model": ErrorOut,
            "description": f"the file is over the {MAX_UPLOAD_BYTES}-byte upload limit; refused, never read whole",
        },
    }
    channels = explorer.shape[0]

    # exclude_none: each decoder layer lists only the fields of its own kind
    @app.get(
        "/api/info",
        response_model=InfoOut,
        response_model_exclude_none=True,
        summary="the model, the dataset and the input limits",
    )
    def info():
        return InfoOut(
            dataset=explorer.dataset,
            family=config.family,
            layer_sizes=config.layer_sizes,
            can_sample=explorer.can_sample,
            image_shape=list(explorer.image_shape),
            channels=channels,
            class_names=explorer.class_names,
            upload_max_bytes=MAX_UPLOAD_BYTES,
            splits={name: len(images) for name, images in explorer.splits.items()},
            bottleneck=config.bottleneck,
            hidden=config.hidden,
            code_activation=config.code_activation,
            decoder_layers=explorer.decoder_layers,
            sliders=[{"low": r.low, "high": r.high} for r in explorer.ranges],
            noise_default=LAB_NOISE_STD,
            noise_max=NOISE_MAX,
            steps_min=STEPS_MIN,
            steps_max=STEPS_MAX,
            steps_default=STEPS_DEFAULT,
            samples_max=SAMPLES_MAX,
            samples_default=SAMPLES_DEFAULT,
            temperature_max=TEMPERATURE_MAX,
            temperature_default=TEMPERATURE_DEFAULT,
        )

    @app.get(
        "/api/images/{split}/{index}",
        response_model=ImageOut,
        responses=BAD_INPUT,
        summary="one dataset image and its label",
    )
    def dataset_image(split: Split, index: Annotated[int, PathParam(ge=0, description=INDEX_HELP)]):
        image = explorer.image(split, index)
        return ImageOut(
            split=split,
            index=index,
            label=explorer.label(split, index),
            label_name=explorer.label_name(split, index),
            pixels=pixels(image),
        )

    @app.post("/api/encode", response_model=CodeOut, responses=bad_body, summary="an image to its code")
    def encode(body: EncodeRequest):
        return CodeOut(code=explorer.encode(torch.tensor(body.pixels)).tolist())

    @app.post("/api/decode", response_model=DecodeOut, responses=bad_body, summary="a code to an image")
    def decode(body: DecodeRequest):
        return DecodeOut(pixels=pixels(explorer.decode(torch.tensor(body.code))))

    @app.post(
        "/api/reconstruct-pixels",
        response_model=PixelsReconstructOut,
        responses=bad_body,
        summary="any image (a drawing, say) to its code, its reconstruction and their MSE",
    )
    def reconstruct_pixels(body: EncodeRequest):
        out = explorer.reconstruct_image(torch.tensor(body.pixels))
        return PixelsReconstructOut(
            code=out["code"].tolist(), reconstruction=pixels(out["reconstruction"]), mse=out["mse"]
        )

    def reconstruct_upload(data: bytes, content_type: str) -> UploadOut:
        image, size = read_upload(data, explorer.shape, content_type)
        out = explorer.reconstruct_image(image)
        return UploadOut(
            original=pixels(image),
            reconstruction=pixels(out["reconstruction"]),
            code=out["code"].tolist(),
            mse=out["mse"],
            size_received=list(size),
        )

    @app.post(
        UPLOAD_PATH,
        response_model=UploadOut,
        responses=bad_upload,
        openapi_extra={"requestBody": UPLOAD_BODY},
        summary="an image file, converted and resized as the training images were, and its reconstruction",
    )
    async def upload(request: Request):
        data = await request.body()  # the BodyLimit middleware has capped it
        # Decoding and resizing take tens of milliseconds for a photo: off the event loop.
        return await run_in_threadpool(reconstruct_upload, data, request.headers.get("content-type", ""))

    @app.get(
        "/api/reconstruct",
        response_model=ReconstructOut,
        responses=BAD_INPUT,
        summary="a dataset image, its code, its reconstruction and their MSE",
    )
    def reconstruct(split: SplitQuery, index: Index):
        out = explorer.reconstruct(split, index)
        return ReconstructOut(
            split=split,
            index=index,
            label=explorer.label(split, index),
            label_name=explorer.label_name(split, index),
            mse=out["mse"],
            original=pixels(out["original"]),
            reconstruction=pixels(out["reconstruction"]),
            code=out["code"].tolist(),
        )

    @app.get(
        "/api/denoise",
        response_model=DenoiseOut,
        responses=BAD_INPUT,
        summary="add Gaussian noise to a dataset image and reconstruct it",
    )
    def denoise(
        split: SplitQuery,
        index: Index,
        noise: Annotated[
            float, Query(ge=0, le=NOISE_MAX, allow_inf_nan=False, description="std of the Gaussian noise")
        ] = LAB_NOISE_STD,
        seed: Annotated[int, Query(ge=0, le=SEED_MAX, description="the same seed gives the same noise")] = 0,
    ):
        out = explorer.denoise(split, index, noise, seed)
        return DenoiseOut(
            split=split,
            index=index,
            label=explorer.label(split, index),
            label_name=explorer.label_name(split, index),
            noise=noise,
            seed=seed,
            original=pixels(out["original"]),
            noisy=pixels(out["noisy"]),
            denoised=pixels(out["denoised"]),
            psnr_noisy=out["psnr_noisy"],
            psnr_denoised=out["psnr_denoised"],
        )

    @app.get(
        "/api/interpolate",
        response_model=InterpolateOut,
        responses=BAD_INPUT,
        summary="decode evenly spaced codes between two images' codes, both ends included",
    )
    def interpolate(
        split: SplitQuery,
        a: Index,
        b: Index,
        steps: Annotated[
            int, Query(ge=STEPS_MIN, le=STEPS_MAX, description="frames, both ends included")
        ] = STEPS_DEFAULT,
    ):
        frames = explorer.interpolate(split, a, b, steps)
        weights = [i / (steps - 1) for i in range(steps)]
        return InterpolateOut(
            split=split, a=a, b=b, steps=steps, weights=weights, frames=[pixels(frame) for frame in frames]
        )

    @app.post(
        "/api/sample",
        response_model=SampleOut,
        summary="new images from a VAE's prior",
        responses={
            **bad_body,
            NOT_A_VAE: {"model": ErrorOut, "description": "the model is not a VAE, so it has no prior to sample"},
        },
    )
    def sample(body: SampleRequest):
        seed = random.randint(0, SEED_MAX) if body.seed is None else body.seed
        images = explorer.sample(body.n, body.temperature, seed)
        return SampleOut(n=body.n, temperature=body.temperature, seed=seed, images=[pixels(image) for image in images])

    @app.get(
        "/api/decoder",
        response_class=Response,
        summary="the decoder's weights, for decoding in the browser",
        responses={
            200: {
                "content": {"application/octet-stream": {}},
                "description": "little-endian float32: each of /api/info's decoder_layers that has weights, "
                "in order, its weight then its bias, in PyTorch's layout, row-major (linear: "
                "outputs x inputs; conv_transpose: in channels x out channels x kernel x "
                "kernel); decode runs the layers on the code in order (conv_transpose on "
                "channel-major planes), then a sigmoid",
            }
        },
    )
    def decoder():
        return Response(content=decoder_bytes, media_type="application/octet-stream")
