"""A whole split (:class:`ImageSet`), in memory or memory-mapped, and the streaming loader that reads it
batch by batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ..errors import UserError
from .idx import read_split
from .sources import PIXEL_MAX, check_name, split_name

GREY, COLOUR = 1, 3  # channels


def describe_size(shape) -> str:
    """``28x28`` for grey images, ``64x64 colour`` for ``3 x 64 x 64``."""
    channels, height, width = shape
    return f"{height}x{width}" + (" colour" if channels == COLOUR else "")


@dataclass
class ImageSet:
    """A whole split: uint8 images ``N x C x H x W`` (in memory, or mapped from the cache of a folder)
    and int64 labels ``N``.

    ``class_names[i]`` names label ``i``; empty when the labels are their own names (MNIST's digits).
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    train: bool
    class_names: tuple[str, ...] = ()

    def __post_init__(self):
        if self.images.dim() != 4 or self.images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 N x C x H x W, got {self.images.dtype} {tuple(self.images.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def class_name(self, label: int) -> str:
        return self.class_names[label] if self.class_names else str(label)

    @property
    def n_pixels(self) -> int:
        return self.images[0].numel()

    @property
    def split(self) -> str:
        return split_name(self.train)

    def floats(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Flattened images in [0, 1], exactly as ``ToTensor`` would give them."""
        return self.images.to(device).reshape(len(self), -1).float().div_(PIXEL_MAX)

    def check_fits(self, input_dim: int, source: str = "the checkpoint") -> None:
        """A model for another image size cannot run on this split; say so plainly."""
        if input_dim != self.n_pixels:
            raise UserError(
                f"{source} is for {input_dim}-pixel images (it expects {input_dim} pixels per image) "
                f"but {self.name} images have {self.n_pixels} ({describe_size(self.image_shape)}); "
                "use the dataset it was trained on"
            )

    def check_same_size_as(self, other: ImageSet) -> ImageSet:
        """This split, if its images are the size of ``other``'s; a model fits one size only."""
        if self.image_shape != other.image_shape:
            size, other_size = describe_size(self.image_shape), describe_size(other.image_shape)
            raise UserError(
                f"the {self.name} {self.split} images are {size} but the {other.split} images are "
                f"{other_size}; both splits must hold images of one size: replace the {self.split} files"
            )
        return self

    def image(self, index: int) -> torch.Tensor:
        """One image as a flat float vector; the index is checked against the split."""
        if not 0 <= index < len(self):
            raise UserError(
                f"image index {index} is outside the {self.name} {self.split} set; choose 0-{len(self) - 1}"
            )
        return self.images[index].reshape(-1).float().div(PIXEL_MAX)


def load_images(name: str, root: str | Path, train: bool, download: bool = True) -> ImageSet:
    """Read one split from its IDX files (downloading them when missing and allowed)."""
    images, labels = read_split(check_name(name), root, train, download)
    return ImageSet(
        images=torch.from_numpy(images)[:, None], labels=torch.from_numpy(labels).long(), name=name, train=train
    )


class ImageBatches(Dataset):
    """Whole batches of a split: ``batches[indices]`` is the uint8 images at ``indices`` and their
    labels, gathered in one go; from a memory-mapped split only those images' pages are read."""

    def __init__(self, images: ImageSet):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices):
        index = torch.as_tensor(indices)
        return self.images.images[index], self.images.labels[index]


class PerImagePictures(Dataset):
    """The lab's per-image pipeline for any split: each image a PIL picture made a tensor by torchvision's
    ``ToTensor``, which is what torchvision's MNIST does with its own uint8 images."""

    def __init__(self, images: ImageSet):
        from torchvision.transforms import ToTensor

        self.images, self.to_tensor = images, ToTensor()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image

        pixels = self.images.images[index].numpy()  # C x H x W
        picture = Image.fromarray(pixels[0] if len(pixels) == GREY else pixels.transpose(1, 2, 0))
        return self.to_tensor(picture), self.images.labels[index]


def streaming_loader(
    images: ImageSet,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A ``DataLoader`` of uint8 batches (to be made floats a batch at a time), in the order of the lab's
    ``DataLoader(shuffle=True, generator=...)``: the same sampler chain, each batch read in one go."""
    order = RandomSampler(images, generator=generator) if shuffle else SequentialSampler(images)
    return DataLoader(
        ImageBatches(images),
        batch_size=None,
        sampler=BatchSampler(order, batch_size, drop_last=False),
        generator=generator,
        num_workers=num_workers,
    )
