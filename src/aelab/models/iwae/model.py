"""The IWAE's loss: the negative K-sample importance-weighted bound, averaged over the batch.

``-log (1/K) sum_k p(x, z_k) / q(z_k|x)`` with ``z_k`` drawn from q(z|x) by the
reparameterisation trick; everything else (the networks, ``sample``, the importance weights eval
scores with) is the VAE's.
"""

from __future__ import annotations

import math

import torch

from ..vae.model import VariationalAutoencoder


class ImportanceWeightedAutoencoder(VariationalAutoencoder):
    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, kind: str = "elbo") -> torch.Tensor:
        """The batch's mean negative IW bound (``kind`` is for plain autoencoders)."""
        mean, log_var = self.posterior(inputs)
        k = self.config.iw_train_samples
        noise = torch.randn(k, *mean.shape, device=mean.device, dtype=mean.dtype)
        weights = self.importance_weights(targets, mean, log_var, noise)
        return -(torch.logsumexp(weights, 0) - math.log(k)).mean()
