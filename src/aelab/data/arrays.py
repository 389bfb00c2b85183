"""Images that users bring as numpy arrays (.npz in Keras' ``mnist.npz`` layout, or one .npy),
turned into :class:`~aelab.data.splits.RawSplits`.

Every failure to read or make sense of an array is one line naming the file and the fix. No
torch here: the command line imports this.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from .splits import (
    COLOUR,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    NO_CLASSES,
    ROUND_HALF_UP,
    RawSplits,
    check_options,
    convert_channels,
    holdout,
    holdout_note,
    split_arrays,
)

CHANNELS_LAST = (1, 3, 4)  # the C of N x H x W x C arrays we accept; 4 carries alpha, dropped
PIXEL_MAX = 255
IMAGE_KEYS = ("x_train", "x_test")


def as_pixels(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    """``x`` as uint8 ``N x C x H x W``: ints 0-255 kept, floats 0-1 scaled and rounded."""
    where = f"{path}: {name}"
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in CHANNELS_LAST:
        x = np.moveaxis(x[..., :COLOUR], -1, 1)
    else:
        raise UserError(
            f"{where} has shape {x.shape}; store images as N x H x W (grey) or "
            "N x H x W x C with C = 1, 3 or 4 (channels last: numpy.moveaxis(x, 1, -1))"
        )
    if x.size == 0:
        raise UserError(f"{where} holds no pixels (shape {x.shape}); store at least one image")
    if x.dtype.kind == "b":
        return np.ascontiguousarray(x, dtype=np.uint8) * np.uint8(PIXEL_MAX)
    if x.dtype.kind in "iu":
        low, high = int(x.min()), int(x.max())
        if low < 0 or high > PIXEL_MAX:
            raise UserError(f"{where} holds integers {low} to {high}; pixels must be 0-255 (or floats 0-1)")
        return np.ascontiguousarray(x, dtype=np.uint8)
    if x.dtype.kind == "f":
        x = x.astype(np.promote_types(x.dtype, np.float32), copy=False)  # float16 rounds too coarsely
        if np.isnan(x).any():
            raise UserError(f"{where} holds NaN pixels; replace them, e.g. with numpy.nan_to_num")
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            raise UserError(
                f"{where} holds floats {low:g} to {high:g}; float pixels must be 0-1 "
                "(divide by 255, or store uint8 0-255)"
            )
        return np.ascontiguousarray(np.floor(x * PIXEL_MAX + ROUND_HALF_UP), dtype=np.uint8)
    raise UserError(f"{where} holds {x.dtype} values; store pixels as uint8 0-255 or floats 0-1")


def as_labels(y: np.ndarray, name: str, n_images: int, path: Path) -> np.ndarray:
    """``y`` as int64 ``N``; Keras' ``N x 1`` label columns (CIFAR) are accepted too."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n_images:
        raise UserError(f"{path}: {name} has shape {y.shape} but there are {n_images} images; give one label per image")
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        return y.astype(np.int64)
    raise UserError(f"{path}: {name} holds {y.dtype} values that are not whole numbers; labels must be integers")


def open_numpy(path: Path, want_npz: bool):
    """``np.load`` that never unpickles and turns every failure into one line."""
    kind = ".npz" if want_npz else ".npy"
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; check the path") from None
    except OSError as err:
        raise UserError(f"cannot read {path} ({err.strerror or err}); check the path and its permissions") from None
    except (ValueError, EOFError, zipfile.BadZipFile) as err:
        # np.load takes any file that is neither .npy nor .npz for a pickle, which it then refuses
        reason = "not numpy data" if "pickled" in str(err) else " ".join(str(err).split()) or "cut short"
        raise UserError(
            f"{path} is not a readable numpy {kind} file ({reason}); save it again with "
            f"numpy.{'savez' if want_npz else 'save'}"
        ) from None
    is_npz = isinstance(loaded, np.lib.npyio.NpzFile)
    if want_npz != is_npz:
        if is_npz:
            loaded.close()
        what, fix = (
            ("one array, not named arrays", "name it .npy")
            if want_npz
            else ("named arrays, not one array", "name it .npz")
        )
        raise UserError(f"{path} holds {what}; {fix} so it is read as such")
    return loaded


def member(data, key: str, path: Path) -> np.ndarray:
    """One array of an open .npz, read now; the .npz members are read lazily and can fail."""
    try:
        return np.asarray(data[key])
    except ValueError as err:  # object arrays: np.load refuses to unpickle them
        raise UserError(
            f"{path}: {key} cannot be read without unpickling ({' '.join(str(err).split())}); "
            "store plain numeric arrays"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: {key} is damaged ({err}); save the file again") from None


def read_npz(path, channels=None, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = DEFAULT_SEED) -> RawSplits:
    """A .npz laid out as Keras' ``mnist.npz``: ``x_train``, optional ``x_test``, ``y_train``, ``y_test``.

    Without ``x_test`` a seeded ``test_fraction`` hold-out of ``x_train`` is the test split.
    """
    path = Path(path)
    check_options(channels, test_fraction, seed)
    with open_numpy(path, want_npz=True) as data:
        keys = set(data.files)
        if "x_train" not in keys:
            raise UserError(
                f"{path} has no x_train array (it holds: {', '.join(sorted(keys)) or 'nothing'}); "
                "save the images as x_train (and x_test), as Keras' mnist.npz does"
            )
        for y, x in (("y_train", "x_train"), ("y_test", "x_test")):
            if y in keys and x not in keys:
                raise UserError(f"{path} has {y} but no {x}; add {x} or remove {y}")
        if "x_test" in keys and ("y_train" in keys) != ("y_test" in keys):
            have, lack = ("y_train", "y_test") if "y_train" in keys else ("y_test", "y_train")
            raise UserError(f"{path} has {have} but no {lack}; label both splits or neither")
        raw = {key: member(data, key, path) for key in ("x_train", "y_train", "x_test", "y_test") if key in keys}
    images = {key: convert_channels(as_pixels(raw[key], key, path), channels) for key in IMAGE_KEYS if key in raw}
    labels = {}
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if x in images:
            n = len(images[x])
            labels[y] = as_labels(raw[y], y, n, path) if y in raw else np.zeros(n, dtype=np.int64)
    class_names = NO_CLASSES
    if "y_train" in raw:
        names, flat = np.unique(np.concatenate(list(labels.values())), return_inverse=True)
        class_names = tuple(str(v) for v in names)
        labels = dict(zip(labels, np.split(flat.reshape(-1).astype(np.int64), [len(labels["y_train"])])))
    if "x_test" in images:
        train_x, test_x = images["x_train"], images["x_test"]
        if train_x.shape[1:] != test_x.shape[1:]:
            fix = "pass --channels 1 or 3" if train_x.shape[2:] == test_x.shape[2:] else "give images of one size"
            raise UserError(
                f"{path}: x_train images are {'x'.join(map(str, train_x.shape[1:]))} but x_test images "
                f"are {'x'.join(map(str, test_x.shape[1:]))}; {fix}"
            )
        return RawSplits(train_x, labels["y_train"], test_x, labels["y_test"], class_names, f"npz {path}", "x_test")
    train, test = holdout(labels["y_train"], test_fraction, seed)
    return RawSplits(
        *split_arrays(images["x_train"], labels["y_train"], train, test),
        class_names,
        f"npz {path}",
        holdout_note(test_fraction, seed, per_class=len(class_names) > 1),
    )


def read_npy(path, channels=None, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = DEFAULT_SEED) -> RawSplits:
    """One .npy array of unlabelled images; a seeded ``test_fraction`` hold-out is the test split."""
    path = Path(path)
    check_options(channels, test_fraction, seed)
    images = convert_channels(as_pixels(open_numpy(path, want_npz=False), "the array", path), channels)
    labels = np.zeros(len(images), dtype=np.int64)
    train, test = holdout(labels, test_fraction, seed)
    return RawSplits(
        *split_arrays(images, labels, train, test),
        NO_CLASSES,
        f"npy {path}",
        holdout_note(test_fraction, seed, per_class=False),
    )
