"""Every kind of dataset behind one call: the named IDX sets, a folder of images, a ``.npz``
or ``.npy`` array; resized and converted as the run asks, returned as two :class:`ImageSet`\\ s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .images import COLOUR, GREY, ImageSet, load_images
from .sources import PIXEL_MAX, SPLIT_SEED, DataConfig

RESIZE_CHUNK = 4096  # images resized at once: bounds the float copy a resize needs
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights of red, green and blue in a grey level


def load_splits(
    data: DataConfig, root, cache_dir=None, skip_bad: bool = False, progress: bool = False
) -> tuple[ImageSet, ImageSet]:
    """``(train, test)`` of ``data``; named sets are read from ``root``."""
    if data.named:
        train, test = (load_images(data.dataset, root, train=t) for t in (True, False))
        class_names, skipped = (), ()
    else:
        raw = read_own(data, cache_dir, skip_bad, progress)
        class_names, skipped = tuple(raw.class_names), tuple(getattr(raw, "skipped", ()))
        train, test = (
            ImageSet(
                torch.from_numpy(np.ascontiguousarray(images)),
                torch.from_numpy(labels).long(),
                name=data.label,
                train=is_train,
                class_names=class_names,
            )
            for images, labels, is_train in (
                (raw.train_images, raw.train_labels, True),
                (raw.test_images, raw.test_labels, False),
            )
        )
    if skipped:
        print(f"skipped {len(skipped)} files that are not readable images: {', '.join(skipped)}")
    return tuple(shaped(split, data) for split in (train, test))


def read_own(data: DataConfig, cache_dir, skip_bad: bool, progress: bool):
    path = Path(data.dataset)
    if path.is_dir():
        from .folders import read_folder

        return read_folder(
            path,
            image_size=data.image_size,
            channels=data.channels,
            test_fraction=data.test_fraction,
            seed=SPLIT_SEED,
            cache_dir=cache_dir,
            skip_bad=skip_bad,
            progress=progress,
        )
    from .arrays import read_npy, read_npz

    if not path.is_file():
        raise UserError(
            f"--dataset {path} is gone: no such file or folder any more; pass --dataset with where the data is now"
        )
    reader = read_npz if path.suffix.lower() == ".npz" else read_npy
    return reader(path, channels=data.channels, test_fraction=data.test_fraction, seed=SPLIT_SEED)


def shaped(images: ImageSet, data: DataConfig) -> ImageSet:
    """``images`` with the channels and size ``data`` asks for (a folder's reader did this already)."""
    pixels = images.images
    if data.channels == COLOUR and pixels.shape[1] == GREY:
        pixels = pixels.expand(-1, COLOUR, -1, -1).contiguous()
    elif data.channels == GREY and pixels.shape[1] == COLOUR:
        luma = torch.tensor(LUMA).reshape(1, COLOUR, 1, 1)
        pixels = (pixels.float() * luma).sum(1, keepdim=True).round_().clamp_(0, PIXEL_MAX).to(torch.uint8)
    if data.image_size is not None and tuple(pixels.shape[2:]) != data.image_size:
        pixels = torch.cat([resize(chunk, data.image_size) for chunk in pixels.split(RESIZE_CHUNK)])
    if pixels is images.images:
        return images
    return ImageSet(pixels, images.labels, images.name, images.train, images.class_names)


def resize(pixels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``N x C x H x W`` to ``size``, antialiased (a smaller image averages, not skips, pixels)."""
    scaled = F.interpolate(pixels.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return scaled.round_().clamp_(0, PIXEL_MAX).to(torch.uint8)
