"""MNIST-style datasets through torchvision: the lab's streaming loader and an in-memory copy."""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from .checkpoint import atomic_write
from .errors import UserError

DATASETS = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}
PIXEL_MAX = 255.0  # IDX images are uint8; ToTensor maps them to [0, 1] by this
PIXEL_RANGE = (0.0, 1.0)


def add_noise(images: torch.Tensor, noise: torch.Tensor, std: float, clip: bool,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """``images + std * noise``; with ``clip``, kept in the pixel range, as a stored image would be.

    ``out`` (which may be ``noise`` itself) receives the result instead of a new tensor.

    Unclipped noise (the lab's Step 5) is zero-mean everywhere. Clipped noise is not: on the
    black background only its positive half survives, a grey haze of mean ~0.4 std.
    """
    if out is None:
        noisy = images + std * noise
    else:  # the same two roundings as above, so either form gives the same bits
        noisy = torch.add(images, torch.mul(noise, std, out=out), out=out)
    return noisy.clamp_(*PIXEL_RANGE) if clip else noisy


def dataset_class(name: str):
    try:
        return DATASETS[name]
    except KeyError:
        raise UserError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}"
        ) from None


def raw_files(name: str) -> list[str]:
    """The four IDX file names torchvision expects under ``<root>/<Class>/raw/``."""
    return [os.path.splitext(os.path.basename(url))[0] for url, _ in dataset_class(name).resources]


def raw_folder(name: str, root: str | Path) -> Path:
    return Path(root) / dataset_class(name).__name__ / "raw"


def open_split(name: str, root: str | Path, train: bool, download: bool = True, transform=None):
    """The torchvision dataset for one split, downloading it when missing.

    Every failure becomes one :class:`UserError` line that says where the files go.
    """
    cls = dataset_class(name)
    folder = raw_folder(name, root)
    # torchvision wants all four files present, whichever split is asked for.
    missing = [f for f in raw_files(name) if not (folder / f).is_file()]
    for f in [f for f in missing if (folder / f"{f}.gz").is_file()]:
        unpack_gz(folder / f"{f}.gz", folder / f)
        missing.remove(f)
    if missing and download:
        try:
            cls(root=str(root), train=train, download=True)
        except Exception as err:  # network errors come in many types; all mean "offline"
            raise UserError(
                f"could not download {name} ({type(err).__name__}); put the four IDX files "
                f"({', '.join(raw_files(name))}, unpacked or as .gz) in {folder}/ and run again"
            ) from None
    elif missing:
        raise UserError(f"{name} not found: {', '.join(missing)} missing from {folder}/")
    try:
        return cls(root=str(root), train=train, download=False, transform=transform)
    except Exception as err:
        raise UserError(
            f"cannot read {name} IDX files in {folder}/ ({type(err).__name__}: {err}); "
            "they are truncated or not IDX files: delete them and download or unpack them again"
        ) from None


def unpack_gz(source: Path, target: Path) -> None:
    """Unpack a .gz copy of an IDX file, e.g. one whose checksum torchvision would not accept."""
    try:
        with gzip.open(source, "rb") as packed:
            atomic_write(target, lambda tmp: shutil.copyfileobj(packed, open(tmp, "wb")))
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"cannot unpack {source} ({err}); replace it with a good copy") from None


@dataclass
class ImageSet:
    """A whole split in memory: uint8 images ``N x H x W`` and int64 labels ``N``."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    train: bool

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1, *self.images.shape[1:])

    @property
    def split(self) -> str:
        return "train" if self.train else "test"

    def floats(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Flattened images in [0, 1], exactly as ``ToTensor`` would give them."""
        return self.images.to(device).reshape(len(self), -1).float().div_(PIXEL_MAX)

    def check_fits(self, input_dim: int, source: str = "the checkpoint") -> None:
        """A model for another image size cannot run on this split; say so plainly."""
        n_pixels = self.images[0].numel()
        if input_dim != n_pixels:
            raise UserError(
                f"{source} is for {input_dim}-pixel images (it expects {input_dim} pixels per image) "
                f"but {self.name} images have {n_pixels} ({'x'.join(map(str, self.image_shape[1:]))}); "
                "use the dataset it was trained on"
            )

    def image(self, index: int) -> torch.Tensor:
        """One image as a flat float vector; the index is checked against the split."""
        if not 0 <= index < len(self):
            raise UserError(
                f"image index {index} is outside the {self.name} {self.split} set; "
                f"choose 0-{len(self) - 1}"
            )
        return self.images[index].reshape(-1).float().div(PIXEL_MAX)


def load_images(name: str, root: str | Path, train: bool, download: bool = True) -> ImageSet:
    """Read one split through torchvision's own IDX reader."""
    split = open_split(name, root, train, download)
    images, labels = split.data, split.targets
    if images.dim() != 3 or images.dtype != torch.uint8 or len(images) != len(labels):
        raise UserError(
            f"{name} files in {raw_folder(name, root)}/ do not hold matching uint8 images and "
            "labels; delete them and download or unpack them again"
        )
    return ImageSet(images=images, labels=labels.long(), name=name, train=train)


def streaming_loader(name: str, root: str | Path, batch_size: int, shuffle: bool = True,
                     generator: torch.Generator | None = None, num_workers: int = 0) -> DataLoader:
    """The lab's pipeline: torchvision dataset, ``ToTensor`` per image, a ``DataLoader``."""
    split = open_split(name, root, train=True, transform=transforms.ToTensor())
    return DataLoader(split, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=num_workers)
