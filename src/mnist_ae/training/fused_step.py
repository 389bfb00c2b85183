"""A hand-derived training step for the 4-layer MLP: autograd's math in fewer passes over memory.

Its reference is :class:`~.plain_loop.AutogradStep`, the plain loop's step: the same loss,
gradients and Adam update, written out by hand. ``tests/test_plain_loop.py`` trains both from
the same start on the same batches and compares the parameters.

On a CPU the lab's step spends much of its time outside the matrix products: autograd
zeroes and accumulates gradients, the loss and sigmoid run forward and backward as separate
kernels, and Adam loops over eight small tensors. Here every parameter and gradient lives
in one flat buffer (so Adam is one fused pass), gradients are written straight into that
buffer by the matrix products, and the output layer's loss gradient is one kernel. On a CPU,
the 8-wide code layer's two narrow gradient products are computed as their transposes, which
MKL runs several times faster and rounds less (``bench/gemm_kernels.py`` measures both ways).

Every activation and activation gradient is written into a buffer kept for the batch size.
A fresh multi-megabyte tensor per operation is not free on a CPU: the allocator hands the
memory back to the operating system between steps, and touching it again costs a page fault
per 4 KiB, which showed up as a large share of the step in profiles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn, optim

from ..data.noise import add_noise
from ..models.mlp import MLPAutoencoder

# The out= forms: each writes its result over its first input, which it no longer needs.
threshold_backward_ = torch.ops.aten.threshold_backward.grad_input
sigmoid_backward_ = torch.ops.aten.sigmoid_backward.grad_input
# Products whose result has at most this many columns (the 8-wide code layer's gradients) are
# computed as their transpose on a CPU: MKL is slower and less exact when the result is this
# narrow (``bench/gemm_kernels.py`` measures both ways).
NARROW_COLUMNS = 16


def undecorated(method):
    """``method`` without torch's ``torch.compile`` guards: the function they wrap, if any."""
    return getattr(method, "__wrapped__", method)


class FlatAdam(optim.Adam):
    """Adam over the step's one flat parameter, with torch's own arithmetic and state format.

    ``torch.optim`` guards these methods against ``torch.compile`` by importing the compiler
    (``torch._dynamo``) the first time each is called: seconds of a short run's start-up on a
    small CPU, spent before the first epoch. This step is never compiled (``--compile`` trains
    with the autograd step), so it calls the guarded methods themselves; state dicts, schedulers
    and CUDA graphs see an ordinary ``Adam``.
    """

    def add_param_group(self, param_group: dict) -> None:
        undecorated(optim.Optimizer.add_param_group)(self, param_group)

    def state_dict(self) -> dict:
        return undecorated(optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict) -> None:
        undecorated(optim.Optimizer.load_state_dict)(self, state_dict)

    def step(self, closure=None):
        return undecorated(optim.Adam.step)(self, closure)


def flatten_parameters(model: nn.Module) -> nn.Parameter:
    """Move every parameter into one contiguous buffer; the model's tensors become views of it.

    The flat parameter gets a flat gradient whose slices are each parameter's ``.grad``.
    """
    params = list(model.parameters())
    flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat.data[offset:offset + n].view_as(p)
        p.grad = flat.grad[offset:offset + n].view_as(p)
        offset += n
    return flat


class FusedStep:
    """``step(images) -> loss``: forward, hand-written backward and Adam for ``MLPAutoencoder``."""

    def __init__(self, model: MLPAutoencoder, lr: float, weight_decay: float, loss: str = "mse",
                 train_noise: float = 0.0, precision: str = "fp32", clip_noise: bool = False):
        self.model, self.loss, self.train_noise, self.clip_noise = model, loss, train_noise, clip_noise
        self.relu_code = model.config.code_activation == "relu"
        self.compute_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.flat = flatten_parameters(model)
        # One flat tensor, so torch's fused Adam is a single pass over it, not a loop over eight.
        self.optimizer = FlatAdam([self.flat], lr=lr, weight_decay=weight_decay, fused=True)
        self.layers = (model.fc1, model.fc2, model.fc3, model.fc4)
        self.transpose_narrow = self.flat.device.type == "cpu"  # MKL's slow case, see NARROW_COLUMNS
        self._buffers: dict[tuple, torch.Tensor] = {}

    def _buffer(self, name: str, rows: int, like: torch.Tensor, cols: int | None = None,
                dtype: torch.dtype | None = None) -> torch.Tensor:
        """A (rows x cols) tensor kept for reuse; a full and a short last batch make two sets."""
        cols = like.shape[-1] if cols is None else cols
        dtype = dtype or self.compute_dtype
        key = (name, rows, cols, dtype)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(rows, cols, dtype=dtype, device=like.device)
        return self._buffers[key]

    def _weights(self):
        """Each layer's (weight, bias) in the compute dtype: bf16 copies of the fp32 masters."""
        if self.compute_dtype == torch.float32:
            return [(layer.weight, layer.bias) for layer in self.layers]
        return [(layer.weight.to(self.compute_dtype), layer.bias.to(self.compute_dtype))
                for layer in self.layers]

    def _linear(self, name: str, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        out = self._buffer(name, len(inputs), inputs, cols=weight.shape[0])
        return torch.addmm(bias, inputs, weight.t(), out=out)

    def _narrow(self, columns: int) -> bool:
        return self.transpose_narrow and columns <= NARROW_COLUMNS

    def _input_grad(self, name: str, grad_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        rows, columns = len(grad_out), weight.shape[1]
        if self._narrow(columns):  # computed as (columns x rows), handed on as its transposed view
            transposed = self._buffer(name + ".t", columns, grad_out, cols=rows)
            return torch.mm(weight.t(), grad_out.t(), out=transposed).t()
        return torch.mm(grad_out, weight, out=self._buffer(name, rows, grad_out, cols=columns))

    def _store_grads(self, layer: nn.Linear, grad_out: torch.Tensor, inputs: torch.Tensor) -> None:
        grad = layer.weight.grad
        if self._narrow(grad.shape[1]):
            grad.copy_((inputs.t() @ grad_out).t())
        elif grad_out.dtype == grad.dtype:
            torch.mm(grad_out.t(), inputs, out=grad)
        else:  # bf16 products land in the fp32 gradient buffer
            grad.copy_(grad_out.t() @ inputs)
        if grad_out.dtype == layer.bias.grad.dtype:
            torch.sum(grad_out, 0, out=layer.bias.grad)
        else:
            layer.bias.grad.copy_(grad_out.sum(0))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        targets = images
        n = len(images)
        inputs = images
        if self.train_noise:
            noise = torch.randn(images.shape, out=self._buffer("noise", n, images, dtype=images.dtype))
            inputs = add_noise(images, noise, self.train_noise, self.clip_noise, out=noise)
        (w1, b1), (w2, b2), (w3, b3), (w4, b4) = self._weights()
        x = inputs
        if inputs.dtype != self.compute_dtype:
            x = self._buffer("x", n, inputs).copy_(inputs)

        h1 = self._linear("h1", x, w1, b1).relu_()
        code = self._linear("code", h1, w2, b2)
        if self.relu_code:
            code.relu_()
        h3 = self._linear("h3", code, w3, b3).relu_()
        logits = self._linear("logits", h3, w4, b4)
        if logits.dtype != torch.float32:  # the loss and its gradient in fp32
            logits = self._buffer("logits32", n, logits, dtype=torch.float32).copy_(logits)

        scale = 1.0 / targets.numel()  # both losses are means over every pixel
        if self.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, targets)
            grad_logits = logits.sigmoid_().sub_(targets).mul_(scale)
        else:
            outputs = logits.sigmoid_()
            diff = torch.sub(outputs, targets, out=self._buffer("diff", n, outputs, dtype=torch.float32))
            loss = torch.dot(diff.reshape(-1), diff.reshape(-1)) * scale
            grad_logits = sigmoid_backward_(diff.mul_(2 * scale), outputs, grad_input=diff)
        if grad_logits.dtype != self.compute_dtype:
            grad_logits = self._buffer("grad_logits", n, grad_logits).copy_(grad_logits)

        fc1, fc2, fc3, fc4 = self.layers
        self._store_grads(fc4, grad_logits, h3)
        grad_h3 = self._input_grad("grad_h3", grad_logits, w4)
        grad_h3 = threshold_backward_(grad_h3, h3, 0, grad_input=grad_h3)
        self._store_grads(fc3, grad_h3, code)
        grad_code = self._input_grad("grad_code", grad_h3, w3)
        if self.relu_code:
            grad_code = threshold_backward_(grad_code, code, 0, grad_input=grad_code)
        self._store_grads(fc2, grad_code, h1)
        grad_h1 = self._input_grad("grad_h1", grad_code, w2)
        grad_h1 = threshold_backward_(grad_h1, h1, 0, grad_input=grad_h1)
        self._store_grads(fc1, grad_h1, x)
        self.optimizer.step()
        return loss
