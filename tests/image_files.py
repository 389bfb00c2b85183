"""Small image datasets written with Pillow, shared by the reader and cache tests."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aelab.errors import UserError

SIDE = 8


def refused(match: str, call, *args, **kwargs) -> str:
    """The one-line message ``call`` is refused with, checked to contain ``match``."""
    with pytest.raises(UserError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and match in message, message
    return message


def save(path: Path, value, size=(SIDE, SIDE), fmt=None) -> Path:
    """An image of one colour (an int: grey, a tuple: RGB), ``size`` as (height, width)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = size if isinstance(value, int) else (*size, 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path, format=fmt)
    return path


def class_folder(root: Path, counts: dict) -> Path:
    """``root/<class>/000.png ...``, image i of each class all of grey level i."""
    for name, n in counts.items():
        for i in range(n):
            save(root / name / f"{i:03d}.png", i)
    return root


def pooled(splits) -> np.ndarray:
    """The images of both splits together, for checks that do not care which split has which."""
    return np.concatenate([splits.train_images, splits.test_images])
