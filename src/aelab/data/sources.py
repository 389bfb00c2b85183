"""Where each named dataset lives on disk. No torch here: the command line reads these names.

torchvision's layout is kept (``<root>/<Class>/raw/<file>``), so a folder torchvision filled
works here and the other way round.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import UserError

# command-line name -> torchvision's class name, which is also the folder name
DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
# The three datasets share one file layout: images then labels for each split.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = tuple(name for files in SPLIT_FILES.values() for name in files)
ARRAY_SUFFIXES = (".npz", ".npy")
CHANNEL_CHOICES = (1, 3)
DEFAULT_TEST_FRACTION = 0.1
SPLIT_SEED = 0  # the hold-out of a dataset without a test split is drawn with this seed, always
NAMED_SIZE = (28, 28)  # every named set's images
PIXEL_MAX = 255.0  # IDX images are uint8; ToTensor maps them to [0, 1] by this
PIXEL_RANGE = (0.0, 1.0)


def check_name(name: str) -> str:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return name


def raw_folder(name: str, root: str | Path) -> Path:
    return Path(root) / DATASETS[check_name(name)] / "raw"


def split_name(train: bool) -> str:
    return "train" if train else "test"


@dataclass(frozen=True)
class DataConfig:
    """Which images a run trains on and how they are shaped: saved in the checkpoint, so every
    command that loads it reads the same images the same way.

    ``dataset`` is a named set or the absolute path of a folder, ``.npz`` or ``.npy``.
    """

    dataset: str = "mnist"
    image_size: tuple[int, int] | None = None  # (height, width) to resize to; None: as stored
    channels: int | None = None  # 1 (grey) or 3 (colour); None: as stored
    test_fraction: float = DEFAULT_TEST_FRACTION  # held out when the data has no test split

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset:
            raise UserError(f"dataset must be a name or a path, got {self.dataset!r}")
        if self.image_size is not None:
            size = tuple(self.image_size) if isinstance(self.image_size, (tuple, list)) else ()
            if len(size) != 2 or not all(type(d) is int and d > 0 for d in size):
                raise UserError(
                    f"image size must be two positive whole numbers (height width), got {self.image_size!r}"
                )
            object.__setattr__(self, "image_size", size)
        if self.channels is not None and not (type(self.channels) is int and self.channels in CHANNEL_CHOICES):
            raise UserError(f"channels must be 1 or 3, got {self.channels!r}")
        if not (
            type(self.test_fraction) in (int, float)
            and math.isfinite(self.test_fraction)
            and 0 < self.test_fraction < 1
        ):
            raise UserError(f"test fraction must be between 0 and 1, got {self.test_fraction!r}")

    @property
    def named(self) -> bool:
        return self.dataset in DATASETS

    @property
    def label(self) -> str:
        """How messages and figures name the data: ``mnist``, or the file or folder's name."""
        return self.dataset if self.named else Path(self.dataset).name

    def known_shape(self) -> tuple[int, int, int] | None:
        """(channels, height, width) of the images, where it is known before reading them."""
        if self.named:
            return (self.channels or 1, *(self.image_size or NAMED_SIZE))
        if self.image_size and self.channels:
            return (self.channels, *self.image_size)
        return None

    def to_dict(self) -> dict:
        return {**asdict(self), "image_size": list(self.image_size) if self.image_size else None}

    @classmethod
    def from_dict(cls, values: dict) -> DataConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def dataset_spec(text: str) -> str:
    """A ``--dataset`` value: a named set as it is, a path made absolute (it is saved in the
    checkpoint, and read again from other folders) after checking that it can be data."""
    if text in DATASETS:
        return text
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"--dataset {text}: no such named set ({', '.join(DATASETS)}) or file or folder")
    if path.is_file() and path.suffix.lower() not in ARRAY_SUFFIXES:
        raise UserError(
            f"--dataset {text} is a {path.suffix or 'suffix-less'} file; give a folder of images, "
            "a .npz (x_train, x_test, ...) or a .npy array of images"
        )
    return str(path.resolve())
