"""The convolutional autoencoder: stride-2 convolutions down, a linear bottleneck, transposed
convolutions up (:mod:`aelab.models.bodies`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..base import Autoencoder
from ..bodies import conv_decoder, conv_encoder
from . import ConvConfig


class ConvAutoencoder(Autoencoder):
    spatial = channels_last = True

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        self.encoder = conv_encoder(config, config.bottleneck)
        self.decoder = conv_decoder(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(self.batch(x).reshape(-1, *self.config.image_shape))
        return F.relu(code) if self.config.code_activation == "relu" else code

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)
