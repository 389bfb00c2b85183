"""End to end in Debian's headless Chromium: the draw and upload panels, and a colour model on
non-square images with named classes (see test_web_browser.py for the server and the browser)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import fastapi  # noqa: F401  the web extra, which serve needs; a missing one is an error, never a skip
import numpy as np
import pytest
import torch
from PIL import Image
from playwright import sync_api  # the test extra, likewise
from web_helpers import (
    LAPTOP,
    PAGE_READY,
    PHONE,
    RGBA,
    WAIT_MS,
    browser_decodes_like_the_server,
    data_root,
    open_page,
    pixels,
    save_tiny_checkpoint,
    serve,
    wait_redraw,
)

from aelab.data.decoding import decode
from aelab.data.images import ImageSet
from aelab.data.splits import stack_pixels
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder
from aelab.web.app import create_app
from aelab.web.explorer import Explorer
from aelab.web.server import running

# Every canvas: its own size and the size it is shown at.
CANVAS_SIZES = """cs => cs.map(c => [c.width, c.height,
                                     c.getBoundingClientRect().width, c.getBoundingClientRect().height])"""
COLOUR_SHAPE = (3, 12, 20)  # non-square on purpose
IMAGE_BOX_PX = 112  # style.css's --image: the longer side of a panel image
DRAWN = "#draw [data-role=pad]"
DRAWN_RECONSTRUCTION = "#draw [data-role=reconstruction]"
THROTTLE_MS = 150  # a little over draw_upload.js's DRAW_SEND_MS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web_browser_panels")
    yield from serve(save_tiny_checkpoint(folder), data_root(folder))


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
    assert len(page.evaluate("code => window.explorer.decode(code)", code)) == math.prod(COLOUR_SHAPE)
    assert browser_decodes_like_the_server(page, code)

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
