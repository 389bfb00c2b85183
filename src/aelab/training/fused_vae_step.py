"""A hand-derived training step for MLP-bodied VAEs: the negative ELBO's gradients written out.

Its reference is :class:`~.plain_loop.AutogradStep` on
:meth:`~aelab.models.vae.VariationalAutoencoder.loss`: one reparameterised draw
``code = mean + noise * std`` per image, the decoder's log-likelihood and ``beta`` times the
closed-form KL, averaged over the batch. It draws the same random numbers in the same order
(the binarisation's, the input noise's, then the code's), so from one seed both train alike;
``tests/test_fused_vae_step.py`` compares them step by step.

With ``L = mean over images of [-log p(x|z) + beta * KL]`` and ``n`` images, the gradients
reaching the encoder's last layer are

- ``dL/dmean = dL/dcode + beta * mean / n``
- ``dL/dlog_var = dL/dcode * noise * std / 2 + beta * (std^2 - 1) / (2 n)``

and a Bernoulli decoder's output gradient is ``(sigmoid(logits) - x) / n``; the layers on
either side are :mod:`.fused_ops`' chains. At pytorch/examples' batch of 128 the step is
short, so autograd's bookkeeping, Adam's per-tensor loop and ``torch.bernoulli`` weigh as
much as the products; here they are gone or fused.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models.conv import ConvConfig
from ..models.vae.model import GAUSSIAN_STD, HALF_LOG_2PI, VariationalAutoencoder
from .fused_ops import HandWrittenStep, sigmoid_backward_


def linear_layers(body: nn.Sequential) -> tuple[list[nn.Linear], list[bool]]:
    """A body's linear layers and, for each, whether a ReLU follows it."""
    modules = list(body)
    layers = [m for m in modules if isinstance(m, nn.Linear)]
    relus = [
        i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU)
        for i, m in enumerate(modules)
        if isinstance(m, nn.Linear)
    ]
    return layers, relus


class FusedVAEStep(HandWrittenStep):
    """``step(images) -> loss``: forward, hand-written backward and Adam for an MLP-bodied VAE."""

    def __init__(
        self,
        model: VariationalAutoencoder,
        lr: float,
        weight_decay: float,
        train_noise: float = 0.0,
        clip_noise: bool = False,
        binarize: bool = False,
    ):
        if model.channels_last:
            raise ValueError("the fused VAE step trains MLP bodies; a conv-vae trains with the autograd step")
        super().__init__(model, lr, weight_decay, train_noise, clip_noise, binarize)
        self.encoder, self.encoder_relus = linear_layers(model.encoder)
        self.decoder, self.decoder_relus = linear_layers(model.decoder)
        self.codes, self.beta, self.likelihood = model.config.bottleneck, model.config.beta, model.config.likelihood

    @staticmethod
    def unsupported(model_config, config) -> str | None:
        """What of this run the step cannot train, as a phrase; None: all of it."""
        if isinstance(model_config, ConvConfig):
            return f"a {model_config.family} model"
        if config.precision == "bf16":
            return f"a {model_config.family} model in bf16"
        if model_config.prior != "standard":  # its KL term has no closed form to differentiate by hand
            return f"a {model_config.family} model with a {model_config.prior} prior"
        return None

    @classmethod
    def for_run(cls, model: VariationalAutoencoder, config) -> FusedVAEStep:
        return cls(model, config.lr, config.weight_decay, config.train_noise, config.clip_noise, config.binarize)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        inputs, targets = self.training_inputs(images)
        n, z = len(images), self.codes
        encoder_weights = [(layer.weight, layer.bias) for layer in self.encoder]
        decoder_weights = [(layer.weight, layer.bias) for layer in self.decoder]

        encoded = self._forward_chain("encoder", inputs, encoder_weights, self.encoder_relus)
        mean, log_var = encoded[-1][:, :z], encoded[-1][:, z:]
        noise = torch.randn(mean.shape, out=self._buffer("noise_code", n, mean))
        std = torch.mul(log_var, 0.5, out=self._buffer("std", n, mean)).exp_()
        code = torch.mul(noise, std, out=self._buffer("code", n, mean)).add_(mean)
        decoded = self._forward_chain("decoder", code, decoder_weights, self.decoder_relus)
        logits = decoded[-1]

        variance = std.square()
        kl = 0.5 * (mean.square() + variance - 1 - log_var).sum()
        reconstruction, grad_logits = self._likelihood_and_gradient(logits, targets, scale=1.0 / n)
        loss = (reconstruction + self.beta * kl) / n

        grad_code = self._backward_chain(
            "decoder", grad_logits, decoded, self.decoder, decoder_weights, self.decoder_relus, input_grad=True
        )
        grad_stats = self._buffer("grad_stats", n, encoded[-1])
        kl_scale = self.beta / n
        torch.add(grad_code, mean, alpha=kl_scale, out=grad_stats[:, :z])
        grad_log_var = grad_stats[:, z:]
        torch.mul(grad_code, noise, out=grad_log_var).mul_(std).mul_(0.5)
        grad_log_var.add_(variance.sub_(1), alpha=0.5 * kl_scale)
        self._backward_chain("encoder", grad_stats, encoded, self.encoder, encoder_weights, self.encoder_relus)
        self.optimizer.step()
        return loss

    def _likelihood_and_gradient(self, logits: torch.Tensor, targets: torch.Tensor, scale: float):
        """``-log p(x|z)`` summed over the batch, and its gradient on the logits times ``scale``
        (written over the logits, which the backward pass no longer needs)."""
        if self.likelihood == "bernoulli":
            reconstruction = F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
            return reconstruction, logits.sigmoid_().sub_(targets).mul_(scale)
        pixels = logits.sigmoid_()
        residual = torch.sub(pixels, targets, out=self._buffer("residual", len(pixels), pixels))
        reconstruction = 0.5 * torch.dot(
            residual.reshape(-1), residual.reshape(-1)
        ) / GAUSSIAN_STD**2 + residual.numel() * (math.log(GAUSSIAN_STD) + HALF_LOG_2PI)
        grad = sigmoid_backward_(residual.mul_(scale / GAUSSIAN_STD**2), pixels, grad_input=residual)
        return reconstruction, grad
