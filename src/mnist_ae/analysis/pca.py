"""The linear baseline: PCA fitted on the training split, the optimal k-dimensional linear code.

An autoencoder with a k-unit bottleneck earns its non-linearity only if it beats PCA
with k components. Reconstructions are clipped to the pixel range [0, 1], as the
autoencoder's sigmoid output is; clipping never raises the error against images in
[0, 1], so the baseline is as strong as it can fairly be.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.sources import PIXEL_RANGE
from ..errors import UserError

# Covariance and eigenvectors in float64: float32 sums over 60k images lose the small
# eigenvalues' directions, and the exact-reconstruction property with them.
FIT_DTYPE = torch.float64


@dataclass
class PCA:
    """``mean`` (d) and ``components`` (d x r, orthonormal columns, largest variance first)."""

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor

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
        total = self.explained_variance.sum()
        return (self.explained_variance[:k].sum() / total).item() if total > 0 else 0.0


def fit_pca(data: torch.Tensor, max_components: int | None = None) -> PCA:
    """Fit on ``N x d`` rows; keep the leading ``max_components`` (all ``d`` by default)."""
    if data.dim() != 2 or len(data) < 2:
        raise UserError(f"PCA needs at least 2 flat rows to fit, got a tensor of shape {tuple(data.shape)}")
    dim = data.shape[1]
    max_components = dim if max_components is None else max_components
    if not 1 <= max_components <= dim:
        raise UserError(f"PCA components must be between 1 and {dim}, got {max_components}")
    x = data.to(FIT_DTYPE)
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = centred.T @ centred / (len(x) - 1)
    # eigh returns ascending eigenvalues; flip to put the largest variance first.
    values, vectors = torch.linalg.eigh(covariance)
    values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1)
    return PCA(mean=mean, components=vectors[:, :max_components].contiguous(),
               explained_variance=values)


class PCAReconstructor:
    """A PCA of fixed size behind the same ``images -> reconstructions`` call as a model."""

    def __init__(self, pca: PCA, k: int):
        pca.basis(k)  # fail now, not mid-evaluation, if k is out of range
        self.pca, self.k = pca, k

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # The fit lives on the CPU in float64; move the images there and the result back.
        return self.pca.reconstruct(images.to(self.pca.mean.device), self.k).to(images.device)
