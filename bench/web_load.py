"""Load-test the web explorer on this machine and print markdown tables.

Starts ``aelab serve`` on 127.0.0.1 (a free port), sends a bounded number of requests
from several concurrent clients, checks every answer, then (when Debian's Chromium and
Playwright are installed) times latent-slider updates in the real page, stops the server
and exits: non-zero when any request failed or answered wrongly.

    .venv/bin/python bench/web_load.py -l runs/MLP.8.pth --clients 8 --requests 2000
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from loadtest import run_load  # beside this script

from aelab.cli.args import positive_float, positive_int

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 120  # loading MNIST and encoding the training set for the sliders
STOP_TIMEOUT_S = 15
URL_PATTERN = re.compile(r"http://\S+/")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLIDER_POSITIONS = 20  # the timed updates sweep each slider through this many positions

# In the page: move the first latent slider N times and time (a) the input handler, which
# decodes in the browser and draws, (b) until the next frame starts, so the new image is
# on screen, and (c) for comparison, decoding the same code through the API instead.
TIME_SLIDER = """async n => {
    const slider = document.querySelector('#latent .slider input');
    const [low, high] = [Number(slider.min), Number(slider.max)];
    const nextFrame = () => new Promise(done => requestAnimationFrame(() => done()));
    const times = {handler: [], on_screen: [], via_api: []};
    for (let i = 0; i < n; i++) {
        slider.value = low + (high - low) * ((i % POSITIONS) / POSITIONS);
        const start = performance.now();
        slider.dispatchEvent(new Event('input'));
        times.handler.push(performance.now() - start);
        await nextFrame();
        times.on_screen.push(performance.now() - start);
        const code = [...document.querySelectorAll('#latent .slider input')].map(s => Number(s.value));
        const begin = performance.now();
        const response = await fetch('/api/decode', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify({code})});
        await response.json();
        times.via_api.push(performance.now() - begin);
    }
    return times;
}""".replace("POSITIONS", str(SLIDER_POSITIONS))


def start_server(args) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-c",
        "import sys; from aelab.cli import main; sys.exit(main())",
        "serve",
        "-l",
        args.load,
        "--data-root",
        args.data_root,
        "--dataset",
        args.dataset,
        "--host",
        HOST,
        "--port",
        "0",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = []
    reader = threading.Thread(target=lambda: found.append(server.stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_S)
    match = URL_PATTERN.search(found[0]) if found else None
    if match is None:
        stop(server)
        raise SystemExit(f"the server did not start: {server.stderr.read().strip() or 'no URL printed'}")
    return server, match.group(0)


def time_slider(url: str, updates: int) -> str:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "(slider timing skipped: playwright is not installed)"
    if not CHROMIUM.exists():
        return f"(slider timing skipped: no Chromium at {CHROMIUM})"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        page.wait_for_function("() => document.querySelector('#latent [data-role=decoded]').dataset.version")
        times = page.evaluate(TIME_SLIDER, updates)
        browser.close()
    rows = [
        f"| {name.replace('_', ' ')} | {len(ms)} | {np.percentile(ms, 50):.2f} | "
        f"{np.percentile(ms, 99):.2f} | {max(ms):.2f} |"
        for name, ms in times.items()
    ]
    return "\n".join(
        [
            f"Latent slider updates in headless Chromium ({updates} moves of one slider):",
            "",
            "| measured | count | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|",
            *rows,
        ]
    )


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-l", "--load", default="runs/MLP.8.pth", help="checkpoint to serve")
    parser.add_argument("--data-root", default="./data")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--clients", type=positive_int, default=8)
    parser.add_argument("--requests", type=positive_int, default=2000)
    parser.add_argument(
        "--slider-updates", type=int, default=200, help="latent-slider moves to time in the browser (0 skips)"
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=120.0,
        help="seconds; the load stops there even if requests are left",
    )
    args = parser.parse_args()

    server, url = start_server(args)
    try:
        report = run_load(url, args.clients, args.requests, args.time_limit)
        slider = time_slider(url, args.slider_updates) if args.slider_updates > 0 else ""
    except (OSError, RuntimeError) as err:
        raise SystemExit(f"could not load-test {url}: {err}") from None
    finally:
        stop(server)
    print(
        f"Web explorer load on this machine: {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, one uvicorn process, clients on the same machine.\n"
    )
    print(report.markdown())
    if report.first_problem:
        print(f"\nfirst problem: {report.first_problem}")
    if slider:
        print(f"\n{slider}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
