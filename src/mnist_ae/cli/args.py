"""Argument types and a parser whose errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import math
import sys

from ..data.sources import DATASETS
from ..training.processes import SEED_LIMIT, is_main_process
from ..errors import EXIT_USAGE


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        if is_main_process():  # under torchrun every process parses the same flags; one reports
            sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seed(text: str) -> int:
    """A seed every torch generator takes, with room for one offset per process."""
    value = non_negative_int(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be below {SEED_LIMIT}, got {value}")
    return value


MAX_N_STEPS = 64  # a strip of images that still fits a page; the web explorer stops there too


def step_count(text: str) -> int:
    """Images on a path between two codes: both ends are drawn, so at least 2."""
    value = non_negative_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (both ends), got {value}")
    if value > MAX_N_STEPS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_N_STEPS}, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default="./data", metavar="DIR",
                        help="where the datasets live, in torchvision's layout (default ./data)")
    parser.add_argument("--dataset", default="mnist", choices=list(DATASETS),
                        help="which MNIST-style dataset (default mnist)")
