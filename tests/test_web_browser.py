"""End to end: ``aelab serve`` on a free local port, driven in Debian's headless Chromium: the
panels over dataset images and codes. The draw and upload panels and a colour model are in
test_web_browser_panels.py; the other families and the sample panel in test_web_browser_families.py.

By default the server runs an untrained model on the tiny dataset. To run it on a real
checkpoint and keep screenshots for the README:

    MNIST_AE_WEB_CHECKPOINT=runs/MLP.8.pth MNIST_AE_SCREENSHOT=docs/img/web.png \\
        .venv/bin/python -m pytest -q tests/test_web_browser.py
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import fastapi  # noqa: F401  the web extra, which serve needs; a missing one is an error, never a skip
import pytest
from conftest import REAL_DATA_ROOT
from playwright import sync_api  # the test extra, likewise
from web_helpers import (
    LAPTOP,
    PHONE,
    browser_decodes_like_the_server,
    data_root,
    drag_slider,
    open_page,
    pixels,
    save_tiny_checkpoint,
    serve,
    version,
    wait_redraw,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("MNIST_AE_WEB_CHECKPOINT"):
        weights, root = Path(os.environ["MNIST_AE_WEB_CHECKPOINT"]), REAL_DATA_ROOT
    else:
        folder = tmp_path_factory.mktemp("web_browser")
        weights, root = save_tiny_checkpoint(folder), data_root(folder)
    yield from serve(weights, root)


def test_every_panel_draws_its_images(page):
    info = page.evaluate("window.explorer.info")
    assert info["family"] in page.locator("#model-info").inner_text()
    for selector in [
        "#reconstruct [data-role=original]",
        "#reconstruct [data-role=reconstruction]",
        "#denoise [data-role=original]",
        "#denoise [data-role=noisy]",
        "#denoise [data-role=denoised]",
        "#interpolate [data-role=frame]",
        "#latent [data-role=original]",
        "#latent [data-role=decoded]",
    ]:
        assert pixels(page, selector) is not None, f"{selector} is blank"
    assert re.fullmatch(r"\d+\.\d{4}", page.locator("#reconstruct [data-role=mse]").inner_text())
    assert "dB" in page.locator("#denoise [data-role=psnr-noisy]").inner_text()
    assert page.locator("#interpolate .strip canvas").count() == info["steps_default"]
    assert page.locator("#latent .slider input").count() == info["bottleneck"]
    # nearest-neighbour scaling: a 28-pixel canvas shown 4x larger, unsmoothed
    style = page.locator("#reconstruct canvas").first.evaluate(
        "c => [getComputedStyle(c).imageRendering, c.width, c.getBoundingClientRect().width]"
    )
    assert style == ["pixelated", 28, 112]


def test_dragging_a_latent_slider_redraws_the_decoded_image(page):
    decoded = "#latent [data-role=decoded]"
    before_pixels, before_version = pixels(page, decoded), version(page, decoded)
    drag_slider(page, page.locator("#latent .slider input").first)
    wait_redraw(page, decoded, before_version)
    assert version(page, decoded) > before_version + 1  # redrawn while dragging, not only at the end
    assert pixels(page, decoded) != before_pixels
    # the browser's decoder agrees with the server's on the code the sliders now hold
    code = page.locator("#latent .slider input").evaluate_all("inputs => inputs.map(i => Number(i.value))")
    assert browser_decodes_like_the_server(page, code)
    assert "decoded in your browser" in page.locator("#latent [data-role=timing]").inner_text()


def test_the_sample_panel_is_hidden_for_a_plain_autoencoder(page):
    assert page.evaluate("window.explorer.info.can_sample") is False
    assert page.locator("#sample").is_hidden()
    assert page.locator("#sample canvas").count() == 0  # nor does it ask the server for samples


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
