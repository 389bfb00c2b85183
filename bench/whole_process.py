"""Whole-process speed: the lab's own script against this package's ``train.py``, each a fresh process.

    .venv/bin/python bench/whole_process.py --rounds 3 --epochs 10

Both run the lab's command (``-z 8 -e EPOCHS -b 2048 -s MLP.8.pth``, and ``-p loss.png`` with
``--plot``) from the repository root on ./data, as a student would type it, saving into a scratch
folder; ``train.py`` once per precision. Each round runs every
contestant once, the order rotating from round to round, so a slow minute on a shared machine
slows them all. A contestant's *start-up* is the time from launch until it prints its first
line that begins with "training" (both scripts print one as their first epoch starts: imports,
data, model and set-up are behind it); the rest of the wall time is training, saving and the
plot. Prints a markdown table per round and the median speed-ups; exits non-zero if a run failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_SCRIPT = REPO / "bench" / "lab_train.py"
OUR_SCRIPT = REPO / "train.py"
STARTED_MARK = "training"
RUN_TIMEOUT_S = 1800


@dataclass
class Contestant:
    name: str
    script: Path
    extra: tuple[str, ...] = ()


@dataclass
class Timing:
    name: str
    wall: float
    start_up: float
    last_line: str

    @property
    def after_start_up(self) -> float:
        return self.wall - self.start_up


def run_once(contestant: Contestant, epochs: int, out: Path, plot: bool) -> Timing:
    """Launch the contestant, time its first "training" line and its exit."""
    command = [
        sys.executable,
        str(contestant.script),
        "-z",
        "8",
        "-e",
        str(epochs),
        "-b",
        "2048",
        "-s",
        str(out / "MLP.8.pth"),
        *(["-p", str(out / "loss.MLP.8.png")] if plot else []),
        *contestant.extra,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, lines = None, []
    for line in process.stdout:
        if started is None and line.startswith(STARTED_MARK):
            started = time.perf_counter() - start
        lines.append(line.rstrip())
    code = process.wait(timeout=RUN_TIMEOUT_S)
    wall = time.perf_counter() - start
    if code != 0 or started is None:
        raise SystemExit(f"{contestant.name} failed (exit {code}):\n" + "\n".join(lines[-10:]))
    last = next((line for line in reversed(lines) if "loss" in line.lower()), lines[-1])
    return Timing(contestant.name, wall, started, last)


def round_table(timings: list[Timing], lab: Timing) -> str:
    lines = [
        "| contestant | wall s | start-up s | training, saving, plot s | whole-process speed-up | last loss line |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.name} | {t.wall:.2f} | {t.start_up:.2f} | {t.after_start_up:.2f} | "
            f"{lab.wall / t.wall:.2f}x | `{t.last_line.strip()[:70]}` |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running every contestant once")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--plot", action="store_true", help="also draw the loss curve (-p) in every run")
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be at least 1")
    contestants = [Contestant("the lab's train.py", LAB_SCRIPT)] + [
        Contestant(f"train.py, {p}", OUR_SCRIPT, ("--precision", p, "--no-progress")) for p in args.precision
    ]
    plotting = ", with -p" if args.plot else ""
    print(f"{args.epochs} epochs, z = 8, batch 2048{plotting}, each run a fresh process; {machine()}\n")
    speedups: dict[str, list[float]] = {c.name: [] for c in contestants[1:]}
    start_ups: dict[str, list[float]] = {c.name: [] for c in contestants}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            shift = round_index % len(contestants)
            order = contestants[shift:] + contestants[:shift]
            timings = {}
            for contestant in order:
                folder = Path(scratch) / f"{round_index}-{contestants.index(contestant)}"
                folder.mkdir()
                timings[contestant.name] = run_once(contestant, args.epochs, folder, args.plot)
            lab = timings[contestants[0].name]
            for name, timing in timings.items():
                start_ups[name].append(timing.start_up)
                if name in speedups:
                    speedups[name].append(lab.wall / timing.wall)
            print(f"Round {round_index + 1} (order: {', '.join(c.name for c in order)}):\n")
            print(round_table([timings[c.name] for c in contestants], lab) + "\n", flush=True)
    print("Median over the rounds:\n")
    print("| contestant | start-up s | whole-process speed-up (each round) |\n|---|--:|---|")
    for contestant in contestants:
        ups = speedups.get(contestant.name)
        each = ", ".join(f"{s:.2f}x" for s in ups) if ups else "1 (the baseline)"
        median = f"**{statistics.median(ups):.2f}x**: " if ups else ""
        print(f"| {contestant.name} | {statistics.median(start_ups[contestant.name]):.2f} | {median}{each} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
