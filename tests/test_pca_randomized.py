"""PCA on images too large for an exact fit: a randomized SVD that agrees with the exact one."""

import pytest
import torch

from aelab.analysis import pca as pca_module
from aelab.analysis.pca import PCAReconstructor, fit_pca


def low_rank_images(n=600, dim=300, rank=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(rank, dim, generator=generator)
    scales = torch.linspace(3.0, 0.3, rank)[:, None]
    codes = torch.randn(n, rank, generator=generator)
    noise = 0.01 * torch.randn(n, dim, generator=generator)
    return (0.5 + 0.05 * (codes @ (scales * basis)) + noise).clamp(0, 1)


def test_the_randomized_fit_finds_the_exact_fits_subspace_and_variances(monkeypatch):
    data = low_rank_images()
    exact = fit_pca(data, max_components=8)
    monkeypatch.setattr(pca_module, "FULL_FIT_BYTES", 0)  # as if the covariance did not fit
    randomized = fit_pca(data, max_components=8)
    assert exact.method == "exact" and randomized.method.startswith("randomized")
    for k in (1, 4, 8):
        exact_error = (PCAReconstructor(exact, k)(data) - data).pow(2).mean()
        randomized_error = (PCAReconstructor(randomized, k)(data) - data).pow(2).mean()
        assert randomized_error == pytest.approx(exact_error.item(), rel=1e-4)
        assert randomized.explained_ratio(k) == pytest.approx(exact.explained_ratio(k), rel=1e-4)
    # the same subspace: projecting one basis on the other keeps its length
    overlap = torch.linalg.matrix_norm(exact.components.T @ randomized.components) ** 2
    assert overlap.item() == pytest.approx(8.0, rel=1e-6)
    assert torch.allclose(randomized.mean, data.double().mean(0))


def test_the_randomized_fit_never_converts_the_whole_data(monkeypatch):
    """Chunks of at most CHUNK_BYTES: the float64 copy of a 12,288-value image set never exists."""
    data = low_rank_images(n=500, dim=64)
    monkeypatch.setattr(pca_module, "FULL_FIT_BYTES", 0)
    monkeypatch.setattr(pca_module, "CHUNK_BYTES", 64 * 8 * 50)  # 50 rows at a time
    largest = []
    real = pca_module.chunks

    def watched(rows, mean=0.0):
        for chunk in real(rows, mean):
            largest.append(len(chunk))
            yield chunk

    monkeypatch.setattr(pca_module, "chunks", watched)
    fit_pca(data, max_components=4)
    assert largest and max(largest) == 50
