"""An uploaded image file turned into the model's input exactly as the training images were made.

The folder reader decides how a file becomes pixels: :func:`aelab.data.decoding.decode`
(8-bit grey or RGB, alpha dropped, Pillow's LANCZOS resize) and
:func:`aelab.data.splits.stack_pixels` (the model's channels, grey by the integer ITU-R 601
luma). Both are reused here rather than copied, so an uploaded file is seen exactly as the same
file in a training folder would have been.

Uploads come from a browser, not from the user's own disk, so two more guards apply: only the
formats the folder reader reads are opened (Pillow would otherwise try every plugin it has,
some of which hand the file to outside programs), and a file whose header promises more than
``MAX_UPLOAD_PIXELS`` pixels, or a side over ``MAX_UPLOAD_SIDE``, is refused before it is
decoded (a few-kilobyte PNG can unpack to gigabytes).
"""

from __future__ import annotations

import io

import torch

from ..data.decoding import decode
from ..data.sources import PIXEL_MAX
from ..data.splits import stack_pixels
from ..errors import UserError

# Pillow's names for the formats behind the folder reader's IMAGE_SUFFIXES (MPO: the multi-picture
# JPEG many phone cameras write).
UPLOAD_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "WEBP", "GIF", "TIFF", "PPM")
FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF, WebP or PNM"
# A 50-megapixel photo still fits; decoding one takes about 200 MB for a moment. Pillow itself
# only warns from 89 megapixels, so the cap must be ours.
MAX_UPLOAD_PIXELS = 50_000_000
# WebP's own largest side. A thread-thin image of many million pixels costs Pillow's resize several
# times the memory and time of a photo of as many pixels; this keeps every upload near a photo's.
MAX_UPLOAD_SIDE = 16_384
NOT_AN_IMAGE = "the body is not an image Pillow can read"


def not_an_image(content_type: str) -> UserError:
    if content_type.lower().startswith("multipart/"):
        return UserError(
            f"{NOT_AN_IMAGE}: it is a multipart form; send the file's own bytes as the body "
            "(curl --data-binary @FILE, not -F)"
        )
    return UserError(f"{NOT_AN_IMAGE}; send a {FORMAT_NAMES} file as the body")


def received_size(data: bytes, content_type: str) -> tuple[int, int]:
    """``(height, width)`` from the file's header, after checking its format and pixel count."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as image:
            width, height = image.size
    except Image.DecompressionBombError:  # past twice Pillow's own limit: a bomb, not a photo
        raise UserError(
            f"the image has far more than the {MAX_UPLOAD_PIXELS} pixels uploads may have; send a smaller one"
        ) from None
    except Exception:  # Pillow raises many types for bytes it cannot identify; all mean "not an image"
        raise not_an_image(content_type) from None
    if width * height > MAX_UPLOAD_PIXELS or max(width, height) > MAX_UPLOAD_SIDE:
        raise UserError(
            f"the image is {height}x{width}; uploads may have up to {MAX_UPLOAD_PIXELS} pixels "
            f"and sides up to {MAX_UPLOAD_SIDE}; send a smaller one"
        )
    return height, width


def read_upload(
    data: bytes, image_shape: tuple[int, int, int], content_type: str = ""
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The file in ``data`` as a flat float image of ``image_shape`` (C, H, W), and its own size."""
    if not data:
        raise UserError(f"the body is empty; send a {FORMAT_NAMES} file as the body")
    size = received_size(data, content_type)
    channels, height, width = image_shape
    pixels = decode(io.BytesIO(data), (height, width))
    if isinstance(pixels, str):  # the header was fine but the pixels are damaged or cut short
        raise UserError(f"{NOT_AN_IMAGE}: {pixels}")
    image = torch.from_numpy(stack_pixels([pixels], channels)[0])
    return image.reshape(-1).float().div(PIXEL_MAX), size
