"""Device, precision and compile choices, made once, so the training loop never branches on them."""

from __future__ import annotations

import re
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from ..errors import UserError
from .config import DEVICES, PRECISIONS
from .cuda_graph import GraphedStep


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

    @contextmanager
    def matmul_precision(self):
        """TF32 matrix products inside, where asked for; plain fp32 otherwise.

        TF32 trades mantissa bits for speed on NVIDIA tensor cores (CPUs have no TF32 mode).
        The switch is process-wide, so it is held only while this runtime works: runs of two
        precisions in one process (the benchmark's) each get their own. A CUDA graph keeps
        the kernels chosen when it was captured, so capture happens inside this too.
        """
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        wanted = self.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = wanted
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    def place(self, model):
        """``model`` on this device; a convolutional one in channels-last layout, which oneDNN's
        and cuDNN's convolution kernels run faster (about 1.3x for a conv step on a CPU, and
        1.25x for the conv decoder's importance sampling, ``docs/families.md``). Checkpoints
        store the usual layout whatever the one trained or evaluated in."""
        model.to(self.device)
        if model.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def maybe_compile(self, fn):
        return torch.compile(fn) if self.compile else fn

    def graphed(self, step):
        """On a GPU, ``step`` replayed from CUDA graphs; elsewhere ``step`` itself."""
        return GraphedStep(step) if self.device.type == "cuda" else step

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def precision_warning(self) -> str | None:
        """A line to show when the asked-for precision is emulated here, so slower, not faster."""
        if self.precision == "bf16" and self.device.type == "cpu" and not cpu_has_native_bf16():
            return (
                "warning: this CPU has no bf16 instructions, so bf16 products are emulated and "
                "train slower than fp32; --precision fp32 is faster here"
            )
        return None

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"cpu ({torch.get_num_threads()} threads)"


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN finds bf16 instructions (AVX-512 BF16 or AMX) on this CPU; assumed so on a
    torch too old or too new to say."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else True
    except RuntimeError:
        return True


def make_runtime(device: str = "auto", precision: str = "fp32", compile: bool = False) -> Runtime:
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device not in DEVICES and not re.fullmatch(r"cuda:[0-9]+", device):
        raise UserError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    if device.startswith("cuda:") and int(device[len("cuda:") :]) >= torch.cuda.device_count():
        last = torch.cuda.device_count() - 1
        raise UserError(f"device {device!r} asked for, but this machine has GPUs 0-{last}; choose one of them")
    return Runtime(device=torch.device(device), precision=precision, compile=compile)
