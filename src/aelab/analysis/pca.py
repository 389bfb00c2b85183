"""The linear baseline: PCA fitted on the training split, the optimal k-dimensional linear code.

An autoencoder with a k-unit bottleneck earns its non-linearity only if it beats PCA
with k components. Reconstructions are clipped to the pixel range [0, 1], as the
autoencoder's sigmoid output is; clipping never raises the error against images in
[0, 1], so the baseline is as strong as it can fairly be.

Small images (MNIST's 784 pixels) get the exact fit: the covariance matrix and its
eigenvectors. Large ones (a 64x64 colour image has 12,288 values) would need a covariance of
a gigabyte or more, so they get a randomized SVD (Halko, Martinsson and Tropp's range finder
with power iterations) that reads the data in chunks and never forms it; ``method`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.sources import PIXEL_RANGE
from ..errors import UserError

# Covariance and eigenvectors in float64: float32 sums over 60k images lose the small
# eigenvalues' directions, and the exact-reconstruction property with them.
FIT_DTYPE = torch.float64
FULL_FIT_BYTES = 512 * 1024**2  # a float64 covariance larger than this is fitted by randomized SVD
CHUNK_BYTES = 64 * 1024**2  # rows of the data converted to float64 at a time
OVERSAMPLE = 10  # extra random directions, so the leading components are found accurately
POWER_ITERATIONS = 4  # passes that sharpen the range finder where the spectrum decays slowly
RANDOM_SEED = 0  # the randomized fit is repeatable


@dataclass
class PCA:
    """``mean`` (d) and ``components`` (d x r, orthonormal columns, largest variance first)."""

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor  # of the components kept (or all, for the exact fit)
    total_variance: float
    method: str = "exact"

    @property
    def max_components(self) -> int:
        return self.components.shape[1]

    def basis(self, k: int) -> torch.Tensor:
        if not 1 <= k <= self.max_components:
            raise UserError(f"PCA has {self.max_components} components; cannot use {k}")
        return self.components[:, :k]

    def encode(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return (x.to(FIT_DTYPE) - self.mean) @ self.basis(k)

    def decode(self, codes: torch.Tensor, clip: bool = True) -> torch.Tensor:
        k = codes.shape[1]
        out = codes @ self.basis(k).T + self.mean
        return (out.clamp(*PIXEL_RANGE) if clip else out).float()

    def reconstruct(self, x: torch.Tensor, k: int, clip: bool = True) -> torch.Tensor:
        return self.decode(self.encode(x, k), clip)

    def explained_ratio(self, k: int) -> float:
        return (self.explained_variance[:k].sum() / self.total_variance).item() if self.total_variance > 0 else 0.0


def fit_pca(data: torch.Tensor, max_components: int | None = None) -> PCA:
    """Fit on ``N x d`` rows; keep the leading ``max_components`` (all ``d`` by default)."""
    if data.dim() != 2 or len(data) < 2:
        raise UserError(f"PCA needs at least 2 flat rows to fit, got a tensor of shape {tuple(data.shape)}")
    dim = data.shape[1]
    max_components = dim if max_components is None else max_components
    if not 1 <= max_components <= dim:
        raise UserError(f"PCA components must be between 1 and {dim}, got {max_components}")
    if dim * dim * torch.finfo(FIT_DTYPE).bits // 8 > FULL_FIT_BYTES and max_components < dim:
        return fit_randomized(data, max_components)
    x = data.to(FIT_DTYPE)
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = centred.T @ centred / (len(x) - 1)
    # eigh returns ascending eigenvalues; flip to put the largest variance first.
    values, vectors = torch.linalg.eigh(covariance)
    values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1)
    return PCA(
        mean=mean,
        components=vectors[:, :max_components].contiguous(),
        explained_variance=values,
        total_variance=values.sum().item(),
    )


def chunks(data: torch.Tensor, mean: torch.Tensor | float = 0.0):
    """The rows of ``data`` in float64, less ``mean``, a few megabytes at a time."""
    rows = max(1, CHUNK_BYTES // (data.shape[1] * torch.finfo(FIT_DTYPE).bits // 8))
    for chunk in data.split(rows):
        yield chunk.to(FIT_DTYPE) - mean


def fit_randomized(data: torch.Tensor, k: int) -> PCA:
    """The leading ``k`` components by a randomized SVD of the centred data, read chunk by chunk."""
    n, dim = data.shape
    mean = sum(chunk.sum(0) for chunk in chunks(data)) / n
    width = min(k + OVERSAMPLE, dim, n)
    directions = torch.randn(dim, width, dtype=FIT_DTYPE, generator=torch.Generator().manual_seed(RANDOM_SEED))

    def times(right: torch.Tensor) -> torch.Tensor:  # centred data @ right, N x width
        return torch.cat([chunk @ right for chunk in chunks(data, mean)])

    def transposed_times(left: torch.Tensor) -> torch.Tensor:  # centred data.T @ left, dim x width
        total, start = torch.zeros(dim, left.shape[1], dtype=FIT_DTYPE), 0
        for chunk in chunks(data, mean):
            total += chunk.T @ left[start : start + len(chunk)]
            start += len(chunk)
        return total

    basis = torch.linalg.qr(times(directions)).Q
    for _ in range(POWER_ITERATIONS):
        basis = torch.linalg.qr(times(torch.linalg.qr(transposed_times(basis)).Q)).Q
    _, singular, right = torch.linalg.svd(transposed_times(basis).T, full_matrices=False)
    total = sum(chunk.pow(2).sum().item() for chunk in chunks(data, mean)) / (n - 1)
    return PCA(
        mean=mean,
        components=right[:k].T.contiguous(),
        explained_variance=singular[:k] ** 2 / (n - 1),
        total_variance=total,
        method=f"randomized SVD ({POWER_ITERATIONS} power iterations)",
    )


class PCAReconstructor:
    """A PCA of fixed size behind the same ``images -> reconstructions`` call as a model."""

    def __init__(self, pca: PCA, k: int):
        pca.basis(k)  # fail now, not mid-evaluation, if k is out of range
        self.pca, self.k = pca, k

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # The fit lives on the CPU in float64; move the images there and the result back.
        return self.pca.reconstruct(images.to(self.pca.mean.device), self.k).to(images.device)
