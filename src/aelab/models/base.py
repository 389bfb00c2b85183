"""What every autoencoder family shares: the API the trainer, the evaluation and the explorer use.

A family defines ``encode`` (images to codes) and ``decode_logits`` (codes to pre-sigmoid
pixels); this class builds ``decode``, ``forward``, ``interpolate`` and the training ``loss``
from them. Images come in as ``N x C x H x W`` or flat ``N x pixels``, uint8 (0-255) or float
(0-1), and :meth:`batch` refuses any other shape; outputs are flat, as the lab's code reads them,
and :meth:`images` lays them out as ``N x C x H x W`` for plotting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .config import ModelConfig


class Autoencoder(nn.Module):
    """Base of every family; ``variational`` says whether it also has a density (``sample``, ELBO),
    ``spatial`` whether it reads each image as ``C x H x W`` (so the layout matters, not only the
    pixel count), ``channels_last`` whether it trains and evaluates faster in that layout."""

    variational = False
    spatial = False
    channels_last = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images to codes, ``N x bottleneck``; a family starts with ``x = self.batch(x)``."""
        raise NotImplementedError

    def batch(self, x) -> torch.Tensor:
        """``x`` as the float batch this model reads, on its device: ``N x C x H x W`` of its image
        shape or flat ``N x pixels``; uint8 pixels are scaled from 0-255 to 0-1.

        Example::

            >>> model.batch(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape
            torch.Size([2, 1, 28, 28])
        """
        x = torch.as_tensor(x)
        c = self.config
        fits = (x.dim() == 4 and tuple(x.shape[1:]) == c.image_shape) or (x.dim() == 2 and x.shape[1] == c.input_dim)
        if not fits:
            channels, height, width = c.image_shape
            raise InputError(
                f"this model takes images N x {channels} x {height} x {width} or flat N x {c.input_dim}, "
                f"not {' x '.join(map(str, x.shape)) or 'a scalar'}; reshape them (a channels-last "
                "N x H x W x C array: x.permute(0, 3, 1, 2))"
            )
        probe = next(self.parameters(), None)
        dtype = probe.dtype if probe is not None else torch.float32
        if x.dtype == torch.uint8:
            x = x.to(dtype) / 255
        elif not x.is_floating_point():
            raise InputError(f"this model takes uint8 (0-255) or floating-point (0-1) pixels, not {x.dtype}")
        x = x.to(device=probe.device if probe is not None else None, dtype=dtype)
        # A model in use checks what it is given; in training the trainer's loss check does (and
        # a check here would cost every step a pass over the batch and a host sync).
        if not self.training and not bool(torch.isfinite(x).all()):
            raise InputError("these images hold NaN or infinite pixels; give pixels in 0-1 (or 0-255 as uint8)")
        return x

    def images(self, flat: torch.Tensor) -> torch.Tensor:
        """Flat outputs as ``N x C x H x W`` images, ready to plot."""
        return flat.reshape(-1, *self.config.image_shape)

    @torch.no_grad()
    def reconstruct(self, x) -> torch.Tensor:
        """``x``'s reconstructions as ``N x C x H x W`` images in [0, 1] (the model in eval mode)."""
        self.eval()
        return self.images(self(x))

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        """Codes to flat pre-sigmoid outputs; a BCE-with-logits loss trains on these."""
        raise NotImplementedError

    def initialize(self) -> None:
        """A new run's weights; PyTorch's default initialisation unless a family says otherwise."""

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Codes to flat images with pixels in [0, 1]."""
        return torch.sigmoid(self.decode_logits(code))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, kind: str) -> torch.Tensor:
        """The training objective: MSE between the output and the clean targets (the lab's),
        or BCE on the decoder's logits."""
        logits = self.decode_logits(self.encode(inputs))
        targets = targets.reshape(logits.shape)
        if kind == "bce":
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.mse_loss(torch.sigmoid(logits), targets)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, n_steps: int = 8) -> torch.Tensor:
        """Decode ``n_steps`` evenly spaced codes from ``x_a``'s to ``x_b``'s, endpoints included.

        ``x_a`` and ``x_b`` are single images (any shape holding ``input_dim`` pixels);
        the result is ``n_steps x output_dim``.
        """
        if n_steps < 2:
            raise InputError(f"n_steps must be at least 2 to include both endpoints, got {n_steps}")
        # One image per call, as a reconstruction is computed: batched matmuls may round
        # differently, and the endpoints should be exactly the two reconstructions.
        code_a, code_b = self.encode(self.batch_of_one(x_a)), self.encode(self.batch_of_one(x_b))
        weights = torch.linspace(0.0, 1.0, n_steps, device=code_a.device, dtype=code_a.dtype)
        path = torch.lerp(code_a.expand(n_steps, -1), code_b.expand(n_steps, -1), weights[:, None])
        path[0], path[-1] = code_a[0], code_b[0]  # lerp at weight 1 may miss the end code by a bit
        return torch.cat([self.decode(code[None]) for code in path])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        try:
            return super().load_state_dict(state_dict, strict, assign)
        except RuntimeError as err:
            if "size mismatch" not in str(err):
                raise
            raise InputError(
                f"these weights are another shape than this {self.config.layer_sizes} model's; "
                "aelab.load(path) builds the model a checkpoint's weights need"
            ) from None

    def decoder_layers(self) -> list[nn.Module]:
        """The modules ``decode_logits`` runs, in order (the explorer's page runs them itself)."""
        return list(self.decoder)

    def activation_numbers(self) -> int:
        """Numbers each image leaves behind in a training step: every layer's output, encoder and
        decoder. Run on a model built on the meta device, it measures any family for free."""
        counted = []
        hooks = [
            m.register_forward_hook(lambda m, i, out: counted.append(out.numel()))
            for m in self.modules()
            if next(m.parameters(recurse=False), None) is not None
        ]
        probe = next(self.parameters())
        images = torch.zeros(2, self.config.input_dim, device=probe.device, dtype=probe.dtype)
        try:  # two images, as a batch norm's training statistics need more than one
            with torch.no_grad():
                self.loss(images, images[:, : self.config.output_dim], "mse")
        finally:
            for hook in hooks:
                hook.remove()
        return sum(counted) // len(images)

    def batch_of_one(self, image: torch.Tensor) -> torch.Tensor:
        """One image, however shaped, as a batch of one."""
        image = torch.as_tensor(image)
        if image.numel() != self.config.input_dim:
            raise InputError(f"one image of this model has {self.config.input_dim} pixels, not {image.numel()}")
        return image.reshape(1, -1)
