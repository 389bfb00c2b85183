"""Time latent-slider redraws in headless Chromium for checkpoints of every family; print a table.

For each checkpoint: start ``aelab serve`` on 127.0.0.1 (a free port), open the page in
Debian's Chromium, drag the first latent slider back and forth with the mouse, and time every
redraw from the pointer event's own timestamp (when the browser received the move) to
(a) the end of the page's input handler, which decodes in the browser and draws, and
(b) the end of the next frame, once the new image is painted. Then the next checkpoint.

    .venv/bin/python bench/slider_latency.py -l runs/MLP.8.pth -l runs/conv.pth \\
        -l runs/VAE.pth -l runs/conv-vae.pth --moves 200

Prints the machine (CPU, cores, load average before and after each family) with the table, since
on a shared box the numbers move with the other jobs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from web_load import CHROMIUM, CHROMIUM_ARGS, start_server, stop  # beside this script

from aelab.cli.args import positive_int

VIEWPORT = {"width": 1280, "height": 800}
SWEEP = 20  # positions the drag goes through, out and back, so every move changes the value
EDGE = 0.05  # the drag stays this fraction of the slider's width away from either end
WARM_UP_MOVES = 20  # not timed: the first moves also pay for compiling the page's handlers
QUANTILES = (50, 99)
BYTES_PER_MB = 2**20

# Installed once the page is up: per input event on the first slider, the time since the pointer
# event that caused it, at the end of the page's own handler (added earlier, so it ran first) and
# after the next frame (a task queued from requestAnimationFrame runs once that frame is painted).
INSTRUMENT = """() => {
    const slider = document.querySelector('#latent .slider input');
    const times = window.sliderTimes = {handler: [], painted: [], recording: false};
    let pointerAt = null;
    document.addEventListener('pointermove', (event) => { pointerAt = event.timeStamp; }, true);
    slider.addEventListener('input', () => {
        if (!times.recording || pointerAt === null) return;
        const start = pointerAt;
        times.handler.push(performance.now() - start);
        requestAnimationFrame(() => {
            const channel = new MessageChannel();
            channel.port1.onmessage = () => times.painted.push(performance.now() - start);
            channel.port2.postMessage(null);
        });
    });
}"""


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def sweep_position(move: int) -> float:
    """Where along the slider (0-1) the ``move``-th step lands: out and back, ``SWEEP`` stops each way."""
    phase = move % (2 * SWEEP)
    return EDGE + (1 - 2 * EDGE) * (phase if phase <= SWEEP else 2 * SWEEP - phase) / SWEEP


def time_family(browser, url: str, moves: int) -> dict:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.wait_for_function("() => document.querySelector('#latent [data-role=decoded]').dataset.version")
    info = page.evaluate("window.explorer.info")
    decoder_bytes = page.evaluate("async () => (await (await fetch('/api/decoder')).arrayBuffer()).byteLength")
    page.evaluate(INSTRUMENT)
    slider = page.locator("#latent .slider input").first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * sweep_position(0), y)
    page.mouse.down()
    for move in range(1, WARM_UP_MOVES + moves + 1):
        if move == WARM_UP_MOVES + 1:
            page.evaluate("window.sliderTimes.recording = true")
        page.mouse.move(box["x"] + box["width"] * sweep_position(move), y)
    page.mouse.up()
    page.wait_for_function("() => window.sliderTimes.painted.length === window.sliderTimes.handler.length")
    times = page.evaluate("({handler: window.sliderTimes.handler, painted: window.sliderTimes.painted})")
    page.close()
    return {
        "family": info["family"],
        "layer_sizes": info["layer_sizes"],
        "decoder_mb": decoder_bytes / BYTES_PER_MB,
        **times,
    }


def row(result: dict, load_before: str, load_after: str) -> str:
    handler, painted = (np.percentile(result[name], QUANTILES) for name in ("handler", "painted"))
    return (
        f"| {result['family']} | {result['layer_sizes']} | {result['decoder_mb']:.2f} | "
        f"{len(result['painted'])} | {handler[0]:.1f} | {handler[1]:.1f} | {painted[0]:.1f} | "
        f"{painted[1]:.1f} | {max(result['painted']):.1f} | {load_before} / {load_after} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-l",
        "--load",
        action="append",
        required=True,
        metavar="PATH",
        help="a checkpoint to serve; give one per family",
    )
    parser.add_argument("--data-root", default="./data")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--moves", type=positive_int, default=200, help="timed mouse moves per checkpoint")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("slider timing needs playwright (pip install -e '.[test]')") from None
    if not CHROMIUM.exists():
        raise SystemExit(f"slider timing needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        version = browser.version
        for path in args.load:
            server, url = start_server(SimpleNamespace(load=path, data_root=args.data_root, dataset=args.dataset))
            try:
                before = load_average()
                result = time_family(browser, url, args.moves)
                rows.append(row(result, before, load_average()))
            finally:
                stop(server)
        browser.close()
    print(
        f"Latent-slider redraws in headless Chromium {version} on {cpu_model()}, {os.cpu_count()} cores "
        f"(CPU only), Python {platform.python_version()}; {args.moves} mouse moves per model, times in ms "
        "from the pointer event to the end of the page's handler and to the next painted frame.\n"
    )
    print(
        "| family | layer sizes | decoder MB | redraws | handler p50 | handler p99 | painted p50 | "
        "painted p99 | painted max | load avg 1/5/15 min before / after |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
