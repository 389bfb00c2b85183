"""Folders of users' own image files read into :class:`~aelab.data.arrays.RawSplits`, in three
layouts told apart by what the folder holds: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*``
(torchvision's ImageFolder with splits; ``train/`` and ``test/`` may also hold loose images),
``PATH/<class>/*`` (the test split a seeded hold-out of each class) or ``PATH/*`` (no classes).

Files are chosen by suffix, as ImageFolder does (a README beside the images is no error); hidden files
and folders are skipped, among them the cache (:mod:`.cache`) that makes every run after the first start at once.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from . import cache
from .arrays import (
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    NO_CLASSES,
    RawSplits,
    check_image_size,
    check_options,
    convert_channels,
    holdout,
    holdout_note,
    split_arrays,
    stack_pixels,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm")
SKIPPED_FOLDERS = frozenset({"__MACOSX"})  # resource forks that macOS puts in zip archives
TRAIN, TEST = "train", "test"
SIXTEEN_BIT_STEP = 257  # 65535 / 255: a 16-bit grey level per 8-bit one
# LANCZOS keeps thin strokes sharp (BILINEAR blurs them, BOX blocks them); reducing_gap first box-shrinks big
# images by a whole factor: 512x512 to 28x28 is 5x faster, at most 3 grey levels off pure LANCZOS (6 on noise).
REDUCING_GAP = 3.0
FILES_PER_TASK = 256  # images one worker decodes per task: the bar's step, and a small pickling cost
TASKS_PER_WORKER = 4  # several tasks each, so one slow chunk does not leave the other cores idle
MIN_PARALLEL_FILES = 1000  # below this, starting worker processes costs about what it saves
MAX_LISTED = 5  # names shown in one line before "... (N in all)"
PNG_SIGNATURE, CRC_BYTES = b"\x89PNG\r\n\x1a\n", 4
PNG_CHUNK_HEAD = struct.Struct(">I4s")  # a chunk's length and type; its data and CRC follow
PNG_HEADER = struct.Struct(">IIBBBBB")  # IHDR: width, height, bit depth, colour type, compression, filter, interlace
PNG_MODES = {(8, 0): "L", (8, 2): "RGB"}  # (bit depth, colour type) that Pillow reads unconverted, as these
PNG_READ_CHUNKS = (b"IHDR", b"PLTE", b"IDAT", b"IEND")  # critical chunks; PLTE is only a hint in these modes
ANCILLARY_BIT = 0x20  # of a chunk type's first byte: a chunk that does not change the pixels (PNG spec 5.4)
ANIMATION_CHUNK = b"acTL"  # APNG: Pillow's first frame may not be the IDAT image
SMALL_PNG_PIXELS = 256 * 256  # above this the decoding outweighs the parsing; far below Pillow's bomb limit


@dataclass
class Found:
    """The image files of a folder, in a fixed order, with their labels and (given) split."""

    root: Path
    files: list[str]  # strings, not Paths: pathlib costs more than the stat of each file
    labels: np.ndarray
    in_test: np.ndarray | None  # None: the test split is a hold-out
    class_names: tuple[str, ...]
    layout: str


def listing(names) -> str:
    names = list(names)
    return ", ".join(names[:MAX_LISTED]) + (f", ... ({len(names)} in all)" if len(names) > MAX_LISTED else "")


def visible(name: str) -> bool:
    return not name.startswith(".") and name not in SKIPPED_FOLDERS


def raise_it(err: OSError):
    raise err  # os.walk would skip an unreadable folder, and its images with it, without a word


def image_files(folder: Path, recursive: bool) -> list[str]:
    """The images under ``folder`` (all depths, following links, as ImageFolder), sorted."""
    found = []
    for here, dirs, names in os.walk(folder, onerror=raise_it, followlinks=True):
        dirs[:] = [d for d in dirs if visible(d) and not cache.is_cache_folder(Path(here, d))] if recursive else []
        found += [os.path.join(here, n) for n in names if visible(n) and n.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(found)


def groups_in(folder: Path) -> tuple[list[tuple[str, list[str]]], bool]:
    """``([(class, images), ...], True)`` for a folder of class folders, else ``([("all", images)], False)``."""
    subs = sorted(p for p in folder.iterdir() if visible(p.name) and p.is_dir() and not cache.is_cache_folder(p))
    loose = image_files(folder, recursive=False)
    if not subs:
        if not loose:
            raise UserError(
                f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); put images in it, in class "
                "folders <class>/, or in train/<class>/ and test/<class>/"
            )
        return [(NO_CLASSES[0], loose)], False
    if loose:
        raise UserError(
            f"{folder} holds both loose images ({listing(map(os.path.basename, loose))}) and class folders "
            f"({listing(p.name for p in subs)}); move the loose images into a class folder"
        )
    classes = [(sub.name, image_files(sub, recursive=True)) for sub in subs]
    empty = [name for name, files in classes if not files]
    if empty:
        raise UserError(
            f"class folder(s) {listing(empty)} in {folder} hold no images ({', '.join(IMAGE_SUFFIXES)}); "
            "add images or remove the folder(s)"
        )
    return classes, True


def scan(root: Path) -> Found:
    """Which layout ``root`` has, and its image files; a folder none fits is refused in one line."""
    if not root.exists():
        raise UserError(f"image folder {root} does not exist; check the path")
    if not root.is_dir():
        raise UserError(f"{root} is a file, not a folder of images; give the folder (or an .npz/.npy file)")
    splits = [name for name in (TRAIN, TEST) if (root / name).is_dir()]
    if len(splits) == 1:
        other = TEST if splits == [TRAIN] else TRAIN
        raise UserError(
            f"{root} has {splits[0]}/ but no {other}/; add {other}/ with the same class folders, "
            "or put the class folders straight in it for a seeded hold-out"
        )
    if not splits:
        groups, classed = groups_in(root)
        return found_from(root, groups, None, "ImageFolder, hold-out" if classed else "flat, no classes")
    by_split = {split: groups_in(root / split) for split in (TRAIN, TEST)}
    names = {split: {name for name, _ in groups} if classed else set() for split, (groups, classed) in by_split.items()}
    if names[TRAIN] != names[TEST]:
        only = [
            f"only in {split}/: {listing(sorted(names[split] - names[other])) or '(loose images)'}"
            for split, other in ((TRAIN, TEST), (TEST, TRAIN))
            if names[split] - names[other] or not names[split]
        ]
        raise UserError(
            f"{root}: train/ and test/ hold different classes ({'; '.join(only)}); give both the same class folders"
        )
    layout = "ImageFolder, train/test" if names[TRAIN] else "train/test, no classes"
    return found_from(root, by_split[TRAIN][0], by_split[TEST][0], layout)


def found_from(root: Path, train, test, layout: str) -> Found:
    class_names = tuple(name for name, _ in train)
    groups = [(label, files, False) for label, (_, files) in enumerate(train)]
    groups += [(label, files, True) for label, (_, files) in enumerate(test or ())]
    files = [f for _, group, _ in groups for f in group]
    labels = np.concatenate([np.full(len(group), label, np.int64) for label, group, _ in groups])
    in_test = None if test is None else np.concatenate([np.full(len(group), t) for _, group, t in groups])
    return Found(root, files, labels, in_test, class_names, layout)


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
    from tqdm import tqdm

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


def decode_and_split(found: Found, image_size, channels, test_fraction, seed, skip_bad, progress) -> RawSplits:
    chunks = decode_files(found.files, image_size, progress)
    if all(isinstance(c, np.ndarray) for c in chunks) and len({c.shape[1:] for c in chunks}) == 1:
        pixels = np.concatenate(chunks)  # every file read, all of one shape: no work image by image
        pixels = pixels[:, None] if pixels.ndim == 3 else np.moveaxis(pixels, -1, 1)
        images, keep, bad = convert_channels(pixels, channels), slice(None), []
    else:
        results = [r for chunk in chunks for r in chunk]
        bad = [(path, result) for path, result in zip(found.files, results) if isinstance(result, str)]
        if bad and not skip_bad:
            others = f" and {len(bad) - 1} other file(s)" if len(bad) > 1 else ""
            raise UserError(
                f"cannot read {bad[0][0]} as an image ({bad[0][1]}){others}; fix or delete it, "
                "or pass --skip-bad-images to leave such files out"
            )
        keep = [i for i, result in enumerate(results) if not isinstance(result, str)]
        if not keep:
            raise UserError(
                f"none of the {len(results)} images in {found.root} can be read "
                f"(e.g. {bad[0][0]}: {bad[0][1]}); replace them"
            )
        pixels = [results[i] for i in keep]
        sizes = Counter(p.shape[:2] for p in pixels).most_common()
        if len(sizes) > 1:
            counts = ", ".join(
                f"{h}x{w} ({n}{' image' + 's' * (n > 1) if i == 0 else ''})" for i, ((h, w), n) in enumerate(sizes)
            )
            raise UserError(
                f"images in {found.root} differ in size: found {len(sizes)} sizes: {counts}; pass --image-size H W"
            )
        images = stack_pixels(pixels, channels)
    labels = found.labels[keep]
    if found.in_test is None:
        train, test = holdout(labels, test_fraction, seed)
        note = holdout_note(test_fraction, seed, per_class=len(found.class_names) > 1)
    else:
        in_test = found.in_test[keep]
        train, test, note = np.flatnonzero(~in_test), np.flatnonzero(in_test), "test/ folder"
        for split, members in ((TRAIN, train), (TEST, test)):
            if len(members) == 0:
                raise UserError(f"no image in {found.root / split}/ can be read; replace them")
    return RawSplits(
        *split_arrays(images, labels, train, test),
        found.class_names,
        f"folder {found.root} ({found.layout})",
        note,
        tuple(path for path, _ in bad),
    )


def read_folder(
    path,
    image_size=None,
    channels=None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
    cache_dir=None,
    skip_bad: bool = False,
    progress: bool = False,
) -> RawSplits:
    """A folder of images in any of the three layouts, decoded (or taken from the cache)."""
    root = Path(path).absolute()  # never ".": every file's path then starts with root's
    check_options(channels, test_fraction, seed)
    image_size = check_image_size(image_size)
    folders = cache.cache_folders(root, cache_dir) if root.is_dir() else []  # made first: scan skips them
    try:
        found = scan(root)
    except OSError as err:
        raise UserError(f"cannot read {err.filename or root} ({err.strerror or err}); fix its permissions") from None
    settings = {
        "image_size": image_size,
        "channels": channels,
        "test_fraction": float(test_fraction),
        "seed": int(seed),
        "skip_bad": bool(skip_bad),
    }
    return cache.cached_splits(
        folders,
        found.files,
        root,
        settings,
        f"folder {root} ({found.layout})",
        lambda: decode_and_split(found, progress=progress, **settings),
    )
