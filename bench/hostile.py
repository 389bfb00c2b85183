"""Every hostile input of the hard-edges table, tried as a user would, against the installed CLI.

    .venv/bin/python bench/hostile.py --data-root data > docs/hostile-inputs.md

Each row runs real commands (``train.py``, ``lab1.py``, ``aelab``) in a scratch folder on
the MNIST files under --data-root, checks the exit code, that stderr is one line naming the
problem, and that nothing was lost, and prints a markdown table with ok or PROBLEM per row.
Exits non-zero if any row is a problem. Rows that need root (a small tmpfs) say so and skip.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
AELAB = [PY, "-m", "aelab"]
SMALL = ["-e", "1", "-b", "2048", "--seed", "0", "--no-progress"]
LIMIT_S = 600


class Rows:
    def __init__(self):
        self.lines, self.problems = [], 0

    def add(self, number, what, ok: bool, detail: str):
        self.problems += not ok
        detail = detail.replace("|", "\\|").replace("\n", " ")[:220]
        self.lines.append(f"| {number} | {what} | {'ok' if ok else '**PROBLEM**'} | {detail} |")


def run(command, cwd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=LIMIT_S, **kwargs)


def one_line(result, code=2, *words) -> tuple[bool, str]:
    lines = result.stderr.strip().splitlines()
    ok = (
        result.returncode == code
        and len(lines) == 1
        and "Traceback" not in result.stderr
        and all(w in lines[0] for w in words)
    )
    return ok, f"exit {result.returncode}: {lines[-1] if lines else '(nothing on stderr)'}"


def train(save, root, *extra, cwd):
    return run([PY, str(REPO / "train.py"), *SMALL, "-s", str(save), "--data-root", str(root), *map(str, extra)], cwd)


def edited(good: Path, out: Path, edit) -> Path:
    """A copy of the checkpoint ``good`` with ``edit(state_dict)`` applied."""
    state = torch.load(good, weights_only=True)
    edit(state)
    torch.save(state, out)
    return out


def metadata(state) -> dict:
    return state._metadata[""]["mnist_ae"]


def checkpoint_rows(rows: Rows, good: Path, root: Path, work: Path):
    def lab(path):
        started = time.perf_counter()
        result = run(
            [
                PY,
                str(REPO / "lab1.py"),
                "-l",
                str(path),
                "--index",
                "0",
                "--pair",
                "0",
                "1",
                "--no-show",
                "--out",
                str(work / "figs"),
                "--data-root",
                str(root),
            ],
            work,
        )
        return result, time.perf_counter() - started

    for hidden in (1_000_000, 1_000_000_000):
        path = edited(good, work / f"hidden{hidden}.pth", lambda s, h=hidden: metadata(s).update(hidden=h))
        result, seconds = lab(path)
        ok, detail = one_line(result, 2, str(path))
        rows.add(3, f"saved shape claims hidden = {hidden:,}", ok and seconds < 10, f"{detail} ({seconds:.1f} s)")
    for name, edit in (
        ("image_shape [1,10,10]", lambda s: metadata(s).update(image_shape=[1, 10, 10])),
        ("image_shape [1,-28,-28]", lambda s: metadata(s).update(image_shape=[1, -28, -28])),
        ("1-D fc1.weight", lambda s: s.__setitem__("fc1.weight", s["fc1.weight"].reshape(-1))),
    ):
        result, _ = lab(edited(good, work / "crafted.pth", edit))
        rows.add(4, name, *one_line(result, 2, "crafted.pth"))
    state = torch.load(f"{good}.state", weights_only=True)
    for group in state["optimizer"]["param_groups"]:
        group.pop("betas")
    shutil.copy(good, work / "nobetas.pth")
    torch.save(state, work / "nobetas.pth.state")
    result = train(work / "nobetas.pth", root, "-e", "2", "--resume", cwd=work)
    ok, detail = one_line(result, 2, "nobetas.pth")
    rows.add(4, "optimizer group without betas in .state", ok and "resuming" not in result.stdout, detail)
    nan = edited(good, work / "nan.pth", lambda s: s["fc4.bias"].__setitem__(0, math.nan))
    result, _ = lab(nan)
    rows.add(6, "a NaN weight", *one_line(result, 2, "nan.pth"))


def web_rows(rows: Rows, good: Path, root: Path, work: Path):
    server = subprocess.Popen(
        [*AELAB, "serve", "-l", str(good), "--data-root", str(root), "--port", "0"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().split(": ", 1)[-1].split(" ")[0]

        def rss():
            status = Path(f"/proc/{server.pid}/status").read_text().splitlines()
            return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) // 1024

        before = rss()
        host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
        for megabytes in (50, 200):
            # The headers announce the body; a server that answers at once answers before it arrives.
            started = time.perf_counter()
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            connection.putrequest("POST", "/api/encode")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(megabytes * 2**20))
            connection.endheaders()
            status = connection.getresponse().status
            connection.close()
            seconds = time.perf_counter() - started
            grown = rss() - before
            rows.add(
                2,
                f"POST /api/encode with a {megabytes} MB body",
                status == 413 and grown < 20,
                f"{status} in {seconds:.2f} s; server peak memory grew {grown} MB",
            )
        for value in ('"0.5"', "true"):
            body = ('{"pixels": [' + ", ".join([value] * 784) + "]}").encode()
            try:
                urllib.request.urlopen(
                    urllib.request.Request(f"{url}api/encode", data=body, headers={"Content-Type": "application/json"})
                )
                status, detail = 200, "accepted"
            except urllib.error.HTTPError as err:
                status, detail = err.code, json.loads(err.read())["detail"]
            rows.add(14, f"{value} as pixel values", status == 422, f"{status}: {detail}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def data_rows(rows: Rows, root: Path, work: Path):
    def copy_of(name):
        folder = work / name / "MNIST" / "raw"
        folder.mkdir(parents=True)
        for f in (root / "MNIST" / "raw").glob("*-ubyte"):
            shutil.copy(f, folder / f.name)
        return work / name, folder

    other, folder = copy_of("sizes")
    images = torch.zeros(1000, 32, 32, dtype=torch.uint8).numpy()
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    (folder / "train-images-idx3-ubyte").write_bytes(header + images.tobytes())
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (1000).to_bytes(4, "big") + bytes(1000))
    result = train(work / "sizes.pth", other, cwd=work)
    rows.add(5, "train images 32x32, test images 28x28", *one_line(result, 2, "32x32", "28x28"))
    folder_root, folder = copy_of("folder")
    (folder / "train-images-idx3-ubyte").unlink()
    (folder / "train-images-idx3-ubyte").mkdir()
    rows.add(
        13,
        "a folder where an IDX file should be",
        *one_line(train(work / "f.pth", folder_root, cwd=work), 2, "is a folder"),
    )
    rows.add(
        13, "--data-root is a file", *one_line(train(work / "f.pth", REPO / "README.md", cwd=work), 2, "is a file")
    )
    magic_root, folder = copy_of("magic")
    labels = folder / "train-labels-idx1-ubyte"
    labels.write_bytes(b"PK\x03\x04" + labels.read_bytes()[4:])
    rows.add(
        13,
        "a wrong IDX magic number",
        *one_line(train(work / "f.pth", magic_root, cwd=work), 2, "not an IDX magic number"),
    )


def mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return (
        os.geteuid() == 0
        and run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], path.parent).returncode == 0
    )


def root_rows(rows: Rows, good: Path, root: Path, work: Path):
    small = work / "small"
    if not mount_tmpfs(small, "16m"):
        rows.add(1, "the disk fills during a checkpoint write", True, "skipped: mounting a tmpfs needs root")
    else:
        try:
            shutil.copy(good, small / "MLP.8.pth")
            shutil.copy(f"{good}.state", small / "MLP.8.pth.state")
            before = [(small / n).read_bytes() for n in ("MLP.8.pth", "MLP.8.pth.state")]
            result = train(small / "MLP.8.pth", root, "-e", "2", "--resume", cwd=work)
            ok, detail = one_line(result, 2, "kept")
            intact = before == [(small / n).read_bytes() for n in ("MLP.8.pth", "MLP.8.pth.state")]
            left = sorted(p.name for p in small.iterdir())
            rows.add(
                1,
                "the disk fills during a checkpoint write (16 MB tmpfs, --resume)",
                ok and intact and left == ["MLP.8.pth", "MLP.8.pth.state"],
                f"{detail}; files: {left}",
            )
        finally:
            run(["umount", str(small)], work)
    readonly = work / "ro"
    if not mount_tmpfs(readonly, "64m"):
        rows.add(13, "a good .gz in a read-only folder", True, "skipped: mounting a tmpfs needs root")
        return
    try:
        folder = readonly / "MNIST" / "raw"
        folder.mkdir(parents=True)
        for f in (root / "MNIST" / "raw").glob("*-ubyte"):
            with open(f, "rb") as src, __import__("gzip").open(folder / f"{f.name}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
        run(["mount", "-o", "remount,ro", str(readonly)], work)
        rows.add(
            13,
            "a good .gz in a read-only folder",
            *one_line(train(work / "ro.pth", readonly, cwd=work), 2, "cannot write the unpacked"),
        )
    finally:
        run(["umount", str(readonly)], work)


def run_rows(rows: Rows, good: Path, root: Path, work: Path):
    for number, what, command, words in (
        (7, "--seed 99999999999999999999999 to lab1.py", [PY, str(REPO / "lab1.py"), "-l", str(good)], ["--seed"]),
        (7, "... to eval", [*AELAB, "eval", "-l", str(good)], ["--seed"]),
        (7, "... to sweep", [*AELAB, "sweep"], ["--seed"]),
    ):
        rows.add(number, what, *one_line(run([*command, "--seed", "99999999999999999999999"], work), 2, *words))
    rows.add(8, "-z 600000", *one_line(train(work / "z.pth", root, "-z", "600000", cwd=work), 2, "-z"))
    rows.add(
        8,
        "--n-steps 1000000000",
        *one_line(run([PY, str(REPO / "lab1.py"), "-l", str(good), "--n-steps", "1000000000"], work), 2, "--n-steps"),
    )
    for delay in (0.3, 1.0, 2.0):
        process = subprocess.Popen(
            [PY, str(REPO / "train.py"), *SMALL, "-e", "5", "-s", str(work / "c.pth"), "--data-root", str(root)],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=LIMIT_S)
        lines = err.strip().splitlines()
        rows.add(
            9,
            f"Ctrl-C {delay} s after launch",
            process.returncode == 130 and len(lines) == 1,
            f"exit {process.returncode}: {lines[-1] if lines else ''}",
        )
    stale = work / ".MLP.8.pth.state.x1y2z3.tmp"
    shutil.copy(good, work / "MLP.8.pth")
    stale.write_bytes(b"half")
    result = train(work / "MLP.8.pth", root, cwd=work)
    rows.add(
        10,
        "a stale .state temp file from a kill -9",
        result.returncode == 0 and not stale.exists(),
        f"exit {result.returncode}; temp file {'gone' if not stale.exists() else 'still there'}",
    )
    first = subprocess.Popen(
        [PY, str(REPO / "train.py"), *SMALL, "-e", "20", "-s", str(work / "two.pth"), "--data-root", str(root)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first.stdout.readline()  # the first run has started
    second = train(work / "two.pth", root, cwd=work)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=LIMIT_S)
    rows.add(11, "two runs writing the same -s", *one_line(second, 2, "another run"))
    finished = (work / "MLP.8.pth").read_bytes()
    result = train(work / "MLP.8.pth", root, cwd=work)
    prev = work / "MLP.8.pth.prev"
    rows.add(
        12,
        "train.py over a finished run, without --resume",
        result.returncode == 0 and prev.exists() and prev.read_bytes() == finished,
        f"exit {result.returncode}; {'the finished run is kept as MLP.8.pth.prev' if prev.exists() else 'lost'}",
    )
    result = run([PY, str(REPO / "train.py"), "--lr", "-1"], work)
    rows.add(15, "--lr -1", *one_line(result, 2, "greater than 0"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO / "data")
    args = parser.parse_args()
    root = args.data_root.resolve()
    rows = Rows()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        good = work / "good.pth"
        result = train(good, root, cwd=work)
        if result.returncode != 0:
            sys.exit(f"could not train the checkpoint the rows start from: {result.stderr.strip()}")
        root_rows(rows, good, root, work)
        web_rows(rows, good, root, work)
        checkpoint_rows(rows, good, root, work)
        data_rows(rows, root, work)
        run_rows(rows, good, root, work)
    print("| # | input | result | what the user saw |\n|--:|---|---|---|")
    print("\n".join(sorted(rows.lines, key=lambda line: int(line.split("|")[1]))))
    print(f"\n{len(rows.lines)} cases, {rows.problems} problems")
    return 1 if rows.problems else 0


if __name__ == "__main__":
    sys.exit(main())
