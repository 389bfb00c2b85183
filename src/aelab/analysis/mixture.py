"""A Gaussian mixture over an autoencoder's codes, so that a model with no prior can still be sampled.

A deterministic autoencoder (``mlp``, ``conv``) maps images to codes but says nothing about where
in code space images live: decoding ``N(0, I)`` draws gives blurs. Fitting a mixture to the codes
of the training images gives it a density to draw from instead (the "ex-post density estimation"
of Ghosh et al., 2020), and decoding those draws gives new images.

Each component has a **full** covariance with a small ridge. A plain autoencoder's code units are
free to be correlated (no KL term pushes them towards independence), and a diagonal covariance
would spread draws into the empty corners between correlated units, where the decoder has never
been; codes are small (2 to a few hundred units), so a d x d matrix per component costs nothing.
The ridge, :data:`RIDGE` times the codes' mean variance, is added to every covariance so that its
Cholesky factor exists when a component holds few codes or the codes lie on a flat subspace (a
ReLU unit that is always 0).

It is fitted by EM in float64 from k-means++ seeding, all randomness from a generator seeded by
the caller, so the same codes and seed give the same mixture, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError

RIDGE = 1e-6  # of the codes' mean variance: enough for a Cholesky factor, too little to blur a component
MAX_ITERATIONS = 100  # EM on codes converges in tens; the bound keeps a slow fit from running on
# Change in the mean log-likelihood per code, in nats, at which EM stops (scikit-learn's default):
# past it the means move by far less than the spread of a component, which draws cannot show.
TOLERANCE = 1e-3
DEAD = 1e-8  # a component holding fewer codes than this (in responsibility) keeps its last estimate
LOG_2PI = math.log(2 * math.pi)


@dataclass
class GaussianMixture:
    """``weights`` (K), ``means`` (K x d) and the Cholesky factors ``scales`` (K x d x d) of the
    covariances; ``iterations`` and ``converged`` say how the fit ended."""

    weights: torch.Tensor
    means: torch.Tensor
    scales: torch.Tensor
    iterations: int = 0
    converged: bool = False
    dtype: torch.dtype = torch.float32  # what ``sample`` returns: the dtype of the codes it was fitted to

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def covariances(self) -> torch.Tensor:
        return self.scales @ self.scales.transpose(1, 2)

    def component_log_probs(self, codes: torch.Tensor) -> torch.Tensor:
        """``N x K``: each code's log density under each component, plus that component's log weight."""
        codes = torch.as_tensor(codes).to(torch.float64)
        return torch.stack(
            [
                torch.log(weight) + gaussian_log_prob(codes, mean, scale)
                for weight, mean, scale in zip(self.weights, self.means, self.scales)
            ],
            dim=1,
        )

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """Each code's log density under the mixture, in nats (float64, ``N``).

        Example::

            >>> mixture = fit_mixture(codes, components=10, seed=0)
            >>> mixture.log_prob(codes).mean()  # the mean log-likelihood of the training codes
        """
        return torch.logsumexp(self.component_log_probs(codes), dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """``n`` codes (``n x d``): a component picked by weight, then a draw from it, its deviation
        from the component's mean scaled by ``temperature``.

        Example::

            >>> codes = mixture.sample(64, torch.Generator().manual_seed(0))
            >>> images = model.decode(codes)
        """
        picks = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        deviations = torch.einsum("nij,nj->ni", self.scales[picks], noise)
        return (self.means[picks] + temperature * deviations).to(self.dtype)


def gaussian_log_prob(codes: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Log density of each row of ``codes`` under ``N(mean, scale @ scale.T)``."""
    whitened = torch.linalg.solve_triangular(scale, (codes - mean).T, upper=False)
    log_det = 2 * torch.log(torch.diagonal(scale)).sum()
    return -0.5 * (whitened.pow(2).sum(0) + log_det + len(mean) * LOG_2PI)


def cholesky(covariance: torch.Tensor, ridge: float) -> torch.Tensor:
    """The Cholesky factor of ``covariance`` plus ``ridge`` on its diagonal, the ridge raised tenfold
    until the factor exists (rounding can leave a nearly flat covariance just short of positive)."""
    eye = torch.eye(len(covariance), dtype=covariance.dtype)
    for _ in range(12):
        factor, info = torch.linalg.cholesky_ex(covariance + ridge * eye)
        if info == 0:
            return factor
        ridge *= 10
    raise UserError("the codes' covariance has no Cholesky factor even with a large ridge; check the codes")


def check_codes(codes, components) -> torch.Tensor:
    if isinstance(components, bool) or not isinstance(components, int):
        raise UserError(f"the number of mixture components must be a whole number, not {components!r}; pass an int")
    codes = torch.as_tensor(codes)
    if codes.dim() != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
        raise UserError(f"codes must be a non-empty N x d table, got shape {tuple(codes.shape)}; pass model codes")
    if not codes.is_floating_point():
        codes = codes.double()
    if not torch.isfinite(codes).all():
        bad = int((~torch.isfinite(codes)).any(dim=1).sum())
        raise UserError(f"{bad} of the {len(codes)} codes hold NaN or inf; check the model and the images it encoded")
    if components < 1:
        raise UserError(f"a mixture needs at least 1 component, not {components}; ask for 1 or more")
    if components > len(codes):
        raise UserError(
            f"{components} mixture components need at least as many codes, but there are {len(codes)}; "
            f"ask for at most {len(codes)}"
        )
    return codes


def seed_means(codes: torch.Tensor, components: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++: the first mean a uniform pick, each next one a code drawn with chance proportional
    to its squared distance from the nearest mean chosen so far, so the means start spread out."""
    chosen = [int(torch.randint(len(codes), (), generator=generator))]
    nearest = (codes - codes[chosen[0]]).pow(2).sum(1)
    for _ in range(1, components):
        total = nearest.sum()
        # identical codes leave no distance to weigh by; any code is then as good as another
        chances = nearest / total if total > 0 else torch.ones_like(nearest)
        chosen.append(int(torch.multinomial(chances, 1, generator=generator)))
        nearest = torch.minimum(nearest, (codes - codes[chosen[-1]]).pow(2).sum(1))
    return codes[chosen].clone()


def fit_mixture(
    codes: torch.Tensor,
    components: int,
    seed: int = 0,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> GaussianMixture:
    """A ``components``-component full-covariance Gaussian mixture fitted to ``codes`` (``N x d``) by
    EM, seeded by k-means++ from ``seed``; stops after ``max_iterations`` or once the mean
    log-likelihood per code rises by less than ``tolerance``.

    Example::

        >>> mixture = fit_mixture(encode_all(model, train_set), components=10, seed=0)
        >>> model.decode(mixture.sample(16, torch.Generator().manual_seed(0)))
    """
    dtype = torch.as_tensor(codes).dtype
    data = check_codes(codes, components).to(torch.float64)
    n, d = data.shape
    generator = torch.Generator().manual_seed(seed)
    ridge = RIDGE * max(float(data.var(0, correction=0).mean()), 1e-12)
    spread = cholesky(torch.atleast_2d(torch.cov(data.T, correction=0)), ridge)
    mixture = GaussianMixture(
        weights=torch.full((components,), 1.0 / components, dtype=torch.float64),
        means=seed_means(data, components, generator),
        scales=spread.expand(components, d, d).clone(),
        dtype=dtype if dtype.is_floating_point else torch.float32,
    )
    previous = -math.inf
    for iteration in range(1, max_iterations + 1):
        joint = mixture.component_log_probs(data)
        log_likelihood = torch.logsumexp(joint, dim=1, keepdim=True)
        responsibilities = (joint - log_likelihood).exp()
        maximise(mixture, data, responsibilities, ridge)
        mixture.iterations = iteration
        mean_log_likelihood = float(log_likelihood.mean())
        if abs(mean_log_likelihood - previous) < tolerance:
            mixture.converged = True
            break
        previous = mean_log_likelihood
    return mixture


def maximise(mixture: GaussianMixture, data: torch.Tensor, responsibilities: torch.Tensor, ridge: float) -> None:
    """EM's M step, in place: each component's weight, mean and covariance from its share of the codes."""
    counts = responsibilities.sum(0)
    mixture.weights = counts / counts.sum()
    means = responsibilities.T @ data / counts.clamp(min=DEAD)[:, None]
    for k in range(mixture.components):
        if counts[k] < DEAD:  # no codes left to estimate it from; with weight ~0 it is never drawn
            continue
        centred = data - means[k]
        covariance = (responsibilities[:, k : k + 1] * centred).T @ centred / counts[k]
        mixture.means[k] = means[k]
        mixture.scales[k] = cholesky(covariance, ridge)


def sample_images(model, images, n: int, components: int, temperature: float, seed: int):
    """``(images, mixture, codes fitted)``: ``n`` decoded draws from a mixture fitted to the codes of
    ``images`` (an ImageSet), the fit and the draws both seeded by ``seed``.

    Example::

        >>> pictures, mixture, fitted = sample_images(model, train_set, 64, 10, 1.0, seed=0)
    """
    from .inference import encode_all, model_device

    codes = encode_all(model, images)
    mixture = fit_mixture(codes, components, seed)
    drawn = mixture.sample(n, torch.Generator().manual_seed(seed), temperature)
    with torch.no_grad():
        decoded = model.decode(drawn.to(model_device(model))).cpu()
    return decoded, mixture, len(codes)
