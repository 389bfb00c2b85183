"""Any family's decoder as a list of plain layers and their weights, for the page to run itself.

The page decodes in the browser so that a latent slider never waits on the server. Rather than
one hand-written decoder per family, it gets the decoder's layers in order (linear, relu,
conv_transpose) and one buffer of their weights, and runs whatever it is given; a sigmoid on
the last layer's output gives the image, as :meth:`Autoencoder.decode` does.

Flatten and Unflatten are not listed: a flat C x H x W array, channel-major and row-major, is
the same memory either way, so they only change the shape the next layer is told.
"""

from __future__ import annotations

import math

from torch import nn

from ..errors import UserError
from ..models.base import Autoencoder


def conv_transpose_spec(layer: nn.ConvTranspose2d, in_shape: tuple[int, ...]) -> dict:
    """The layer's description, after checking it is the square, ungrouped kind the page runs."""
    (kernel, kernel_w), (stride, stride_w), (padding, padding_w) = layer.kernel_size, layer.stride, layer.padding
    plain = (
        kernel == kernel_w
        and stride == stride_w
        and padding == padding_w
        and layer.groups == 1
        and layer.dilation == (1, 1)
        and layer.output_padding == (0, 0)
        and layer.bias is not None
    )
    if not plain or len(in_shape) != 3:
        raise UserError(
            f"the explorer cannot decode {layer} in the browser: it runs square, ungrouped, "
            "undilated transposed convolutions with a bias only"
        )
    _, height, width = in_shape
    out = (
        layer.out_channels,
        (height - 1) * stride - 2 * padding + kernel,
        (width - 1) * stride - 2 * padding + kernel,
    )
    return {
        "kind": "conv_transpose",
        "in_shape": list(in_shape),
        "out_shape": list(out),
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
    }


def describe(model: Autoencoder) -> tuple[list[dict], list[nn.Parameter]]:
    """The layer list ``/api/info`` gives and the parameters ``/api/decoder`` sends, in order."""
    layers, params = [], []
    shape: tuple[int, ...] = (model.config.bottleneck,)
    for module in model.decoder_layers():
        if isinstance(module, nn.Linear):
            layers.append({"kind": "linear", "inputs": module.in_features, "outputs": module.out_features})
            params += [module.weight, module.bias]
            shape = (module.out_features,)
        elif isinstance(module, nn.ReLU):
            layers.append({"kind": "relu"})
        elif isinstance(module, nn.Unflatten):
            shape = tuple(module.unflattened_size)
        elif isinstance(module, nn.Flatten):
            shape = (math.prod(shape),)
        elif isinstance(module, nn.ConvTranspose2d):
            layers.append(conv_transpose_spec(module, shape))
            params += [module.weight, module.bias]
            shape = tuple(layers[-1]["out_shape"])
        else:
            raise UserError(f"the explorer cannot decode a {type(module).__name__} layer in the browser")
    if math.prod(shape) != model.config.output_dim:
        raise UserError(
            f"the decoder's layers give {math.prod(shape)} numbers, not the model's "
            f"{model.config.output_dim} pixels; the explorer cannot decode it in the browser"
        )
    return layers, params


def weight_bytes(params: list[nn.Parameter]) -> bytes:
    """Each parameter in PyTorch's own layout, row-major, as little-endian float32."""
    return b"".join(p.detach().cpu().numpy().astype("<f4").tobytes() for p in params)
