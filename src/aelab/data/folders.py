"""Folders of users' own image files read into :class:`~aelab.data.splits.RawSplits`: the folder's
layout and files found (:mod:`.layouts`), decoded (:mod:`.decoding`), checked for one image size
and split, the whole of it kept in the cache (:mod:`.cache`) that makes every run after the first
start at once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import cache
from .decoding import decode_files
from .layouts import TEST, TRAIN, Found, scan
from .splits import (
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    RawSplits,
    check_image_size,
    check_options,
    convert_channels,
    holdout,
    holdout_note,
    split_arrays,
    stack_pixels,
)


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
