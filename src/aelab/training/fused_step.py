"""A hand-derived training step for the 4-layer MLP: autograd's math in fewer passes over memory.

Its reference is :class:`~.plain_loop.AutogradStep`, the plain loop's step: the same loss,
gradients and Adam update, written out by hand. ``tests/test_plain_loop.py`` trains both from
the same start on the same batches and compares the parameters.

On a CPU the lab's step spends much of its time outside the matrix products: autograd
zeroes and accumulates gradients, the loss and sigmoid run forward and backward as separate
kernels, and Adam loops over eight small tensors. Here the shared machinery of
:mod:`.fused_ops` keeps every parameter in one buffer under one fused Adam and every
activation in a kept buffer, and the output layer's loss gradient is one kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.mlp.model import MLPAutoencoder
from .fused_ops import HandWrittenStep, sigmoid_backward_


class FusedStep(HandWrittenStep):
    """``step(images) -> loss``: forward, hand-written backward and Adam for ``MLPAutoencoder``."""

    def __init__(
        self,
        model: MLPAutoencoder,
        lr: float,
        weight_decay: float,
        loss: str = "mse",
        train_noise: float = 0.0,
        precision: str = "fp32",
        clip_noise: bool = False,
        binarize: bool = False,
    ):
        super().__init__(
            model,
            lr,
            weight_decay,
            train_noise,
            clip_noise,
            binarize,
            torch.bfloat16 if precision == "bf16" else torch.float32,
        )
        self.loss = loss
        self.layers = (model.fc1, model.fc2, model.fc3, model.fc4)
        self.relus = (True, model.config.code_activation == "relu", True, False)

    @staticmethod
    def unsupported(model_config, config) -> str | None:
        """What of this run the step cannot train, as a phrase; None: all of it."""
        return None

    @classmethod
    def for_run(cls, model: MLPAutoencoder, config) -> FusedStep:
        return cls(
            model,
            config.lr,
            config.weight_decay,
            config.loss,
            config.train_noise,
            config.precision,
            config.clip_noise,
            config.binarize,
        )

    def _weights(self):
        """Each layer's (weight, bias) in the compute dtype: bf16 copies of the fp32 masters."""
        if self.compute_dtype == torch.float32:
            return [(layer.weight, layer.bias) for layer in self.layers]
        return [(layer.weight.to(self.compute_dtype), layer.bias.to(self.compute_dtype)) for layer in self.layers]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        inputs, targets = self.training_inputs(images)
        n = len(images)
        weights = self._weights()
        x = inputs
        if inputs.dtype != self.compute_dtype:
            x = self._buffer("x", n, inputs).copy_(inputs)
        outputs = self._forward_chain("layer", x, weights, self.relus)
        logits = outputs[-1]
        if logits.dtype != torch.float32:  # the loss and its gradient in fp32
            logits = self._buffer("logits32", n, logits, dtype=torch.float32).copy_(logits)

        scale = 1.0 / targets.numel()  # both losses are means over every pixel
        if self.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(logits, targets)
            grad_logits = logits.sigmoid_().sub_(targets).mul_(scale)
        else:
            pixels = logits.sigmoid_()
            diff = torch.sub(pixels, targets, out=self._buffer("diff", n, pixels, dtype=torch.float32))
            loss = torch.dot(diff.reshape(-1), diff.reshape(-1)) * scale
            grad_logits = sigmoid_backward_(diff.mul_(2 * scale), pixels, grad_input=diff)
        if grad_logits.dtype != self.compute_dtype:
            grad_logits = self._buffer("grad_logits", n, grad_logits).copy_(grad_logits)
        self._backward_chain("layer", grad_logits, outputs, self.layers, weights, self.relus)
        self.optimizer.step()
        return loss
