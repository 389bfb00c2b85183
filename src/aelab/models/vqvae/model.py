"""The VQ-VAE's network: conv stages down to a grid of ``code_dim`` vectors, each snapped to its
nearest codebook row, and transposed convolutions back up.

:meth:`VQVAE.encode` gives the *quantised* grid, flattened, so that ``decode(encode(x))`` is the
model's reconstruction wherever a command takes it apart (the explorer's reconstruction, the
lab's interpolation, the mixture ``aelab sample`` fits). :meth:`VQVAE.decode` does not snap: it
decodes any code as the decoder's plain layers do, so the explorer runs it in the page, and its
sliders and the lab's interpolation show what the decoder makes of codes between codebook rows.
:meth:`VQVAE.features` gives the continuous encoder output, before the snap.

Training (:meth:`VQVAE.loss`) is the paper's: the reconstruction, the commitment loss
``beta ||z_e - sg(e)||^2``, and either the codebook loss ``||sg(z_e) - e||^2`` or, by default,
the exponential moving averages of its appendix, which move each code to the mean of the
vectors it was chosen for. Codes no vector chose for :data:`RESTART_AFTER` steps are restarted
at random encoder outputs of the batch, so that a bad start does not leave most of the codebook
unused. The codebook is a buffer when the averages move it, a parameter when a loss does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Autoencoder
from ..bodies import CONV_PADDING
from ..conv import CONV_KERNEL, CONV_STRIDE
from . import VQVAEConfig

RESTART_AFTER = 50  # steps: at batch 128, some 300 000 code vectors have passed a code no one chose
SMALLEST_COUNT = 1e-5  # keeps a code's average count from dividing by zero once it has decayed


def stages(config: VQVAEConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """The encoder (stride-2 stages, then a 1x1 convolution to ``code_dim`` channels) and its
    mirror, the decoder (a 1x1 transposed convolution, then the stages back up, logits last)."""
    widths = (config.image_shape[0], *config.conv_channels)
    down: list[nn.Module] = []
    for before, after in zip(widths, widths[1:]):
        down += [nn.Conv2d(before, after, CONV_KERNEL, CONV_STRIDE, CONV_PADDING), nn.ReLU()]
    down.append(nn.Conv2d(widths[-1], config.code_dim, 1))
    # A 1x1 transposed convolution is a 1x1 convolution, and one the explorer's page can run.
    up: list[nn.Module] = [nn.Unflatten(1, config.grid_shape), nn.ConvTranspose2d(config.code_dim, widths[-1], 1)]
    for after, before in reversed(list(zip(widths, widths[1:]))):
        up += [nn.ReLU(), nn.ConvTranspose2d(before, after, CONV_KERNEL, CONV_STRIDE, CONV_PADDING)]
    return nn.Sequential(*down), nn.Sequential(*up, nn.Flatten())


class VQVAE(Autoencoder):
    """A vector-quantised autoencoder; ``encode`` gives quantised codes, ``decode`` does not snap."""

    spatial = channels_last = True

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        self.encoder, self.decoder = stages(config)
        codebook = torch.empty(config.codebook_size, config.code_dim)
        if config.codebook_update == "ema":
            self.register_buffer("codebook", codebook)
            self.register_buffer("ema_counts", torch.empty(config.codebook_size))
            self.register_buffer("ema_sums", torch.empty_like(codebook))
        else:
            self.codebook = nn.Parameter(codebook)
        self.register_buffer("unused_steps", torch.zeros(config.codebook_size, dtype=torch.long))

    def initialize(self) -> None:
        """PyTorch's layers, a codebook uniform in +-1/K, and each average as one sight of its code.

        Rows that small lie close to 0 beside the encoder's first outputs, so each vector picks the
        row that points its way, and two images start with different codes rather than all with
        one. Every code counts as unused for all but one step, so the first training step restarts
        each code no vector chose at one of the batch's encoder outputs: a start from the data."""
        k = self.config.codebook_size
        with torch.no_grad():
            nn.init.uniform_(self.codebook, -1 / k, 1 / k)
            self.unused_steps.fill_(RESTART_AFTER - 1)
            if self.config.codebook_update == "ema":
                self.ema_counts.fill_(1.0)
                self.ema_sums.copy_(self.codebook)

    def features(self, x) -> torch.Tensor:
        """The continuous encoder output ``z_e``, ``N x code_dim x H x W``, before the snap."""
        return self.encoder(self.batch(x).reshape(-1, *self.config.image_shape))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each vector of ``z`` (``N x code_dim x H x W``, or rows of ``code_dim``) as its nearest
        codebook row, with the straight-through gradient (the decoder's gradient reaches ``z``
        unchanged), and the rows' indices (``N x H x W``, or one per row)."""
        grid = z.dim() == 4
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]) if grid else z
        indices = self.nearest(flat)
        chosen = self.codebook.detach()[indices].to(z.dtype)
        # chosen + (flat - flat) is chosen exactly, and its gradient with respect to flat is 1.
        snapped = chosen + (flat - flat.detach())
        if not grid:
            return snapped, indices
        n, d, h, w = z.shape
        return snapped.reshape(n, h, w, d).permute(0, 3, 1, 2), indices.reshape(n, h, w)

    @torch.no_grad()
    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """The index of each row's nearest codebook row (squared distance, in float32 at least)."""
        dtype = torch.promote_types(flat.dtype, torch.float32)
        rows, codebook = flat.detach().to(dtype), self.codebook.detach().to(dtype)
        distances = torch.addmm((codebook * codebook).sum(1), rows, codebook.T, alpha=-2)
        return distances.argmin(1)

    def encode(self, x) -> torch.Tensor:
        """Images to their quantised codes, flat ``N x bottleneck`` (channel-major, as the grid)."""
        return self.quantize(self.features(x))[0].flatten(1)

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
        """Reconstruction (MSE or BCE on logits, as the base class), plus the commitment loss, plus
        the codebook loss with ``--codebook-update loss``; in a training step the codebook's moving
        averages and its restarts move on, once per call."""
        z = self.features(inputs)
        snapped, indices = self.quantize(z)
        logits = self.decode_logits(snapped.flatten(1))
        targets = targets.reshape(logits.shape)
        if kind == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        else:
            loss = F.mse_loss(torch.sigmoid(logits), targets)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        codes = self.codebook[indices.reshape(-1)].to(flat.dtype)
        loss = loss + self.config.commitment * F.mse_loss(flat, codes.detach())
        if self.config.codebook_update == "loss":
            loss = loss + F.mse_loss(codes, flat.detach())
        # No update without gradients: evaluation passes and the meta-device memory check leave it be.
        if self.training and torch.is_grad_enabled():
            self.update_codebook(flat.detach(), indices.reshape(-1))
        return loss

    @torch.no_grad()
    def update_codebook(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        """One step of the moving averages (with ``--codebook-update ema``) and of the restarts:
        each code chosen by ``n`` of ``flat``'s rows summing to ``s`` has its count ``N`` and sum
        ``m`` moved to ``decay N + (1 - decay) n`` and ``decay m + (1 - decay) s``, and becomes
        ``m / N``. Written without a host sync, so a step never waits for the device."""
        flat = flat.to(self.codebook.dtype)
        k = self.config.codebook_size
        counts = torch.zeros(k, device=flat.device, dtype=flat.dtype).index_add_(
            0, indices, torch.ones_like(indices, dtype=flat.dtype)
        )
        used = counts > 0
        self.unused_steps.copy_(torch.where(used, 0, self.unused_steps + 1))
        # Drawn every step, dead codes or not, so that the random stream does not hang on the data.
        picks = flat[torch.randint(0, flat.shape[0], (k,), device=flat.device)]
        dead = (self.unused_steps >= RESTART_AFTER)[:, None]
        if self.config.codebook_update == "ema":
            sums = torch.zeros_like(self.ema_sums).index_add_(0, indices, flat)
            decay = self.config.ema_decay
            self.ema_counts.mul_(decay).add_(counts, alpha=1 - decay)
            self.ema_sums.mul_(decay).add_(sums, alpha=1 - decay)
            self.ema_counts.copy_(torch.where(dead[:, 0], 1.0, self.ema_counts))
            self.ema_sums.copy_(torch.where(dead, picks, self.ema_sums))
            self.codebook.copy_(self.ema_sums / self.ema_counts.clamp_min(SMALLEST_COUNT)[:, None])
        else:
            self.codebook.copy_(torch.where(dead, picks, self.codebook))
        self.unused_steps.masked_fill_(dead[:, 0], 0)

    @torch.no_grad()
    def codebook_usage(self, x, batch_size: int = 1024) -> dict:
        """How ``x``'s code vectors use the codebook: ``perplexity`` (the exponential of the
        entropy of the codes' frequencies: the codebook's size if every code is used equally, 1 if
        one code takes all) and ``dead`` (codes no vector chose)."""
        was_training = self.training
        self.eval()
        counts = torch.zeros(self.config.codebook_size, dtype=torch.float64)
        try:
            for start in range(0, len(x), batch_size):
                indices = self.quantize(self.features(x[start : start + batch_size]))[1].reshape(-1)
                counts += torch.bincount(indices.cpu(), minlength=self.config.codebook_size).double()
        finally:
            self.train(was_training)
        p = counts / counts.sum().clamp_min(1)
        entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
        return {"perplexity": math.exp(entropy), "dead": int((counts == 0).sum())}
