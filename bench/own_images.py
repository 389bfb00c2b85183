"""Your own images, timed: MNIST written out as 70,000 PNG files, read as a folder, against the IDX files.

    .venv/bin/python bench/own_images.py --data-root data --out runs/own-images

Writes MNIST's train and test splits as ``train/<digit>/*.png`` and ``test/<digit>/*.png``
(once; kept under --out), then times, each in a fresh process: the first read of the folder
(decoding every file, in parallel, into the cache) and a second read (from the cache), several
rounds of both, each beside the 1-minute load average and the share of the CPUs that other
processes took meanwhile (the machine is shared); then training epochs from the folder against
the same epochs from the IDX files, in turns. Also trains 64x64 colour images (the folder resized
and made colour: 12,288 inputs) with each loader (the whole split as floats in memory, or streamed
from the memory-mapped cache) and reports epochs/s and the process's peak memory. Prints
markdown tables; ``--reads-only`` stops after the reads.
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
# Of the cpu line of /proc/stat; the guest fields after steal are already counted in user and nice.
IDLE_FIELD, IOWAIT_FIELD, STEAL_FIELD = 3, 4, 7
TIMING = re.compile(r"epoch +(\d+)/\d+ +loss [0-9.]+ +lr \S+ +([0-9.]+)s")


def write_pngs(data_root: Path, folder: Path) -> int:
    """MNIST as PNG files, once; the number of files."""
    done = folder / ".complete"
    if done.exists():
        return int(done.read_text())
    sys.path.insert(0, str(REPO / "src"))
    from aelab.data.idx import read_split

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


def busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat (0, 0 elsewhere)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1 : STEAL_FIELD + 2]]
    except OSError:
        return 0, 0
    idle = ticks[IDLE_FIELD] + ticks[IOWAIT_FIELD]
    return sum(ticks) - idle, sum(ticks)


def others_share(command: list[str]) -> tuple[float, str, float, float]:
    """:func:`timed`, the share of all CPUs that processes other than ``command`` kept busy meanwhile, and
    the CPU seconds ``command`` took (with its worker processes)."""
    busy, total = busy_ticks()
    before = os.times()
    seconds, stdout, _ = timed(command)
    after = os.times()
    busy2, total2 = busy_ticks()
    ours = after.children_user + after.children_system - before.children_user - before.children_system
    ticks = os.sysconf("SC_CLK_TCK")
    share = max(0.0, (busy2 - busy) / ticks - ours) / max((total2 - total) / ticks, 1e-9) if total2 else float("nan")
    return seconds, stdout, share, ours


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


def read_command(folder: Path, cache: Path, **settings) -> list[str]:
    code = (
        "import sys, time; from aelab.data.datasets import load_splits; "
        "from aelab.data.sources import DataConfig; t = time.perf_counter(); "
        f"train, test = load_splits(DataConfig(dataset={str(folder)!r}, **{settings!r}), '.', "
        f"cache_dir={str(cache)!r}); "
        "print(len(train) + len(test), time.perf_counter() - t)"
    )
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
    parser.add_argument("--read-rounds", type=int, default=3, help="first and second reads, each this many times")
    parser.add_argument("--reads-only", action="store_true", help="stop after timing the reads")
    args = parser.parse_args()
    folder, cache = args.out / "mnist-png", args.out / "cache"
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_pngs(args.data_root.resolve(), folder)
    print(f"{count} PNG files (MNIST's 28x28 grey digits), {os.cpu_count()} cores\n")
    print(
        "| round | read | load average (1 min) | others' CPU share | process wall s | load s (inside the process) "
        "| images/s | CPU s (all its processes) |\n|--:|---|--:|--:|--:|--:|--:|--:|"
    )
    for round_index in range(args.read_rounds):
        shutil.rmtree(cache, ignore_errors=True)
        for name in ("first (decode and cache)", "second (from the cache)"):
            load = os.getloadavg()[0]
            wall, out, others, cpu = others_share(read_command(folder, cache))
            n, inside = out.split()
            print(
                f"| {round_index + 1} | {name} | {load:.2f} | {others:.0%} | {wall:.2f} | {float(inside):.2f} "
                f"| {int(n) / float(inside):,.0f} | {cpu:.2f} |",
                flush=True,
            )
    if args.reads_only:
        return 0
    print()

    train = [
        sys.executable,
        "train.py",
        "-z",
        "8",
        "-b",
        "2048",
        "-e",
        str(args.epochs),
        "--seed",
        "0",
        "--no-progress",
        "-s",
        str(args.out / "m.pth"),
    ]
    runs = {
        "IDX files": train + ["--data-root", str(args.data_root)],
        "PNG folder": train + ["--dataset", str(folder), "--cache-dir", str(cache)],
    }
    epochs = {name: [] for name in runs}
    for round_index in range(args.rounds):
        for name in list(runs) if round_index % 2 == 0 else list(runs)[::-1]:
            epochs[name] += epoch_seconds(timed(runs[name])[1])
    print(f"Training epochs, z = 8, batch 2048, {args.rounds} runs of {args.epochs} epochs each, in turns:\n")
    print("| data | median epoch s | epochs/s |\n|---|--:|--:|")
    for name, seconds in epochs.items():
        median = statistics.median(seconds)
        print(f"| {name} | {median:.3f} | {1 / median:.2f} |")
    ratio = statistics.median(epochs["PNG folder"]) / statistics.median(epochs["IDX files"])
    print(f"\nThe folder's epochs take {ratio:.2f} times the IDX files'.\n")

    colour = train + [
        "--dataset",
        str(folder),
        "--cache-dir",
        str(cache),
        "--image-size",
        "64",
        "64",
        "--channels",
        "3",
        "-b",
        "256",
        "-e",
        "1",
    ]
    timed(read_command(folder, cache, image_size=(64, 64), channels=3))  # decoded and cached before the runs
    print("64x64 colour (12,288 inputs), z = 8, batch 256, 1 epoch, each loader:\n")
    print("| loader | process wall s | epoch s | epochs/s | peak resident MB |\n|---|--:|--:|--:|--:|")
    for loader in ("memory", "stream"):
        seconds, out, peak = timed(colour + ["--loader", loader])
        epoch = epoch_seconds(out)
        print(f"| {loader} | {seconds:.1f} | {epoch[0]:.1f} | {1 / epoch[0]:.3f} | {peak:,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
