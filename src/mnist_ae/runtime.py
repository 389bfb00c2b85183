"""Device, precision and compile choices, made once, so the training loop never branches on them."""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .errors import UserError

PRECISIONS = ("fp32", "bf16", "tf32")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Runtime:
    device: torch.device
    precision: str
    compile: bool = False

    def autocast(self):
        """bf16 autocast where asked for; a no-op context otherwise."""
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def optimizer_options(self) -> dict:
        """Fused Adam on GPUs (one kernel for all parameters); on CPUs torch's fused Adam is
        slower than its plain loop for a model this small, so keep the default there."""
        return {"fused": True} if self.device.type == "cuda" else {}

    def maybe_compile(self, fn):
        return torch.compile(fn) if self.compile else fn

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"cpu ({torch.get_num_threads()} threads)"


def make_runtime(device: str = "auto", precision: str = "fp32", compile: bool = False) -> Runtime:
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device not in DEVICES and not re.fullmatch(r"cuda:[0-9]+", device):
        raise UserError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    if device.startswith("cuda:") and int(device[len("cuda:"):]) >= torch.cuda.device_count():
        last = torch.cuda.device_count() - 1
        raise UserError(f"device {device!r} asked for, but this machine has GPUs 0-{last}; choose one of them")
    torch_device = torch.device(device)
    # TF32 trades mantissa bits for speed on NVIDIA tensor cores; CPUs have no TF32 mode.
    allow_tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    torch.backends.cudnn.allow_tf32 = allow_tf32
    return Runtime(device=torch_device, precision=precision, compile=compile)
