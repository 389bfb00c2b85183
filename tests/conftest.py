"""Shared fixtures: tiny IDX datasets written here and read through the real loaders."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from aelab.data.idx import ensure_files
from aelab.data.sources import ALL_FILES, raw_folder
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training import checkpoint

pytest_plugins = ("web_fixtures", "checkpoint_edits")  # browser pages; good and hostile checkpoints

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_ROOT = REPO / "data"
# Where CI keeps the MNIST .gz files, beside its fresh clone (scripts/setup.sh reads the same).
SHARED_GZ_DIR = Path(os.environ.get("MNIST_GZ_DIR", REPO.parent / "shared" / "datasets" / "MNIST" / "raw"))
IDX_UBYTE = 0x08

# Hypothesis keeps nothing in the repository: no example database (each test's examples are
# drawn afresh), and its caches go to a temporary folder of this session (see pytest_configure).
settings.register_profile("aelab", database=None)
settings.load_profile("aelab")
hypothesis_home: Path | None = None


def pytest_configure(config):
    """Hypothesis writes caches (e.g. the constants of the test modules, found while pytest
    collects them) under ``./.hypothesis`` unless told otherwise; tell it before collection."""
    global hypothesis_home
    hypothesis_home = Path(tempfile.mkdtemp(prefix="aelab-hypothesis-"))
    set_hypothesis_home_dir(hypothesis_home)


def pytest_unconfigure(config):
    if hypothesis_home is not None:
        shutil.rmtree(hypothesis_home, ignore_errors=True)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file (the MNIST format): magic, big-endian dims, then uint8 data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, IDX_UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def make_digits(n: int, seed: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Blobby strokes, one shape per label, so a model has structure to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    yy, xx = np.mgrid[0:side, 0:side] / (side - 1)
    images = np.zeros((n, side, side))
    for i, label in enumerate(labels):
        angle = label * np.pi / 10
        cx, cy = 0.5 + 0.05 * rng.standard_normal(2)
        dist = np.abs((xx - cx) * np.sin(angle) - (yy - cy) * np.cos(angle))
        images[i] = np.clip(1.2 - dist * 12, 0, 1) * (np.hypot(xx - cx, yy - cy) < 0.35)
    return (images * 255).astype(np.uint8), labels.astype(np.uint8)


def write_mnist(root: Path, n_train: int = 256, n_test: int = 64, folder: str = "MNIST") -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = make_digits(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def tiny_root(tmp_path) -> Path:
    return write_mnist(tmp_path / "data")


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=4))
    init_lab_weights(model)
    path = tmp_path / "tiny.pth"
    checkpoint.save(path, model)
    return path


def has_mnist(root: Path) -> bool:
    """All four MNIST files in ``root``'s raw folder, unpacked or as .gz copies the loader unpacks."""
    folder = raw_folder("mnist", root)
    return all((folder / f).is_file() or (folder / f"{f}.gz").is_file() for f in ALL_FILES)


def find_real_root(data_root: Path, gz_dir: Path, scratch) -> Path | None:
    """A data root holding real MNIST: ``data_root`` (./data) when it has it, else a ``scratch()``
    folder whose raw folder gets copies of the .gz files in ``gz_dir`` (CI's
    ../shared/datasets/MNIST/raw), unpacked there by the package's own loader; None if neither."""
    if has_mnist(data_root):
        return data_root
    if not all((gz_dir / f"{f}.gz").is_file() for f in ALL_FILES):
        return None
    root = scratch()
    folder = raw_folder("mnist", root)
    folder.mkdir(parents=True)
    for f in ALL_FILES:
        shutil.copyfile(gz_dir / f"{f}.gz", folder / f"{f}.gz")
    ensure_files("mnist", root, ALL_FILES, download=False)
    return root


@pytest.fixture(scope="session")
def real_root(tmp_path_factory) -> Path:
    root = find_real_root(REAL_DATA_ROOT, SHARED_GZ_DIR, lambda: tmp_path_factory.mktemp("real_mnist"))
    if root is None:
        pytest.skip(
            f"real MNIST is in neither {raw_folder('mnist', REAL_DATA_ROOT)} nor {SHARED_GZ_DIR} "
            "(as .gz); run scripts/setup.sh or set MNIST_GZ_DIR"
        )
    return root
