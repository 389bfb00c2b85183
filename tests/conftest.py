"""Shared fixtures: tiny IDX datasets written here and read through the real loaders."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_ae.training import checkpoint
from mnist_ae.models.mlp import MLPAutoencoder, ModelConfig, init_lab_weights

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_ROOT = REPO / "data"
IDX_UBYTE = 0x08


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


@pytest.fixture
def real_root() -> Path:
    if not (REAL_DATA_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip("real MNIST not unpacked in ./data (see README)")
    return REAL_DATA_ROOT
