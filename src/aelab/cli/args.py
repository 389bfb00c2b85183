"""Argument types and a parser whose errors are one line and exit code 2."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import fields, replace
from pathlib import Path

from ..data.sources import CHANNEL_CHOICES, DATASETS, DataConfig, dataset_spec
from ..errors import EXIT_USAGE, UserError
from ..training.processes import SEED_LIMIT, is_main_process

# Every flag that names a file or folder; ``~`` in them is the user's home, as in a shell.
PATH_FLAGS = ("load", "compare_to", "json", "out", "save", "plot", "data_root", "cache_dir", "log_dir")


class Parser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        for name in PATH_FLAGS:
            value = getattr(parsed, name, None)
            if isinstance(value, Path):
                setattr(parsed, name, value.expanduser())
            elif isinstance(value, str) and value.startswith("~"):  # others stay as given, ./ and all
                setattr(parsed, name, str(Path(value).expanduser()))
        return parsed, rest

    def error(self, message: str):
        if is_main_process():  # under torchrun every process parses the same flags; one reports
            one_line = " ".join(message.splitlines())  # a value given may hold a line break
            sys.stderr.write(f"{self.prog}: error: {one_line} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


def number(text: str, kind=float):
    """``text`` as an int or a float, or argparse's one-line error."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None


def positive_int(text: str) -> int:
    value = number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = number(text, int)
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
    value = number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def checked(convert):
    """An argparse type from a converter that raises UserError: its message becomes argparse's."""

    def parse(text: str):
        try:
            return convert(text)
        except UserError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = convert.__name__
    return parse


MAX_CONV_STAGES = 6  # 64x64 images shrink to 1x1 after six stride-2 stages


def channel_list(text: str) -> tuple[int, ...]:
    """``32,64``: a conv family's stage widths."""
    widths = tuple(positive_int(item) for item in text.split(","))
    if len(widths) > MAX_CONV_STAGES:
        raise argparse.ArgumentTypeError(f"at most {MAX_CONV_STAGES} stages, got {len(widths)}")
    return widths


def fraction(text: str) -> float:
    value = number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_data_args(parser: argparse.ArgumentParser, from_checkpoint: bool = False) -> None:
    """The data flags; ``from_checkpoint``: their defaults are what the loaded checkpoint saved."""
    default = "the checkpoint's, else mnist" if from_checkpoint else "mnist"
    parser.add_argument(
        "--dataset",
        type=checked(dataset_spec),
        default=None,
        metavar="NAME|PATH",
        help=f"{', '.join(DATASETS)}, or your own images: a folder (class folders, with "
        f"train/ and test/ or without), a .npz (x_train, x_test, ...) or a .npy (default {default})",
    )
    parser.add_argument(
        "--data-root",
        default="./data",
        metavar="DIR",
        help="where the named datasets live, in torchvision's layout (default ./data)",
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        nargs=2,
        metavar=("H", "W"),
        help="resize every image to H x W (antialiased); needed when the images differ in size",
    )
    parser.add_argument(
        "--channels",
        type=int,
        choices=CHANNEL_CHOICES,
        help="1: make the images grey, 3: colour (default: as the data is)",
    )
    parser.add_argument(
        "--test-fraction",
        type=fraction,
        metavar="F",
        help="share of the images held out for testing when the data has no test split (default 0.1)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where decoded image folders are cached (default: a hidden folder beside the images)",
    )
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="skip files that are not readable images (and list them) instead of stopping",
    )


def data_config(args, saved: DataConfig | None = None) -> DataConfig:
    """The data flags laid over ``saved`` (what a checkpoint trained on), else over the defaults."""
    base = saved or DataConfig()
    if args.dataset is not None and args.dataset != base.dataset:
        base = DataConfig(dataset=args.dataset)  # other data: none of the saved sizes apply
    given = {f.name: getattr(args, f.name) for f in fields(DataConfig) if getattr(args, f.name, None) is not None}
    return replace(base, **given)


def load_data(args, checkpoint_path=None):
    """``(train, test)`` for a command: its data flags laid over what ``checkpoint_path`` trained on."""
    from ..data.datasets import load_splits
    from ..training import checkpoint

    saved = checkpoint.saved_data_config(checkpoint_path) if checkpoint_path is not None else None
    return load_splits(
        data_config(args, saved), args.data_root, args.cache_dir, args.skip_bad_images, progress=sys.stderr.isatty()
    )
