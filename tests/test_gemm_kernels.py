"""``bench/gemm_kernels.py``: every kernel it times computes the step's product it is named for."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gemm_kernels.py"
SHAPES = {"batch": 48, "pixels": 784, "hidden": 392, "code": 8}


@pytest.fixture(scope="module")
def gemm_kernels():
    spec = importlib.util.spec_from_file_location("gemm_kernels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_every_kernel_gives_the_float64_product(gemm_kernels):
    for product in gemm_kernels.products(**SHAPES):
        for kernel in product.kernels:
            assert product.largest_error(kernel) < 1e-4, (product.name, kernel)


def test_prints_one_row_per_product_and_kernel(gemm_kernels, capsys):
    assert gemm_kernels.main(["--batch", str(SHAPES["batch"]), "--rounds", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| fc")]
    assert len(rows) == sum(len(p.kernels) for p in gemm_kernels.products(**SHAPES))
