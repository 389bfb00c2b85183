"""The lab's 4-layer MLP autoencoder: a pure ``nn.Module`` with no I/O."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Autoencoder
from . import MLPConfig


class MLPAutoencoder(Autoencoder):
    """784 -> hidden -> bottleneck -> hidden -> 784, ReLU inside, sigmoid on the output.

    Parameter names are the lab's (``fc1`` ... ``fc4``) so state dicts move freely
    between this class and the lab's ``autoencoderMLP4Layer``.

    Example::

        >>> model = MLPAutoencoder(MLPConfig(bottleneck=16))
        >>> model(torch.rand(5, 784)).shape
        torch.Size([5, 784])
    """

    def __init__(self, config: MLPConfig | None = None):
        super().__init__(config or MLPConfig())
        c = self.config
        self.fc1 = nn.Linear(c.input_dim, c.hidden)
        self.fc2 = nn.Linear(c.hidden, c.bottleneck)
        self.fc3 = nn.Linear(c.bottleneck, c.hidden)
        self.fc4 = nn.Linear(c.hidden, c.output_dim)
        # The lab's attributes, kept for code written against its class.
        self.type = "MLP4"
        self.input_shape = (1, c.input_dim)

    def initialize(self) -> None:
        init_lab_weights(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (``N x C x H x W`` or flat ``N x pixels``) to codes."""
        x = self.batch(x)
        x = x.reshape(x.shape[0], -1) if x.dim() > 2 else x
        code = self.fc2(F.relu(self.fc1(x)))
        return F.relu(code) if self.config.code_activation == "relu" else code

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.fc4(F.relu(self.fc3(code)))

    def decoder_layers(self) -> list[nn.Module]:
        return [self.fc3, nn.ReLU(), self.fc4]  # the lab's named layers, not a Sequential


class autoencoderMLP4Layer(MLPAutoencoder):  # noqa: N801 - the lab's name, kept for its scripts
    """The lab's constructor signature over :class:`MLPAutoencoder`.

    Example (the lab's own lines)::

        >>> model = autoencoderMLP4Layer(N_input=784, N_bottleneck=8, N_output=784)
        >>> model.load_state_dict(torch.load("MLP.8.pth"))
        <All keys matched successfully>
    """

    def __init__(self, N_input: int = 784, N_bottleneck: int = 8, N_output: int = 784):  # noqa: N803
        super().__init__(MLPConfig(input_dim=N_input, bottleneck=N_bottleneck, output_dim=N_output))


def init_lab_weights(model: nn.Module) -> None:
    """The lab's initialisation: Xavier-uniform weights, every bias 0.01."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.constant_(module.bias, 0.01)
