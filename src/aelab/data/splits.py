"""What every reader of users' own images shares: :class:`RawSplits`, the one shape they all return,
and the steps that make one (option checks, channel conversion, the seeded hold-out).

The array reader (:mod:`.arrays`) and the folder reader (:mod:`.folders`) both build on these, so an
image read from a folder and the same image read from an array come out with identical pixels and
the same split. No torch here: the command line imports this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

GREY, COLOUR = 1, 3
CHANNEL_CHOICES = (None, GREY, COLOUR)
# ITU-R BT.601 luma weights in thousandths: integer arithmetic rounds exactly, with no float
# error to flip a pixel sitting on .5.
LUMA_PER_MILLE = (299, 587, 114)
PER_MILLE = 1000
ROUND_HALF_UP = 0.5  # added before floor(): .5 goes up, where numpy's and Python's round go to even
LUMA_CHUNK = 4096  # images converted at a time, so the int32 temporaries stay small
DEFAULT_TEST_FRACTION = 0.1
DEFAULT_SEED = 0
NO_CLASSES = ("all",)


@dataclass(frozen=True)
class RawSplits:
    """Both splits of a user's own images, decoded, before they become tensors."""

    train_images: np.ndarray  # uint8, N x C x H x W (C = 1 grey or 3 colour), C-contiguous
    train_labels: np.ndarray  # int64, N (all 0 when the data has no classes)
    test_images: np.ndarray  # uint8, M x C x H x W
    test_labels: np.ndarray  # int64, M
    class_names: tuple[str, ...]  # label i is class_names[i]; ("all",) when there are no classes
    source: str  # e.g. "folder /path (ImageFolder, train/test)", "npz /path"
    split_note: str  # how the test split was made, e.g. "test/ folder", "x_test"
    skipped: tuple[str, ...] = ()  # files left out as unreadable (only with skip_bad)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


def check_options(channels, test_fraction: float, seed: int) -> None:
    """Refuse settings no reader can honour, before any file is opened."""
    if channels not in CHANNEL_CHOICES:
        raise UserError(
            f"--channels {channels} is not supported; give 1 (grey) or 3 (colour), "
            "or leave it out to keep the data's own"
        )
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise UserError(f"--test-fraction {test_fraction} is not between 0 and 1; give a fraction such as 0.1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"split seed {seed} is not a whole number >= 0; give one such as 0")


def check_image_size(image_size) -> tuple[int, int] | None:
    """``(height, width)`` as ints, or None; anything else is refused before any file is read."""
    if image_size is None:
        return None
    try:
        height, width = (int(v) for v in image_size)
        whole = all(float(v) == int(v) for v in image_size)
    except (TypeError, ValueError):
        height = width = whole = 0
    if not whole or height < 1 or width < 1:
        raise UserError(f"--image-size {image_size} is not two whole numbers >= 1; give height and width, e.g. 28 28")
    return height, width


def to_grey(colour: np.ndarray) -> np.ndarray:
    """``N x 3 x H x W`` to ``N x 1 x H x W`` by BT.601 luma, rounded half up."""
    out = np.empty((colour.shape[0], 1, *colour.shape[2:]), dtype=np.uint8)
    r, g, b = LUMA_PER_MILLE
    for start in range(0, len(colour), LUMA_CHUNK):
        part = colour[start : start + LUMA_CHUNK].astype(np.int32)
        luma = r * part[:, 0] + g * part[:, 1] + b * part[:, 2]
        out[start : start + LUMA_CHUNK, 0] = (luma + PER_MILLE // 2) // PER_MILLE
    return out


def convert_channels(images: np.ndarray, channels) -> np.ndarray:
    """``images`` (uint8 N x C x H x W) with ``channels`` channels (None keeps them), C-contiguous."""
    if channels is None or images.shape[1] == channels:
        return np.ascontiguousarray(images)
    if channels == COLOUR:
        return np.ascontiguousarray(np.repeat(images, COLOUR, axis=1))
    return to_grey(images)


def stack_pixels(pixels: list[np.ndarray], channels) -> np.ndarray:
    """Images of one size (``H x W`` grey, ``H x W x 3`` colour) as uint8 ``N x C x H x W``; C as
    asked, else colour if any image is."""
    colour = [i for i, p in enumerate(pixels) if p.ndim == 3]
    n_channels = channels or (COLOUR if colour else GREY)
    out = np.empty((len(pixels), n_channels, *pixels[0].shape[:2]), dtype=np.uint8)
    for i, p in enumerate(pixels):
        if p.ndim == 2:
            out[i] = p  # broadcasts over the channels: grey into 3 channels repeats it
        elif n_channels == COLOUR:
            out[i] = p.transpose(2, 0, 1)
    if n_channels == GREY:  # the luma of arrays, so a folder and an array give the same pixels
        for start in range(0, len(colour), LUMA_CHUNK):
            part = colour[start : start + LUMA_CHUNK]
            out[part] = to_grey(np.stack([pixels[i].transpose(2, 0, 1) for i in part]))
    return out


def holdout(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train, test)`` indices: a seeded ``test_fraction`` of each class held out.

    Per class, so a rare class is not left out of one split by chance; with one class this is
    a plain seeded permutation. At least one image lands on each side.
    """
    n = len(labels)
    if n < 2:
        raise UserError(f"only {n} image(s) to split into train and test; add images, or give a test split")
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    test = []
    for members in np.split(order, starts[1:]):
        take = int(np.floor(len(members) * test_fraction + ROUND_HALF_UP))
        test.append(rng.permutation(members)[:take])
    test = np.sort(np.concatenate(test))
    if len(test) == 0:
        test = rng.permutation(n)[:1]
    elif len(test) == n:
        test = test[:-1]
    in_test = np.zeros(n, dtype=bool)
    in_test[test] = True
    return np.flatnonzero(~in_test), np.flatnonzero(in_test)


def holdout_note(test_fraction: float, seed: int, per_class: bool) -> str:
    return f"seeded {test_fraction * 100:g}% hold-out{' per class' if per_class else ''} (seed {seed})"


def split_arrays(images: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray):
    """``(train images, train labels, test images, test labels)``, each C-contiguous."""
    return (
        np.ascontiguousarray(images[train]),
        np.ascontiguousarray(labels[train]),
        np.ascontiguousarray(images[test]),
        np.ascontiguousarray(labels[test]),
    )
