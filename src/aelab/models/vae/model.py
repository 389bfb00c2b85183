"""Variational autoencoders (Kingma and Welling, 2014) on the MLP or the conv body.

The encoder gives a Gaussian posterior q(z|x) (a mean and a log-variance per code number);
training samples a code from it by the reparameterisation trick and minimises the negative
ELBO, -log p(x|z) + beta * KL(q(z|x) || N(0, I)), summed over pixels and code numbers and
averaged over the batch. ``encode`` is the posterior mean, so reconstructions, interpolation
and the explorer see a deterministic code, and ``sample`` decodes draws from the prior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Autoencoder
from ..bodies import conv_decoder, conv_encoder, mlp_decoder, mlp_encoder
from ..conv import ConvConfig
from . import VAEConfig

# The Gaussian decoder's fixed standard deviation: a tenth of the pixel range, so that its
# reconstruction term outweighs the KL term at about the MSE a good autoencoder reaches.
GAUSSIAN_STD = 0.1
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
PSEUDO_INIT_STD = 0.1  # pseudo-inputs start as faint noise around mid-grey, and learn their way to digits
PRIOR_CHUNK_FLOATS = 2**24  # codes x components x code numbers held at once by a VampPrior's log p(z)


class VariationalAutoencoder(Autoencoder):
    variational = True

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        # A conv body reads images as C x H x W, and its kernels run faster channels-last.
        self.spatial = self.channels_last = isinstance(config, ConvConfig)
        encoder, decoder = (conv_encoder, conv_decoder) if self.channels_last else (mlp_encoder, mlp_decoder)
        self.encoder = encoder(config, 2 * config.bottleneck)
        self.decoder = decoder(config)
        if config.prior == "vamp":  # pixels of the pseudo-inputs, as logits: a sigmoid keeps them in [0, 1]
            self.pseudo_logits = nn.Parameter(PSEUDO_INIT_STD * torch.randn(config.pseudo_inputs, config.input_dim))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): its mean and log-variance, each ``N x bottleneck``."""
        shape = self.config.image_shape if isinstance(self.config, ConvConfig) else (self.config.input_dim,)
        mean, log_var = self.encoder(self.batch(x).reshape(-1, *shape)).chunk(2, dim=1)
        return mean, log_var

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, in nats, from the decoder's logits."""
        x = x.reshape(logits.shape)
        if self.config.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        residual = (x - torch.sigmoid(logits)) / GAUSSIAN_STD
        return -(0.5 * residual.square() + math.log(GAUSSIAN_STD) + HALF_LOG_2PI).sum(-1)

    @staticmethod
    def kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per image, in closed form."""
        return 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(-1)

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A VampPrior's components: the posterior means and log-variances at the pseudo-inputs."""
        return self.posterior(torch.sigmoid(self.pseudo_logits))

    def log_prior(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(z) of each code (any leading shape, codes last): N(0, I)'s, or the VampPrior's
        ``log (1/K) sum_k N(z; mean_k, var_k)``, in chunks so K components never fill memory."""
        if self.config.prior == "standard":
            return -(0.5 * codes.square() + HALF_LOG_2PI).sum(-1)
        means, log_vars = self.prior_components()
        flat = codes.reshape(-1, codes.shape[-1])
        rows = max(1, PRIOR_CHUNK_FLOATS // means.numel())
        parts = [
            torch.logsumexp(
                -(0.5 * ((chunk[:, None] - means) ** 2 / log_vars.exp() + log_vars) + HALF_LOG_2PI).sum(-1), dim=1
            )
            for chunk in flat.split(rows)
        ]
        return (torch.cat(parts) - math.log(len(means))).reshape(codes.shape[:-1])

    def divergence(self, mean: torch.Tensor, log_var: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image: in closed form for N(0, I), else from the draw ``noise`` gives."""
        if self.config.prior == "standard":
            return self.kl(mean, log_var)
        code = mean + noise * (0.5 * log_var).exp()
        log_q = -(0.5 * noise.square() + 0.5 * log_var + HALF_LOG_2PI).sum(-1)
        return log_q - self.log_prior(code)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, kind: str = "elbo") -> torch.Tensor:
        """The batch's mean negative ELBO, with ``beta`` on the KL term (``kind`` is for plain autoencoders)."""
        mean, log_var = self.posterior(inputs)
        noise = torch.randn_like(mean)
        code = mean + noise * (0.5 * log_var).exp()
        return (
            -self.log_likelihood(self.decode_logits(code), targets)
            + self.config.beta * self.divergence(mean, log_var, noise)
        ).mean()

    @torch.no_grad()
    def negative_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """-ELBO per image (beta 1: the bound on -log p(x)), from one posterior draw."""
        mean, log_var = self.posterior(x)
        noise = torch.randn_like(mean)
        code = mean + noise * (0.5 * log_var).exp()
        return -self.log_likelihood(self.decode_logits(code), x) + self.divergence(mean, log_var, noise)

    @torch.no_grad()
    def log_weights(self, x: torch.Tensor, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n_samples x N`` importance weights log p(x, z_k) - log q(z_k|x), z_k drawn from q(z|x)
        (noise from ``generator``, a CPU one, so a seed gives the same draws on every device)."""
        mean, log_var = self.posterior(x)
        noise = torch.randn(n_samples, *mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return self.importance_weights(x, mean, log_var, noise)

    def importance_weights(self, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor, noise: torch.Tensor):
        """log p(x, z_k) - log q(z_k|x) for the codes ``z_k = mean + noise_k * std`` (``noise``:
        ``K x N x bottleneck``), differentiable: the IWAE trains on these, eval scores with them."""
        n_samples = len(noise)
        codes = mean + noise * (0.5 * log_var).exp()
        log_q = -(0.5 * noise.square() + 0.5 * log_var + HALF_LOG_2PI).sum(-1)
        log_prior = self.log_prior(codes)
        logits = self.decode_logits(codes.reshape(-1, mean.shape[1])).reshape(n_samples, len(x), -1)
        return self.log_likelihood(logits, x.reshape(1, len(x), -1).expand_as(logits)) + log_prior - log_q

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images (flat, in [0, 1]): decoded draws from the prior, its spread scaled by ``temperature``."""
        device = next(self.parameters()).device
        noise = torch.randn(n, self.config.bottleneck, generator=generator).to(device) * temperature
        if self.config.prior == "standard":
            return self.decode(noise)
        means, log_vars = self.prior_components()  # a component each, uniformly, then a draw from it
        picks = torch.randint(len(means), (n,), generator=generator).to(device)
        return self.decode(means[picks] + noise * (0.5 * log_vars[picks]).exp())
