"""What the web tests share: tiny explorers of every family, API calls, and the page in Chromium.

Plain functions, not fixtures: each test module wraps the ones it needs in fixtures of its own
scope, so a module's server or browser lives exactly as long as that module's tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import write_mnist

from aelab.data.images import load_images
from aelab.models.config import ModelConfig
from aelab.models.registry import build
from aelab.training import checkpoint
from aelab.web.explorer import Explorer

TOLERANCE = 1e-4  # the API rounds pixels to 4 decimals
N_TEST = 64  # conftest's tiny test split
MLP_BOTTLENECK = 4
# Schema-driven fuzzing: examples per operation and mode, a few seconds in all; set the variable
# higher for a deeper search.
FUZZ_EXAMPLES = int(os.environ.get("MNIST_AE_FUZZ_EXAMPLES", "20"))
# Every family small enough to build and encode the tiny dataset in a moment.
FAMILY_SHAPES = {
    "mlp": {"bottleneck": MLP_BOTTLENECK},  # the lab's 784-392-4, as the web tests have always used
    "conv": {"conv_channels": (4, 8), "hidden": 16, "bottleneck": 3},
    "vae": {"hidden": 16, "bottleneck": 3},
    "conv-vae": {"conv_channels": (4, 8), "hidden": 16, "bottleneck": 3},
}


def data_root(folder: Path) -> Path:
    """conftest's tiny IDX dataset under ``folder``, written the first time it is asked for."""
    root = folder / "data"
    return root if root.exists() else write_mnist(root)


def save_tiny_checkpoint(folder: Path, family: str = "mlp") -> Path:
    """An untrained model of ``family``, seeded, saved as a checkpoint in ``folder``."""
    torch.manual_seed(0)
    path = folder / f"tiny-{family}.pth"
    checkpoint.save(path, build(ModelConfig(family=family, **FAMILY_SHAPES[family])))
    return path


def tiny_explorer(folder: Path, family: str = "mlp") -> Explorer:
    """An explorer of a tiny checkpoint on the tiny dataset, loaded as ``serve`` loads them."""
    root = data_root(folder)
    return Explorer(
        checkpoint.load_model(save_tiny_checkpoint(folder, family)),
        load_images("mnist", root, train=True),
        load_images("mnist", root, train=False),
    )


def get_ok(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def post_ok(client, url: str, body):
    response = client.post(url, json=body)
    assert response.status_code == 200, response.text
    return response.json()


# The browser: Debian's Chromium, which the extras cannot install, so only tests that need it skip.
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
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STARTUP_TIMEOUT_S = 120
STOP_TIMEOUT_S = 15
WAIT_MS = 20_000  # for the page to react; generous for a loaded 2-core machine
URL_PATTERN = re.compile(r"http://127\.0\.0\.1:\d+/")

# Every canvas has drawn at least once: the page is fully up.
PAGE_READY = """() => ['#reconstruct [data-role=reconstruction]', '#denoise [data-role=denoised]',
    '#interpolate [data-role=frame]', '#latent [data-role=decoded]']
    .every(sel => document.querySelector(sel)?.dataset.version)"""
# A canvas's pixels as grey levels, or null while it is blank (all one colour).
PIXELS = """canvas => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const grey = Array.from({length: data.length / 4}, (_, i) => data[4 * i]);
    return new Set(grey).size > 1 ? grey : null;
}"""
RGBA = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
# A code decoded by the page's own decoder and by the server's.
DECODE_BOTH = """async code => [window.explorer.decode(code),
    (await (await fetch('/api/decode', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({code})})).json()).pixels]"""
BROWSER_DECODE_TOLERANCE = 1e-3  # float32 sums in another order, against pixels rounded to 4 decimals


def launch_chromium() -> Iterator:
    """A headless Chromium for the ``with`` of a fixture; skips the test when Chromium is missing."""
    from playwright import sync_api

    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium; "
            "scripts/test.sh does it where it may)"
        )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def serve(weights: Path, root: Path) -> Iterator[str]:
    """``aelab serve --port 0`` in its own process; yields the URL it prints, then stops it."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from aelab.cli import main; sys.exit(main())",
            "serve",
            "-l",
            str(weights),
            "--data-root",
            str(root),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_S)
    try:
        match = URL_PATTERN.search(first_line[0]) if first_line else None
        assert match, f"serve printed no 127.0.0.1 URL: {first_line} {process.stderr.read() if process.poll() else ''}"
        yield match.group(0)
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_page(browser, url, viewport, errors: list):
    """A page at ``url`` with every panel drawn; console errors and page errors go to ``errors``."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    page.wait_for_function(PAGE_READY)
    return page


def pixels(page, selector):
    return page.locator(selector).evaluate(PIXELS)


def version(page, selector) -> int:
    return int(page.locator(selector).get_attribute("data-version") or 0)


def wait_redraw(page, selector, before: int):
    page.wait_for_function(f"() => Number(document.querySelector('{selector}').dataset.version) > {before}")


def drag_slider(page, slider, start: float = 0.95, end: float = 0.05, steps: int = 5):
    """Press on ``slider`` at ``start`` of its width and drag to ``end``, as a mouse does."""
    box = slider.bounding_box()
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, middle_y, steps=steps)
    page.mouse.up()


def browser_decodes_like_the_server(page, code: list[float]) -> bool:
    local, served = page.evaluate(DECODE_BOTH, code)
    return len(local) == len(served) and max(abs(a - b) for a, b in zip(local, served)) < BROWSER_DECODE_TOLERANCE
