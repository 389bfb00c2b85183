"""Time each matrix product of one fp32 training step on this CPU, with two kernels, and print
a markdown table.

The step's large products decide how fast a CPU can train this model at all. For each product
this times torch's ``mm``/``addmm`` (MKL on x86, the kernels the lab's own autograd step
calls) and, where the product can be written as a linear layer, torch's oneDNN linear kernel
(the one ``torch.compile`` uses on a CPU); for the narrow products of the 8-wide code layer,
also the same product computed as its transpose. Each figure is the median of several rounds
that take turns, as in the benchmark. The error column is each kernel's largest difference
from a float64 product of the same operands.

    .venv/bin/python bench/gemm_kernels.py            # the lab's shapes: batch 2048, 784-392-8
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from aelab.analysis.sweep import machine_description
from aelab.cli.args import positive_int
from aelab.training.runtime import make_runtime

CALLS_PER_ROUND = 20


def onednn_linear():
    """``inputs @ weight.t() + bias`` by oneDNN, or None in a build without it."""
    try:
        return torch.ops.mkldnn._linear_pointwise.default if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


@dataclass
class Product:
    """One product of the step: its operands and the kernels that compute it from them. The
    ``aten`` kernel, run on the operands in float64, is the reference for the error column."""

    name: str
    gflop: float
    operands: tuple[torch.Tensor, ...]
    kernels: dict[str, Callable[..., torch.Tensor]]

    def largest_error(self, kernel: str) -> float:
        exact = self.kernels["aten"](*(t.double() for t in self.operands))
        return float((self.kernels[kernel](*self.operands).double() - exact).abs().max())


def products(batch: int, pixels: int, hidden: int, code: int) -> list[Product]:
    """The products of one fp32 step, with random operands of the step's shapes."""
    torch.manual_seed(0)
    x, h1, h3 = torch.rand(batch, pixels), torch.rand(batch, hidden), torch.rand(batch, hidden)
    grad_logits, grad_h1, grad_h3 = torch.randn(batch, pixels), torch.randn(batch, hidden), torch.randn(batch, hidden)
    z, grad_z = torch.randn(batch, code), torch.randn(batch, code)
    w1, w2, w3, w4 = (
        torch.randn(o, i) / i**0.5 for o, i in ((hidden, pixels), (code, hidden), (hidden, code), (pixels, hidden))
    )
    b1, b4 = torch.randn(hidden), torch.randn(pixels)
    linear = onednn_linear()

    def product(name, m, k, n, operands, aten, onednn=None, transposed=None) -> Product:
        kernels = {"aten": aten}
        if onednn is not None and linear is not None:
            kernels["oneDNN"] = onednn
        if transposed is not None:
            kernels["aten, transposed"] = transposed
        return Product(name, 2 * m * k * n / 1e9, operands, kernels)

    return [
        product(
            "fc1 forward  x @ W1ᵀ + b1",
            batch,
            pixels,
            hidden,
            (x, w1, b1),
            lambda a, w, b: torch.addmm(b, a, w.t()),
            onednn=lambda a, w, b: linear(a, w, b, "none", [], ""),
        ),
        product(
            "fc4 forward  h3 @ W4ᵀ + b4",
            batch,
            hidden,
            pixels,
            (h3, w4, b4),
            lambda a, w, b: torch.addmm(b, a, w.t()),
            onednn=lambda a, w, b: linear(a, w, b, "none", [], ""),
        ),
        product(
            "fc4 input grad  G @ W4",
            batch,
            pixels,
            hidden,
            (grad_logits, w4),
            lambda g, w: g @ w,
            onednn=lambda g, w: linear(g, w.t(), None, "none", [], ""),
        ),
        product(
            "fc4 weight grad  Gᵀ @ h3",
            pixels,
            batch,
            hidden,
            (grad_logits, h3),
            lambda g, a: g.t() @ a,
            onednn=lambda g, a: linear(a.t(), g.t(), None, "none", [], "").t(),
        ),
        product(
            "fc1 weight grad  g1ᵀ @ x",
            hidden,
            batch,
            pixels,
            (grad_h1, x),
            lambda g, a: g.t() @ a,
            onednn=lambda g, a: linear(a.t(), g.t(), None, "none", [], "").t(),
        ),
        product(
            "fc3 weight grad  g3ᵀ @ z",
            hidden,
            batch,
            code,
            (grad_h3, z),
            lambda g, a: g.t() @ a,
            transposed=lambda g, a: (a.t() @ g).t(),
        ),
        product(
            "fc3 input grad  g3 @ W3",
            batch,
            hidden,
            code,
            (grad_h3, w3),
            lambda g, w: g @ w,
            transposed=lambda g, w: (w.t() @ g.t()).t(),
        ),
        product("fc2 weight grad  gzᵀ @ h1", code, batch, hidden, (grad_z, h1), lambda g, a: g.t() @ a),
        product("fc2 input grad  gz @ W2", batch, code, hidden, (grad_z, w2), lambda g, w: g @ w),
    ]


def median_ms(calls: dict, rounds: int) -> dict[str, float]:
    """Each call's median time per call over ``rounds`` rounds, the calls taking turns."""
    times = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(CALLS_PER_ROUND):
                call()
            times[name].append((time.perf_counter() - start) / CALLS_PER_ROUND * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=positive_int, default=2048)
    parser.add_argument("--rounds", type=positive_int, default=7)
    args = parser.parse_args(argv)
    entries = products(args.batch, 784, 392, 8)
    calls = {(p.name, kernel): partial(call, *p.operands) for p in entries for kernel, call in p.kernels.items()}
    ms = median_ms(calls, args.rounds)
    print(
        f"{machine_description(make_runtime('cpu', 'fp32'))}; torch {torch.__version__}; "
        f"median of {args.rounds} rounds of {CALLS_PER_ROUND} calls\n"
    )
    print("| product | GFLOP | kernel | ms | GFLOP/s | largest error vs float64 |")
    print("|---|---|---|---|---|---|")
    for p in entries:
        for kernel in p.kernels:
            t = ms[(p.name, kernel)]
            print(
                f"| {p.name} | {p.gflop:.3f} | {kernel} | {t:.2f} | {p.gflop / t * 1e3:.0f} "
                f"| {p.largest_error(kernel):.1e} |"
            )
    aten = sum(ms[(p.name, "aten")] for p in entries)
    fastest = sum(min(ms[(p.name, kernel)] for kernel in p.kernels) for p in entries)
    print(
        f"\nAll of one step's products: {aten:.1f} ms with aten's kernels, {fastest:.1f} ms with the "
        f"fastest kernel for each ({aten / fastest:.3f}x)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
