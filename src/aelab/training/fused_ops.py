"""What the hand-derived training steps share: one flat parameter buffer under a fused Adam,
kept activation buffers, and a chain of linear layers run forward and backward by hand.

:mod:`.fused_step` (the lab's MLP) and :mod:`.fused_vae_step` (an MLP-bodied VAE) are built
from these. Each computes autograd's gradients in fewer passes over memory:

- every parameter and gradient lives in one flat buffer, so Adam is one fused pass, not a
  loop over many small tensors, and the matrix products write gradients straight into it;
- every activation and activation gradient is written into a buffer kept for the batch size.
  A fresh multi-megabyte tensor per operation is not free on a CPU: the allocator hands the
  memory back to the operating system between steps, and touching it again costs a page
  fault per 4 KiB, which showed up as a large share of the step in profiles;
- on a CPU, narrow gradient products (a small code layer's) are computed as their transposes,
  which MKL runs several times faster and rounds less (``bench/gemm_kernels.py``).
"""

from __future__ import annotations

import torch
from torch import nn, optim

from ..data.noise import add_noise, binarize

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
    """Adam over a step's one flat parameter, with torch's own arithmetic and state format.

    ``torch.optim`` guards these methods against ``torch.compile`` by importing the compiler
    (``torch._dynamo``) the first time each is called: seconds of a short run's start-up on a
    small CPU, spent before the first epoch. The hand-derived steps are never compiled
    (``--compile`` trains with the autograd step), so they call the guarded methods themselves;
    state dicts, schedulers and CUDA graphs see an ordinary ``Adam``.
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
        p.data = flat.data[offset : offset + n].view_as(p)
        p.grad = flat.grad[offset : offset + n].view_as(p)
        offset += n
    return flat


class HandWrittenStep:
    """The parameters, Adam and buffers of a hand-derived step, and its layer-level operations.

    A subclass's ``__call__(images) -> loss`` runs the forward pass, writes every gradient and
    calls ``self.optimizer.step()``; :meth:`training_inputs` prepares its batch the way
    :class:`~.plain_loop.AutogradStep` does, drawing the same random numbers in the same order.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float,
        weight_decay: float,
        train_noise: float = 0.0,
        clip_noise: bool = False,
        binarize: bool = False,
        compute_dtype: torch.dtype = torch.float32,
    ):
        self.model, self.train_noise, self.clip_noise, self.binarize = model, train_noise, clip_noise, binarize
        self.compute_dtype = compute_dtype
        self.flat = flatten_parameters(model)
        # One flat tensor, so torch's fused Adam is a single pass over it, not a loop over each.
        self.optimizer = FlatAdam([self.flat], lr=lr, weight_decay=weight_decay, fused=True)
        self.transpose_narrow = self.flat.device.type == "cpu"  # MKL's slow case, see NARROW_COLUMNS
        self._buffers: dict[tuple, torch.Tensor] = {}

    def _buffer(
        self, name: str, rows: int, like: torch.Tensor, cols: int | None = None, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """A (rows x cols) tensor kept for reuse; a full and a short last batch make two sets."""
        cols = like.shape[-1] if cols is None else cols
        dtype = dtype or self.compute_dtype
        key = (name, rows, cols, dtype)
        if key not in self._buffers:
            self._buffers[key] = torch.empty(rows, cols, dtype=dtype, device=like.device)
        return self._buffers[key]

    def training_inputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets): binarised if asked, then noisy inputs and clean targets if asked."""
        n = len(images)
        if self.binarize:
            images = binarize(images, out=self._buffer("binary", n, images, dtype=images.dtype))
        inputs = images
        if self.train_noise:
            noise = torch.randn(images.shape, out=self._buffer("noise", n, images, dtype=images.dtype))
            inputs = add_noise(images, noise, self.train_noise, self.clip_noise, out=noise)
        return inputs, images

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

    def _forward_chain(self, name: str, x: torch.Tensor, weights, relus) -> list[torch.Tensor]:
        """``x`` through each linear layer's ``(weight, bias)``, with a ReLU after those ``relus``
        marks: the input and every layer's output, which the backward pass reads."""
        outputs = [x]
        for index, ((weight, bias), relu) in enumerate(zip(weights, relus)):
            out = self._linear(f"{name}{index}", outputs[-1], weight, bias)
            outputs.append(out.relu_() if relu else out)
        return outputs

    def _backward_chain(
        self,
        name: str,
        grad: torch.Tensor,
        outputs: list[torch.Tensor],
        layers,
        weights,
        relus,
        input_grad: bool = False,
    ) -> torch.Tensor | None:
        """From the gradient at the chain's last output, every layer's gradients; the gradient at
        the chain's input if ``input_grad`` (the first layer of a network needs none)."""
        for index in reversed(range(len(layers))):
            if relus[index]:
                grad = threshold_backward_(grad, outputs[index + 1], 0, grad_input=grad)
            self._store_grads(layers[index], grad, outputs[index])
            if index == 0 and not input_grad:
                return None
            grad = self._input_grad(f"grad_{name}{index}", grad, weights[index][0])
        return grad
