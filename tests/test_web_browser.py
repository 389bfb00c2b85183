"""End to end: ``mnist-ae serve`` on a free local port, driven in Debian's headless Chromium.

By default the server runs an untrained model on the tiny dataset. To run it on a real
checkpoint and keep screenshots for the README:

    MNIST_AE_WEB_CHECKPOINT=runs/MLP.8.pth MNIST_AE_SCREENSHOT=docs/img/web.png \\
        .venv/bin/python -m pytest -q tests/test_web_browser.py
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import fastapi  # noqa: F401  the web extra, which serve needs; a missing one is an error, never a skip
import numpy as np
import pytest
import torch
from conftest import REAL_DATA_ROOT, write_mnist
from PIL import Image
from playwright import sync_api  # the test extra, likewise

from mnist_ae.data.arrays import stack_pixels
from mnist_ae.data.folders import decode
from mnist_ae.data.images import ImageSet
from mnist_ae.training import checkpoint
from mnist_ae.models.mlp import MLPAutoencoder, ModelConfig, init_lab_weights
from mnist_ae.web.app import create_app
from mnist_ae.web.explorer import Explorer
from mnist_ae.web.server import running

# The one thing the extras cannot install: a test that needs the browser skips without it
# (see the browser fixture), and only such a test.
CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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
# Every canvas: its own size and the size it is shown at.
CANVAS_SIZES = """cs => cs.map(c => [c.width, c.height,
                                     c.getBoundingClientRect().width, c.getBoundingClientRect().height])"""
COLOUR_SHAPE = (3, 12, 20)  # non-square on purpose
IMAGE_BOX_PX = 112  # style.css's --image: the longer side of a panel image


def tiny_setup(folder: Path) -> tuple[Path, Path]:
    """conftest's tiny dataset and tiny checkpoint, made once for the module's one server."""
    root = write_mnist(folder / "data")
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=4))
    init_lab_weights(model)
    checkpoint.save(folder / "tiny.pth", model)
    return folder / "tiny.pth", root


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("MNIST_AE_WEB_CHECKPOINT"):
        weights, root = Path(os.environ["MNIST_AE_WEB_CHECKPOINT"]), REAL_DATA_ROOT
    else:
        weights, root = tiny_setup(tmp_path_factory.mktemp("web_browser"))
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from mnist_ae.cli import main; sys.exit(main())",
         "serve", "-l", str(weights), "--data-root", str(root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium; "
                    "scripts/test.sh does it where it may)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url, viewport, errors: list):
    """A page at ``url`` with every panel drawn; console errors and page errors go to ``errors``."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    page.wait_for_function(PAGE_READY)
    return page


@pytest.fixture
def page_errors():
    return []


@pytest.fixture
def page(browser, server, page_errors):
    page = open_page(browser, server, LAPTOP, page_errors)
    yield page
    page.close()
    assert page_errors == [], "the page logged errors"


def pixels(page, selector):
    return page.locator(selector).evaluate(PIXELS)


def version(page, selector) -> int:
    return int(page.locator(selector).get_attribute("data-version") or 0)


def wait_redraw(page, selector, before: int):
    page.wait_for_function(f"() => Number(document.querySelector('{selector}').dataset.version) > {before}")


def test_every_panel_draws_its_images(page):
    info = page.evaluate("window.explorer.info")
    for selector in ["#reconstruct [data-role=original]", "#reconstruct [data-role=reconstruction]",
                     "#denoise [data-role=original]", "#denoise [data-role=noisy]",
                     "#denoise [data-role=denoised]", "#interpolate [data-role=frame]",
                     "#latent [data-role=original]", "#latent [data-role=decoded]"]:
        assert pixels(page, selector) is not None, f"{selector} is blank"
    assert re.fullmatch(r"\d+\.\d{4}", page.locator("#reconstruct [data-role=mse]").inner_text())
    assert "dB" in page.locator("#denoise [data-role=psnr-noisy]").inner_text()
    assert page.locator("#interpolate .strip canvas").count() == info["steps_default"]
    assert page.locator("#latent .slider input").count() == info["bottleneck"]
    # nearest-neighbour scaling: a 28-pixel canvas shown 4x larger, unsmoothed
    style = page.locator("#reconstruct canvas").first.evaluate(
        "c => [getComputedStyle(c).imageRendering, c.width, c.getBoundingClientRect().width]")
    assert style == ["pixelated", 28, 112]


def test_dragging_a_latent_slider_redraws_the_decoded_image(page):
    decoded = "#latent [data-role=decoded]"
    slider = page.locator("#latent .slider input").first
    before_pixels, before_version = pixels(page, decoded), version(page, decoded)
    box = slider.bounding_box()
    middle_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.95, middle_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.05, middle_y, steps=5)
    page.mouse.up()
    wait_redraw(page, decoded, before_version)
    assert version(page, decoded) > before_version + 1  # redrawn while dragging, not only at the end
    assert pixels(page, decoded) != before_pixels
    # the browser's decoder agrees with the server's on the code the sliders now hold
    code = page.locator("#latent .slider input").evaluate_all("inputs => inputs.map(i => Number(i.value))")
    local, served = page.evaluate("""async code => [window.explorer.decode(code),
        (await (await fetch('/api/decode', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify({code})})).json()).pixels]""", code)
    assert max(abs(a - b) for a, b in zip(local, served)) < 1e-3
    assert "decoded in your browser" in page.locator("#latent [data-role=timing]").inner_text()


def served_grey_levels(page, index: int) -> list[int]:
    """The test split's image ``index`` as the server sends it, in the canvas's grey levels."""
    served = page.evaluate(f"async () => (await (await fetch('/api/images/test/{index}')).json()).pixels")
    return [round(p * 255) for p in served]


def test_reconstruct_shows_the_typed_image_and_random_picks_another(page):
    original, reconstruction = "#reconstruct [data-role=original]", "#reconstruct [data-role=reconstruction]"
    index = page.locator("#reconstruct input[name=index]")
    shown = int(index.input_value())
    assert shown != 5 and served_grey_levels(page, shown) != served_grey_levels(page, 5)  # a visible change
    before_pixels = pixels(page, original)
    before_reconstruction = pixels(page, reconstruction)
    assert before_pixels == served_grey_levels(page, shown)
    before = version(page, original)
    index.fill("5")
    wait_redraw(page, original, before)
    after_pixels = pixels(page, original)
    assert after_pixels != before_pixels  # the image changed with the index ...
    assert after_pixels == served_grey_levels(page, 5)  # ... to image 5
    assert pixels(page, reconstruction) != before_reconstruction
    before = version(page, original)
    index_before = index.input_value()
    page.locator("#reconstruct button[name=random]").click()
    wait_redraw(page, original, before)
    picked = index.input_value()
    assert picked != ""
    assert pixels(page, original) == served_grey_levels(page, int(picked))  # the picked image, drawn
    if picked != index_before:  # a random pick may draw 5 again
        assert pixels(page, original) != after_pixels


def test_a_bad_index_shows_the_servers_message(page, page_errors):
    size = page.evaluate("window.explorer.info.splits.test")
    page.locator("#reconstruct input[name=index]").fill(str(size + 5))
    status = page.locator("#reconstruct .status")
    sync_api.expect(status).to_contain_text(f"choose 0-{size - 1}")
    sync_api.expect(status).to_have_class(re.compile("error"))
    # The browser logs the 422 the page was meant to get; nothing else may appear.
    page_errors[:] = [e for e in page_errors if "status of 422" not in e]


def test_the_noise_slider_drives_the_noisy_image(page):
    noisy, original = "#denoise [data-role=noisy]", "#denoise [data-role=original]"
    before = version(page, noisy)
    page.locator("#denoise input[name=noise]").fill("0")
    wait_redraw(page, noisy, before)
    assert pixels(page, noisy) == pixels(page, original)
    assert "∞" in page.locator("#denoise [data-role=psnr-noisy]").inner_text()
    before = version(page, noisy)
    page.locator("#denoise input[name=noise]").fill("0.8")
    wait_redraw(page, noisy, before)
    assert pixels(page, noisy) != pixels(page, original)


def test_interpolation_follows_the_step_count_and_plays(page):
    frame = "#interpolate [data-role=frame]"
    page.locator("#interpolate input[name=steps]").fill("12")
    page.wait_for_function("() => document.querySelectorAll('#interpolate .strip canvas').length === 12")
    play = page.locator("#interpolate button[name=play]")
    play.click()
    sync_api.expect(play).to_have_attribute("aria-pressed", "true")
    before = version(page, frame)
    wait_redraw(page, frame, before + 2)  # the animation keeps drawing frames
    play.click()
    sync_api.expect(play).to_have_attribute("aria-pressed", "false")


def test_phone_width_fits_without_sideways_scrolling(browser, server):
    errors = []
    page = open_page(browser, server, PHONE, errors)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    columns = page.locator("main").evaluate("m => getComputedStyle(m).gridTemplateColumns.split(' ').length")
    page.close()
    assert widths[0] <= widths[1] and columns == 1 and errors == []


def test_screenshots(browser, server, tmp_path):
    """Always taken; kept for the README when MNIST_AE_SCREENSHOT names a .png path."""
    shots = {}
    for name, viewport in (("", LAPTOP), ("-phone", PHONE)):
        page = open_page(browser, server, viewport, [])
        page.wait_for_timeout(300)  # let the last canvases settle after the first draw
        shots[name] = tmp_path / f"web{name}.png"
        page.screenshot(path=str(shots[name]), full_page=bool(name))
        page.close()
        assert shots[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if target := os.environ.get("MNIST_AE_SCREENSHOT"):
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        for name, shot in shots.items():
            shutil.copyfile(shot, target.with_name(target.stem + name + target.suffix))


# The draw and upload panels, and a colour model on non-square images.
DRAWN = "#draw [data-role=pad]"
DRAWN_RECONSTRUCTION = "#draw [data-role=reconstruction]"
THROTTLE_MS = 150  # a little over app.js's DRAW_SEND_MS


def stroke(page, selector, points):
    """Press, drag through ``points`` (fractions of the canvas box) and release, as a mouse does."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def sent_pixels(page, act) -> list[list[float]]:
    """The pixels of every /api/reconstruct-pixels request ``act`` makes, once all are answered
    and the reconstruction is drawn."""
    sent, done = [], []
    drawn_pixels = lambda r: r.url.endswith("/api/reconstruct-pixels")  # noqa: E731
    on_request = lambda r: sent.append(r.post_data_json["pixels"]) if drawn_pixels(r) else None  # noqa: E731
    on_done = lambda r: done.append(r) if drawn_pixels(r) else None  # noqa: E731
    page.on("request", on_request)
    page.on("requestfinished", on_done)
    act()
    settled, waited = 0, 0
    while settled < 2 and waited < WAIT_MS:  # twice none outstanding, past the throttle: the last is in
        page.wait_for_timeout(THROTTLE_MS)  # Playwright delivers the events while it waits
        waited += THROTTLE_MS
        settled = settled + 1 if sent and len(done) == len(sent) else 0
    assert sent, "the drawing made no request"
    page.remove_listener("request", on_request)
    page.remove_listener("requestfinished", on_done)
    page.wait_for_function(f"() => document.querySelector('{DRAWN_RECONSTRUCTION}').dataset.version")
    return sent


def test_drawing_on_the_pad_sends_it_and_shows_its_reconstruction(page):
    assert pixels(page, DRAWN) is None and pixels(page, DRAWN_RECONSTRUCTION) is None  # blank at first
    sent = sent_pixels(page, lambda: stroke(page, DRAWN, [(0.3, 0.2), (0.5, 0.8), (0.7, 0.2)]))
    drawn = pixels(page, DRAWN)
    assert drawn is not None and 20 < sum(level > 0 for level in drawn) < 784 // 2  # a stroke, not a fill
    # the last request holds the finished drawing, as the pad shows it
    assert len(sent[-1]) == 784 and max(abs(round(p * 255) - level) for p, level in zip(sent[-1], drawn)) <= 1
    assert pixels(page, DRAWN_RECONSTRUCTION) is not None
    assert re.fullmatch(r"\d+\.\d{4}", page.locator("#draw [data-role=mse]").inner_text())
    assert page.locator("#draw input[name=colour]").is_hidden()  # grey models draw in white only
    page.locator("#draw button[name=clear]").click()
    assert pixels(page, DRAWN) is None and pixels(page, DRAWN_RECONSTRUCTION) is None
    assert page.locator("#draw [data-role=mse]").inner_text() == "–"


def test_a_finger_draws_too(browser, server):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server)
    page.wait_for_function(PAGE_READY)
    page.locator(DRAWN).scroll_into_view_if_needed()
    box = page.locator(DRAWN).bounding_box()
    touch = context.new_cdp_session(page)
    points = [(box["x"] + f * box["width"], box["y"] + box["height"] / 2) for f in (0.2, 0.4, 0.6, 0.8)]

    def swipe():
        for kind, (x, y) in zip(["touchStart", "touchMove", "touchMove", "touchMove"], points):
            touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    sent = sent_pixels(page, swipe)
    scrolled = page.evaluate("window.scrollY")
    assert sent and pixels(page, DRAWN) is not None and pixels(page, DRAWN_RECONSTRUCTION) is not None
    assert page.evaluate("window.scrollY") == scrolled  # the finger drew; the page did not scroll
    context.close()


def write_png(path: Path, array: np.ndarray, mode: str) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def test_an_uploaded_file_is_shown_as_the_model_sees_it_and_reconstructed(page, tmp_path, page_errors):
    y, x = np.mgrid[0:30, 0:40]
    disk = ((y - 15) ** 2 + (x - 20) ** 2 < 100).astype(np.uint8) * 255
    path = write_png(tmp_path / "disk.png", np.stack([disk, disk // 2, disk // 3], axis=-1), "RGB")
    original, reconstruction = "#upload [data-role=original]", "#upload [data-role=reconstruction]"
    page.locator("#upload input[type=file]").set_input_files(path)
    wait_redraw(page, reconstruction, 0)
    assert pixels(page, original) == stack_pixels([decode(str(path), (28, 28))], 1).reshape(-1).tolist()
    assert pixels(page, reconstruction) is not None
    assert "disk.png: 30x40, seen as 28x28" in page.locator("#upload [data-role=received]").inner_text()
    (tmp_path / "notes.png").write_text("not an image")
    page.locator("#upload input[type=file]").set_input_files(tmp_path / "notes.png")
    status = page.locator("#upload .status")
    sync_api.expect(status).to_contain_text("not an image Pillow can read")
    sync_api.expect(status).to_have_class(re.compile("error"))
    page_errors[:] = [e for e in page_errors if "status of 422" not in e]


@pytest.fixture(scope="module")
def colour_server():
    """A colour model on 12x20 images of two named classes, served from a thread of this process."""
    generator = torch.Generator().manual_seed(0)

    def split(n, train):
        images = torch.randint(0, 256, (n, *COLOUR_SHAPE), dtype=torch.uint8, generator=generator)
        return ImageSet(images, torch.arange(n) % 2, "pets", train, ("cat", "dog"))

    torch.manual_seed(0)
    size = math.prod(COLOUR_SHAPE)
    model = MLPAutoencoder(ModelConfig(input_dim=size, output_dim=size, bottleneck=4, image_shape=COLOUR_SHAPE))
    with running(create_app(Explorer(model, split(32, True), split(16, False)))) as url:
        yield url


def coloured(data: list[int]) -> bool:
    """Some pixel whose red and green differ: not a grey picture."""
    return any(data[i] != data[i + 1] for i in range(0, len(data), 4))


def test_a_colour_model_is_shown_in_colour_at_its_aspect_ratio(browser, colour_server, tmp_path):
    errors = []
    page = open_page(browser, colour_server, LAPTOP, errors)
    for panel in ("reconstruct", "denoise", "interpolate", "latent"):  # latent: decoded in the browser
        for canvas in page.locator(f"#{panel} canvas").all():
            assert coloured(canvas.evaluate(RGBA)), f"#{panel} shows a grey image"
    _, height, width = COLOUR_SHAPE
    for own_w, own_h, shown_w, shown_h in page.locator("canvas").evaluate_all(CANVAS_SIZES):
        assert (own_w, own_h) == (width, height)
        assert shown_w / shown_h == pytest.approx(width / height, rel=0.01)
    assert page.locator("#reconstruct canvas").first.bounding_box()["width"] == pytest.approx(IMAGE_BOX_PX)
    assert page.locator("#reconstruct [data-role=label]").inner_text() in ("(label cat)", "(label dog)")
    assert "12x20 colour" in page.locator("#model-info").inner_text()
    assert "classes cat, dog" in page.locator("#model-info").inner_text()
    code = [0.5, 1.0, 0.0, 2.0]
    local, served = page.evaluate("""async code => [window.explorer.decode(code),
        (await (await fetch('/api/decode', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                            body: JSON.stringify({code})})).json()).pixels]""", code)
    assert len(local) == math.prod(COLOUR_SHAPE) and max(abs(a - b) for a, b in zip(local, served)) < 1e-3

    page.locator("#draw input[name=colour]").fill("#ff0000")
    sent = sent_pixels(page, lambda: stroke(page, DRAWN, [(0.2, 0.5), (0.8, 0.5)]))
    red, green, blue = np.array(sent[-1]).reshape(3, -1)
    assert red.max() == 1 and green.max() == 0 and blue.max() == 0  # red ink, in the red plane only
    for drawn in (DRAWN, DRAWN_RECONSTRUCTION):
        assert coloured(page.locator(drawn).evaluate(RGBA))

    rgba = np.random.default_rng(0).integers(0, 256, (30, 40, 4), dtype=np.uint8)
    page.locator("#upload input[type=file]").set_input_files(write_png(tmp_path / "pet.png", rgba, "RGBA"))
    wait_redraw(page, "#upload [data-role=reconstruction]", 0)
    assert coloured(page.locator("#upload [data-role=original]").evaluate(RGBA))
    page.close()
    assert errors == []
