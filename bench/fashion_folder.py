"""Fashion-MNIST as a folder of PNG files trains to the test MSE it trains to from its IDX files.

    .venv/bin/python bench/fashion_folder.py --data-root data --out runs/fashion-folder

Writes Fashion-MNIST's two splits as ``train/<class>/*.png`` and ``test/<class>/*.png``, named
by class (once; kept under --out), checks that the folder decodes to the IDX files' pixels, then
trains the same recipe from the same seed on each (``aelab train --dataset fashion-mnist``
against ``--dataset <folder>``, each in a fresh process) and prints a markdown table of both
test MSEs and their relative difference, one row per seed, and their means over the seeds.

The folder holds the same images but reads them class by class, in name order, so they reach the
shuffle in another order: a seed then draws other batches, and the two runs differ as two seeds
do. The claim is the same test MSE within 1% over the seeds; the table also shows the spread from
seed to seed. A third run per seed trains on the IDX files' pixels put in the folder's order (an
.npz): it matches the folder's run exactly, so the order is the only difference.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from aelab.data.datasets import load_splits  # noqa: E402 - after the path above
from aelab.data.idx import read_split  # noqa: E402
from aelab.data.sources import DataConfig  # noqa: E402

# Fashion-MNIST's labels 0-9; "/" cannot be in a folder name.
CLASSES = ("T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CLAIM = 0.01  # the largest relative difference of the test MSEs that counts as the same
DONE = re.compile(r"test MSE ([0-9.]+)")


def write_pngs(data_root: Path, folder: Path) -> int:
    """Fashion-MNIST as PNG files, once; the number of files."""
    done = folder / ".complete"
    if done.exists():
        return int(done.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    count = 0
    for split, train in (("train", True), ("test", False)):
        images, labels = read_split("fashion-mnist", data_root, train, download=False)
        for name in CLASSES:
            (folder / split / name).mkdir(parents=True)
        for index, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image, "L").save(folder / split / CLASSES[label] / f"{index:05d}.png")
        count += len(images)
    done.write_text(str(count))
    return count


def sorted_rows(images: np.ndarray) -> np.ndarray:
    """The images as byte rows in a fixed order, so two sets of the same images compare equal."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    return flat[np.lexsort(flat.T[::-1])]


def same_pixels(data_root: Path, folder: Path, cache: Path) -> bool:
    """Whether each split of the folder decodes to the IDX split's images (in any order)."""
    named = load_splits(DataConfig("fashion-mnist"), data_root)
    own = load_splits(DataConfig(str(folder.resolve())), data_root, cache_dir=cache)
    return all(np.array_equal(sorted_rows(a.images.numpy()), sorted_rows(b.images.numpy())) for a, b in zip(named, own))


def folder_ordered_npz(data_root: Path, path: Path) -> Path:
    """The IDX files' images and labels in the order the folder reader lists the PNG files: class
    folders by name, files by name (the IDX index) within each."""
    if path.exists():
        return path
    arrays = {}
    for split, train in (("train", True), ("test", False)):
        images, labels = read_split("fashion-mnist", data_root, train, download=False)
        order = np.concatenate([np.flatnonzero(labels == CLASSES.index(name)) for name in sorted(CLASSES)])
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[order], labels[order]
    np.savez(path, **arrays)
    return path


def train(dataset: str, args, seed: int, save: Path) -> float:
    """The test MSE of one run, in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "aelab",
        "train",
        "--dataset",
        dataset,
        "--data-root",
        str(args.data_root),
        "--cache-dir",
        str(args.out / "cache"),
        "-e",
        str(args.epochs),
        "--seed",
        str(seed),
        "--recipe",
        args.recipe,
        "--no-progress",
        "-s",
        str(save),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    found = DONE.search(result.stdout)
    if result.returncode != 0 or found is None:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
    return float(found.group(1))


def same_weights(a: Path, b: Path) -> bool:
    first, second = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    return list(first) == list(second) and all(torch.equal(first[k], second[k]) for k in first)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "fashion-folder")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--recipe", default="lab")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    args.data_root, args.out = args.data_root.resolve(), args.out.resolve()
    folder = args.out / "fashion-png"
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_pngs(args.data_root, folder)
    same = same_pixels(args.data_root, folder, args.out / "cache")
    print(f"{count} PNG files; each split decodes to the IDX files' pixels: {'yes' if same else 'NO'}\n")
    reordered = folder_ordered_npz(args.data_root, args.out / "fashion-in-folder-order.npz")
    print(f"{args.recipe} recipe, {args.epochs} epochs, one row per seed:\n")
    print(
        "| seed | IDX files: test MSE | PNG folder: test MSE | relative difference "
        "| IDX pixels in the folder's order: test MSE |\n|--:|--:|--:|--:|--:|"
    )
    idx, own, exact = [], [], True
    for seed in args.seeds:
        idx.append(train("fashion-mnist", args, seed, args.out / f"idx.{seed}.pth"))
        own.append(train(str(folder), args, seed, args.out / f"folder.{seed}.pth"))
        in_order = train(str(reordered), args, seed, args.out / f"npz.{seed}.pth")
        exact = exact and same_weights(args.out / f"folder.{seed}.pth", args.out / f"npz.{seed}.pth")
        print(
            f"| {seed} | {idx[-1]:.6f} | {own[-1]:.6f} | {(own[-1] - idx[-1]) / idx[-1]:+.2%} | {in_order:.6f} |",
            flush=True,
        )
    mean_idx, mean_own = float(np.mean(idx)), float(np.mean(own))
    difference = (mean_own - mean_idx) / mean_idx
    print(f"| mean | {mean_idx:.6f} | {mean_own:.6f} | {difference:+.2%} | |\n")
    print(
        f"From seed to seed the IDX runs' test MSE spans {(max(idx) - min(idx)) / mean_idx:.1%} of its mean. "
        f"The means differ by {abs(difference):.2%}: {'within' if abs(difference) <= CLAIM else 'NOT within'} "
        f"{CLAIM:.0%}. The IDX pixels in the folder's order train to {'the same' if exact else 'NOT the same'} "
        "weights, bit for bit, as the folder."
    )
    return 0 if same and exact and abs(difference) <= CLAIM else 1


if __name__ == "__main__":
    sys.exit(main())
