"""IDX files (the MNIST format) read straight into numpy, unpacked from .gz, or downloaded.

Reading them here rather than through torchvision keeps torchvision (a second or more to
import) out of every run whose files are already on disk; it is imported only to download.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import atomic_write
from .sources import ALL_FILES, DATASETS, SPLIT_FILES, raw_folder, split_name

UNSIGNED_BYTE = 0x08  # IDX type code of uint8 data, the only one MNIST-style files use
HEADER_DIM_BYTES = 4  # each dimension is a big-endian uint32


class NotIDX(ValueError):
    """The file is not an IDX file of unsigned bytes, or is cut short; the message says which."""


def read_idx(path: Path) -> np.ndarray:
    """The array an IDX file of unsigned bytes holds, checked against its header."""
    data = np.fromfile(path, dtype=np.uint8)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise NotIDX("its first bytes are not an IDX magic number")
    if data[2] != UNSIGNED_BYTE:
        raise NotIDX(f"it holds IDX type {int(data[2]):#04x}, not unsigned bytes (0x08)")
    ndim = int(data[3])
    header = 4 + HEADER_DIM_BYTES * ndim
    if ndim == 0 or len(data) < header:
        raise NotIDX("its header is cut short")
    shape = struct.unpack(f">{ndim}I", data[4:header].tobytes())
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise NotIDX(f"its header promises {expected} bytes of data but it holds {len(data) - header}")
    return data[header:].reshape(shape)


def unpack_gz(source: Path, target: Path) -> None:
    """Unpack a .gz copy of an IDX file, e.g. one whose checksum torchvision would not accept."""

    def write(tmp):
        with gzip.open(source, "rb") as packed, open(tmp, "wb") as unpacked:
            shutil.copyfileobj(packed, unpacked)

    try:
        atomic_write(target, write)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise UserError(
            f"cannot unpack {source} ({err or 'cut short'}); it is damaged: replace it with a good copy"
        ) from None
    except OSError as err:
        if err.filename is not None and Path(err.filename) == Path(source):
            raise UserError(f"cannot read {source} ({err.strerror or err}); fix its permissions") from None
        raise UserError(
            f"cannot write the unpacked {target.name} into {target.parent}/ ({err.strerror or err}); "
            f"make the folder writable, or unpack it yourself there: gunzip -k {source}"
        ) from None


def download_with_torchvision(name: str, root: Path) -> None:
    """Fetch all four files through torchvision, which knows the mirrors and checksums."""
    from torchvision import datasets

    getattr(datasets, DATASETS[name])(root=str(root), train=True, download=True)


def ensure_files(name: str, root: str | Path, files, download: bool = True) -> Path:
    """The raw folder, with ``files`` there unpacked: from .gz copies beside them, else downloaded.

    Every failure becomes one :class:`UserError` line that says where the files go.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(
            f"--data-root {root} is a file; give the folder that holds {DATASETS[name]}/raw/ (default ./data)"
        )
    folder = raw_folder(name, root)
    for f in files:
        if (folder / f).is_dir():
            raise UserError(
                f"{folder / f} is a folder, not an IDX file; remove it and put the file (or its .gz copy) there"
            )
    missing = [f for f in files if not (folder / f).is_file()]
    for f in [f for f in missing if (folder / f"{f}.gz").is_file()]:
        unpack_gz(folder / f"{f}.gz", folder / f)
        missing.remove(f)
    if missing and download:
        try:
            download_with_torchvision(name, root)
        except Exception as err:  # network errors come in many types; all mean "offline"
            raise UserError(
                f"could not download {name} ({type(err).__name__}); put the four IDX files "
                f"({', '.join(ALL_FILES)}, unpacked or as .gz) in {folder}/ and run again"
            ) from None
    elif missing:
        raise UserError(f"{name} not found: {', '.join(missing)} missing from {folder}/")
    return folder


def read_split(name: str, root: str | Path, train: bool, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(images N x H x W, labels N)`` of one split, both uint8."""
    files = SPLIT_FILES[split_name(train)]
    folder = ensure_files(name, root, files, download)
    arrays = []
    for file in files:
        try:
            arrays.append(read_idx(folder / file))
        except (NotIDX, OSError) as err:
            raise UserError(
                f"cannot read {folder / file} ({err}); it is truncated or not an IDX file: "
                "delete it and download or unpack it again"
            ) from None
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{name} files in {folder}/ do not hold matching images (N x H x W) and labels (N); "
            "delete them and download or unpack them again"
        )
    return images, labels
