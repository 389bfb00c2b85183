"""Image files decoded into uint8 pixels, one by one or over all cores, each failure kept as a reason.

Pillow reads every format; small 8-bit PNGs, the common case of digit-sized images, skip its
parser (:func:`small_png`), which costs more than their decoding. An image that cannot be read
comes back as a short reason, not an exception, so the caller can name it or leave it out.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from PIL import Image

SIXTEEN_BIT_STEP = 257  # 65535 / 255: a 16-bit grey level per 8-bit one
# LANCZOS keeps thin strokes sharp (BILINEAR blurs them, BOX blocks them); reducing_gap first box-shrinks big
# images by a whole factor: 512x512 to 28x28 is 5x faster, at most 3 grey levels off pure LANCZOS (6 on noise).
REDUCING_GAP = 3.0
FILES_PER_TASK = 256  # images one worker decodes per task: the bar's step, and a small pickling cost
TASKS_PER_WORKER = 4  # several tasks each, so one slow chunk does not leave the other cores idle
MIN_PARALLEL_FILES = 1000  # below this, starting worker processes costs about what it saves
PNG_SIGNATURE, CRC_BYTES = b"\x89PNG\r\n\x1a\n", 4
PNG_CHUNK_HEAD = struct.Struct(">I4s")  # a chunk's length and type; its data and CRC follow
PNG_HEADER = struct.Struct(">IIBBBBB")  # IHDR: width, height, bit depth, colour type, compression, filter, interlace
PNG_MODES = {(8, 0): "L", (8, 2): "RGB"}  # (bit depth, colour type) that Pillow reads unconverted, as these
PNG_READ_CHUNKS = (b"IHDR", b"PLTE", b"IDAT", b"IEND")  # critical chunks; PLTE is only a hint in these modes
ANCILLARY_BIT = 0x20  # of a chunk type's first byte: a chunk that does not change the pixels (PNG spec 5.4)
ANIMATION_CHUNK = b"acTL"  # APNG: Pillow's first frame may not be the IDAT image
SMALL_PNG_PIXELS = 256 * 256  # above this the decoding outweighs the parsing; far below Pillow's bomb limit


def eight_bit(image):
    """``image`` as 8-bit grey ("L") or "RGB"; alpha is dropped, as for arrays."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode.startswith("I;16"):  # 16-bit PNG/TIFF: Pillow's own convert would clip, not scale
        wide = np.asarray(image).astype(np.uint32)
        return Image.fromarray(((wide + SIXTEEN_BIT_STEP // 2) // SIXTEEN_BIT_STEP).astype(np.uint8))
    if mode in ("1", "LA", "La", "I", "F"):
        return image.convert("L")
    if mode in ("P", "PA"):  # palette: grey when the palette is (MNIST PNGs often are)
        rgb = image.convert("RGBA").convert("RGB")
        pixels = np.asarray(rgb)
        grey = (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
        return Image.fromarray(np.ascontiguousarray(pixels[..., 0])) if grey else rgb
    return image.convert("RGB")


def small_png(path):
    """A small 8-bit grey or RGB PNG, its chunks (and CRCs) read here, its pixels by Pillow's zlib decoder: for
    small images ``Image.open``'s parsing, in Python, costs more than the decoding. None for any other file."""
    if not isinstance(path, str) or not path.lower().endswith(".png"):
        return None  # a file object, or not a PNG by name
    with open(path, "rb") as f:  # a file that cannot be read fails here as it would in Image.open
        data = f.read()
    pos, header, idat = len(PNG_SIGNATURE), None, []
    while data.startswith(PNG_SIGNATURE) and pos + PNG_CHUNK_HEAD.size + CRC_BYTES <= len(data):
        length, kind = PNG_CHUNK_HEAD.unpack_from(data, pos)
        body, end = pos + PNG_CHUNK_HEAD.size, pos + PNG_CHUNK_HEAD.size + length
        if (
            end + CRC_BYTES > len(data)
            or (header is None) != (kind == b"IHDR")
            or zlib.crc32(data[pos + CRC_BYTES : end]) != int.from_bytes(data[end : end + CRC_BYTES], "big")
        ):
            return None
        if kind == b"IEND":
            break
        header = PNG_HEADER.unpack_from(data, body) if kind == b"IHDR" and length == PNG_HEADER.size else header
        idat += [data[body:end]] if kind == b"IDAT" else []
        if kind == ANIMATION_CHUNK or not (kind[0] & ANCILLARY_BIT or kind in PNG_READ_CHUNKS):
            return None  # an animation, or a critical chunk that Pillow may read otherwise
        pos = end + CRC_BYTES
    else:
        return None  # not a PNG, or cut short before its IEND
    width, height, depth, colour, compression, filtering, interlace = header
    mode = PNG_MODES.get((depth, colour))
    if mode is None or compression or filtering or interlace or not 0 < width * height <= SMALL_PNG_PIXELS:
        return None
    try:
        return Image.frombytes(mode, (width, height), b"".join(idat), "zip", mode)
    except ValueError:  # not enough data, or not zlib's
        return None


def decode(path, image_size) -> np.ndarray | str:
    """One image (a path or a binary file object) as uint8 ``H x W`` or ``H x W x 3``, or why not."""
    try:
        with small_png(path) or Image.open(path) as image:
            image.load()  # decodes now, so a truncated file fails here, inside the try
            pixels = eight_bit(image)
            if image_size is not None and pixels.size != (image_size[1], image_size[0]):
                pixels = pixels.resize(
                    (image_size[1], image_size[0]), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP
                )
            return np.asarray(pixels)
    except Exception as err:  # Pillow's plugins raise many types on damaged files; all mean "bad file"
        return " ".join(str(err).split()) or type(err).__name__


def decode_chunk(paths: list[str], image_size):
    """Files decoded: one ``N x H x W (x 3)`` array where their images share a shape (one object for
    a worker to pickle and the parent to join, not hundreds), else a list of arrays and reasons."""
    results = [decode(path, image_size) for path in paths]
    shapes = {r.shape if isinstance(r, np.ndarray) else None for r in results}
    return np.stack(results) if len(shapes) == 1 and None not in shapes else results


def decode_files(paths: list[str], image_size, progress: bool) -> list:
    """Every file decoded, in order, in chunks (:func:`decode_chunk`), over all cores when there are enough
    files to pay for it: in processes, as Python's own work per small image holds the GIL longer than the decoder."""
    from ..progress import progress_bar

    tqdm = progress_bar()

    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    bar = tqdm(
        total=len(paths),
        desc="decoding images",
        unit="image",
        file=sys.stderr,
        disable=not progress or not sys.stderr.isatty(),
    )
    size = max(1, min(FILES_PER_TASK, -(-len(paths) // (workers * TASKS_PER_WORKER))))
    chunks = [paths[start : start + size] for start in range(0, len(paths), size)]
    with bar:
        if workers > 1 and len(paths) >= MIN_PARALLEL_FILES:
            try:  # the default start method (fork on Linux) starts the workers at once
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    futures = [pool.submit(decode_chunk, chunk, image_size) for chunk in chunks]
                    for future in as_completed(futures):
                        bar.update(len(future.result()))
                    return [future.result() for future in futures]
            except (BrokenProcessPool, OSError, NotImplementedError, RuntimeError):
                # no worker processes here (a sandbox without semaphores, or no __main__ guard for spawn)
                bar.reset()
        results = []
        for chunk in chunks:
            results.append(decode_chunk(chunk, image_size))
            bar.update(len(chunk))
        return results
