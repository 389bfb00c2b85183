"""Your own images, timed: MNIST written out as 70,000 PNG files, read as a folder, against the IDX files.

    .venv/bin/python bench/own_images.py --data-root data --out runs/own-images

Writes MNIST's train and test splits as ``train/<digit>/*.png`` and ``test/<digit>/*.png``
(once; kept under --out), then times, each in a fresh process: the first read of the folder
(decoding every file, in parallel, into the cache), a second read (from the cache), and
training epochs from the folder against the same epochs from the IDX files, in turns. Also
trains 64x64 colour images (the folder resized and made colour: 12,288 inputs) and reports
epochs/s and the process's peak memory. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"epoch +(\d+)/\d+ +loss [0-9.]+ +lr \S+ +([0-9.]+)s")


def write_pngs(data_root: Path, folder: Path) -> int:
    """MNIST as PNG files, once; the number of files."""
    done = folder / ".complete"
    if done.exists():
        return int(done.read_text())
    sys.path.insert(0, str(REPO / "src"))
    from mnist_ae.data.idx import read_split

    shutil.rmtree(folder, ignore_errors=True)
    count = 0
    for split, train in (("train", True), ("test", False)):
        images, labels = read_split("mnist", data_root, train)
        for digit in range(10):
            (folder / split / str(digit)).mkdir(parents=True)
        for index, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image, "L").save(folder / split / str(label) / f"{index:05d}.png")
        count += len(images)
    done.write_text(str(count))
    return count


def timed(command: list[str]) -> tuple[float, str, int]:
    """Wall seconds, stdout and peak resident memory (MB) of a fresh process."""
    wrapped = ["/usr/bin/time", "-f", "%M", *command] if Path("/usr/bin/time").exists() else command
    started = time.perf_counter()
    result = subprocess.run(wrapped, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    peak = int(result.stderr.strip().splitlines()[-1]) // 1024 if wrapped is not command else 0
    return seconds, result.stdout, peak


def read_command(folder: Path, cache: Path) -> list[str]:
    code = ("import sys, time; from mnist_ae.data.datasets import load_splits; "
            "from mnist_ae.data.sources import DataConfig; t = time.perf_counter(); "
            f"train, test = load_splits(DataConfig(dataset={str(folder)!r}), '.', cache_dir={str(cache)!r}); "
            "print(len(train) + len(test), time.perf_counter() - t)")
    return [sys.executable, "-c", code]


def epoch_seconds(stdout: str) -> list[float]:
    totals = [float(m.group(2)) for m in TIMING.finditer(stdout)]
    return [b - a for a, b in zip([0.0] + totals, totals)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "own-images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    folder, cache = args.out / "mnist-png", args.out / "cache"
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_pngs(args.data_root.resolve(), folder)
    shutil.rmtree(cache, ignore_errors=True)
    first, out, _ = timed(read_command(folder, cache))
    n, inside = out.split()
    second, out2, _ = timed(read_command(folder, cache))
    _, inside2 = out2.split()
    print(f"{count} PNG files (MNIST's 28x28 grey digits), {os.cpu_count()} cores\n")
    print("| read | process wall s | load s (inside the process) | images/s |\n|---|--:|--:|--:|")
    print(f"| first (decode and cache) | {first:.2f} | {float(inside):.2f} | {int(n) / float(inside):,.0f} |")
    print(f"| second (from the cache) | {second:.2f} | {float(inside2):.2f} | {int(n) / float(inside2):,.0f} |\n")

    train = [sys.executable, "train.py", "-z", "8", "-b", "2048", "-e", str(args.epochs), "--seed", "0",
             "--no-progress", "-s", str(args.out / "m.pth")]
    runs = {"IDX files": train + ["--data-root", str(args.data_root)],
            "PNG folder": train + ["--dataset", str(folder), "--cache-dir", str(cache)]}
    epochs = {name: [] for name in runs}
    for round_index in range(args.rounds):
        for name in (list(runs) if round_index % 2 == 0 else list(runs)[::-1]):
            epochs[name] += epoch_seconds(timed(runs[name])[1])
    print(f"Training epochs, z = 8, batch 2048, {args.rounds} runs of {args.epochs} epochs each, in turns:\n")
    print("| data | median epoch s | epochs/s |\n|---|--:|--:|")
    for name, seconds in epochs.items():
        median = statistics.median(seconds)
        print(f"| {name} | {median:.3f} | {1 / median:.2f} |")
    ratio = statistics.median(epochs["PNG folder"]) / statistics.median(epochs["IDX files"])
    print(f"\nThe folder's epochs take {ratio:.2f} times the IDX files'.\n")

    colour = train + ["--dataset", str(folder), "--cache-dir", str(cache), "--image-size", "64", "64",
                      "--channels", "3", "-b", "256", "-e", "1"]
    seconds, out, peak = timed(colour)
    epoch = epoch_seconds(out)
    print("64x64 colour (12,288 inputs), z = 8, batch 256, 1 epoch:\n")
    print("| process wall s | epoch s | epochs/s | peak resident MB |\n|--:|--:|--:|--:|")
    print(f"| {seconds:.1f} | {epoch[0]:.1f} | {1 / epoch[0]:.3f} | {peak:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
