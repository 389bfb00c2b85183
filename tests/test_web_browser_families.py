"""End to end in Debian's headless Chromium: the page on a conv and a conv-vae model, each served
from a thread of this process. Every panel draws, the latent sliders decode in the browser
exactly as the server does (transposed convolutions included), and a VAE's sample panel draws
new grids: a new seed for *new samples*, the same draws rescaled by the temperature slider."""

from __future__ import annotations

import fastapi  # noqa: F401  the web extra, which serve needs; a missing one is an error, never a skip
import pytest
from web_helpers import (
    LAPTOP,
    browser_decodes_like_the_server,
    drag_slider,
    open_page,
    pixels,
    tiny_explorer,
    version,
    wait_redraw,
)

from aelab.web.app import create_app
from aelab.web.server import running

GRID = "#sample [data-role=grid]"
PANEL_IMAGES = [
    "#reconstruct [data-role=reconstruction]",
    "#denoise [data-role=denoised]",
    "#interpolate [data-role=frame]",
    "#latent [data-role=decoded]",
]
SAMPLES_DRAWN = "() => document.querySelector('#sample [data-role=grid]').dataset.version"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web_browser_families")
    with (
        running(create_app(tiny_explorer(folder, "conv"))) as conv,
        running(create_app(tiny_explorer(folder, "conv-vae"))) as conv_vae,
    ):
        yield {"conv": conv, "conv-vae": conv_vae}


@pytest.fixture
def open_family(browser, servers):
    """Opens the page on a family's server; at the end, closes it and checks it logged no errors."""
    opened = []

    def open_it(family):
        errors = []
        opened.append((open_page(browser, servers[family], LAPTOP, errors), errors))
        return opened[-1][0]

    yield open_it
    for page, errors in opened:
        page.close()
        assert errors == [], "the page logged errors"


@pytest.fixture
def vae_page(open_family):
    page = open_family("conv-vae")
    page.wait_for_function(SAMPLES_DRAWN)
    return page


def grid_pixels(page) -> list:
    return page.locator(f"{GRID} canvas").evaluate_all(
        "cs => cs.map(c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))"
    )


@pytest.mark.parametrize("family", ["conv", "conv-vae"])
def test_every_panel_draws_and_the_sliders_decode_like_the_server(open_family, family):
    page = open_family(family)
    assert f"{family} autoencoder" in page.locator("#model-info").inner_text()
    for selector in PANEL_IMAGES:
        assert pixels(page, selector) is not None, f"{selector} is blank"
    decoded = "#latent [data-role=decoded]"
    before_pixels, before_version = pixels(page, decoded), version(page, decoded)
    drag_slider(page, page.locator("#latent .slider input").first)
    wait_redraw(page, decoded, before_version)
    assert pixels(page, decoded) != before_pixels
    code = page.locator("#latent .slider input").evaluate_all("inputs => inputs.map(i => Number(i.value))")
    assert browser_decodes_like_the_server(page, code)
    assert browser_decodes_like_the_server(page, [2.0, -1.5, 0.5])  # beyond the sliders too


def test_a_plain_autoencoder_has_no_sample_panel(open_family):
    page = open_family("conv")
    assert page.locator("#sample").is_hidden() and page.locator("#sample canvas").count() == 0


def test_a_vae_shows_a_grid_of_samples_at_its_image_shape(vae_page):
    page = vae_page
    info = page.evaluate("window.explorer.info")
    assert page.locator("#sample").is_visible()
    assert page.locator(f"{GRID} canvas").count() == info["samples_default"]
    for canvas in page.locator(f"{GRID} canvas").all():
        assert canvas.evaluate("c => [c.width, c.height]") == info["image_shape"][::-1]
    slider = page.locator("#sample input[name=temperature]")
    assert [float(slider.get_attribute(name)) for name in ("min", "max")] == [0.1, info["temperature_max"]]
    assert float(slider.input_value()) == info["temperature_default"]


def test_new_samples_draws_a_new_grid(vae_page):
    page = vae_page
    before, first = version(page, GRID), grid_pixels(page)
    page.locator("#sample button[name=resample]").click()
    wait_redraw(page, GRID, before)
    again = grid_pixels(page)
    assert again != first and len(again) == len(first)


def test_the_temperature_slider_rescales_the_same_draws(vae_page):
    page = vae_page
    slider = page.locator("#sample input[name=temperature]")
    before, warm = version(page, GRID), grid_pixels(page)
    slider.fill("2")
    wait_redraw(page, GRID, before)
    assert page.locator("#sample [data-role=temperature]").inner_text() == "2.00"
    hot = grid_pixels(page)
    assert hot != warm
    before = version(page, GRID)
    slider.fill("1")  # the default: the same seed draws the first grid again
    wait_redraw(page, GRID, before)
    assert grid_pixels(page) == warm
