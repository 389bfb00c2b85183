"""The lab's 4-layer MLP autoencoder: a pure ``nn.Module`` with no I/O."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class MLPAutoencoder(nn.Module):
    """784 -> hidden -> bottleneck -> hidden -> 784, ReLU inside, sigmoid on the output.

    Parameter names are the lab's (``fc1`` ... ``fc4``) so state dicts move freely
    between this class and the lab's ``autoencoderMLP4Layer``.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.fc1 = nn.Linear(c.input_dim, c.hidden)
        self.fc2 = nn.Linear(c.hidden, c.bottleneck)
        self.fc3 = nn.Linear(c.bottleneck, c.hidden)
        self.fc4 = nn.Linear(c.hidden, c.output_dim)
        # The lab's attributes, kept for code written against its class.
        self.type = "MLP4"
        self.input_shape = (1, c.input_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (any shape ending in the pixels, or ``N x C x H x W``) to codes."""
        x = x.reshape(x.shape[0], -1) if x.dim() > 2 else x
        code = self.fc2(F.relu(self.fc1(x)))
        return F.relu(code) if self.config.code_activation == "relu" else code

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        """Codes to pre-sigmoid outputs; a BCE-with-logits loss trains on these."""
        return self.fc4(F.relu(self.fc3(code)))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Codes to flat images with pixels in [0, 1]."""
        return torch.sigmoid(self.decode_logits(code))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, n_steps: int = 8) -> torch.Tensor:
        """Decode ``n_steps`` evenly spaced codes from ``x_a``'s to ``x_b``'s, endpoints included.

        ``x_a`` and ``x_b`` are single images (any shape holding ``input_dim`` pixels);
        the result is ``n_steps x output_dim``.
        """
        if n_steps < 2:
            raise ValueError(f"n_steps must be at least 2 to include both endpoints, got {n_steps}")
        # One image per call, as a reconstruction is computed: batched matmuls may round
        # differently, and the endpoints should be exactly the two reconstructions.
        code_a, code_b = self.encode(x_a.reshape(1, -1)), self.encode(x_b.reshape(1, -1))
        weights = torch.linspace(0.0, 1.0, n_steps, device=code_a.device, dtype=code_a.dtype)
        path = torch.lerp(code_a.expand(n_steps, -1), code_b.expand(n_steps, -1), weights[:, None])
        path[0], path[-1] = code_a[0], code_b[0]  # lerp at weight 1 may miss the end code by a bit
        return torch.cat([self.decode(code[None]) for code in path])


class autoencoderMLP4Layer(MLPAutoencoder):  # noqa: N801 - the lab's name, kept for its scripts
    """The lab's constructor signature over :class:`MLPAutoencoder`."""

    def __init__(self, N_input: int = 784, N_bottleneck: int = 8, N_output: int = 784):  # noqa: N803
        super().__init__(ModelConfig(input_dim=N_input, bottleneck=N_bottleneck, output_dim=N_output))


def init_lab_weights(model: nn.Module) -> None:
    """The lab's initialisation: Xavier-uniform weights, every bias 0.01."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.constant_(module.bias, 0.01)
