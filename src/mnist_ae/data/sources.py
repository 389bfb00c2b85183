"""Where each named dataset lives on disk. No torch here: the command line reads these names.

torchvision's layout is kept (``<root>/<Class>/raw/<file>``), so a folder torchvision filled
works here and the other way round.
"""

from __future__ import annotations

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
