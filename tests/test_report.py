"""``report``: one HTML file that holds everything it shows, opens offline in a browser without a
single request, escapes what the data says, and refuses bad input in one line.

By default the report is built from a model trained for a few epochs on the tiny dataset. To
build it from a real checkpoint and keep its first screen for the README:

    MNIST_AE_REPORT_CHECKPOINT=runs/MLP.8.pth MNIST_AE_SCREENSHOT=docs/img/report.png \\
        .venv/bin/python -m pytest -q tests/test_report.py
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REAL_DATA_ROOT, write_mnist
from PIL import Image
from playwright import sync_api  # noqa: F401  the test extra: a missing one is an error, never a skip
from test_eval import assert_one_line_error, run_cli
from web_helpers import LAPTOP, WAIT_MS, launch_chromium

from aelab.cli import main
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training import checkpoint

SIZE_LIMIT = 5_000_000  # bytes: the page must stay easy to mail
SECTIONS = ("summary", "model", "recipe", "training", "lab", "evaluation", "denoising", "latent", "environment")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_PNG = "data:image/png;base64,"
TINY_TRAINING = ("-b", "64", "--seed", "0", "-z", "4", "--no-progress")
SIDE = 16  # the hostile dataset's images: SSIM's 11-pixel window must fit


def cli(*argv) -> tuple[int, str, str]:
    """``aelab ARGV`` in-process, for module fixtures (which cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@dataclass
class Built:
    html: Path
    weights: Path
    stdout: str

    @property
    def text(self) -> str:
        return self.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    folder = tmp_path_factory.mktemp("report")
    if os.environ.get("MNIST_AE_REPORT_CHECKPOINT"):
        weights, root = Path(os.environ["MNIST_AE_REPORT_CHECKPOINT"]), REAL_DATA_ROOT
    else:
        root, weights = write_mnist(folder / "data"), folder / "tiny.pth"
        code, _, err = cli("train", "--data-root", root, "-s", weights, "-e", "3", *TINY_TRAINING)
        assert code == 0, err
    (folder / "out").mkdir()
    html = folder / "out" / "report.html"
    code, out, err = cli("report", "-l", weights, "--data-root", root, "--out", html)
    assert code == 0, err
    return Built(html, weights, out)


class Collector(HTMLParser):
    """Every tag's attributes, and the ids of the sections."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def of(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def parsed(text: str) -> Collector:
    collector = Collector()
    collector.feed(text)
    return collector


def test_the_report_is_one_file_with_every_section_in_order(built):
    assert [p.name for p in built.html.parent.iterdir()] == ["report.html"]  # no temp file left behind
    ids = [attrs["id"] for attrs in parsed(built.text).of("section")]
    assert ids == list(SECTIONS)
    assert "fitting PCA" in built.stdout and "drawing the latent space" in built.stdout  # progress
    assert f"saved {built.html}" in built.stdout


def test_every_image_is_an_inline_png(built):
    images = parsed(built.text).of("img")
    assert len(images) >= 7  # loss curve, Steps 4-6, codes, traversal, interpolation
    for attrs in images:
        assert attrs["src"].startswith(DATA_PNG)
        data = base64.b64decode(attrs["src"][len(DATA_PNG) :], validate=True)
        assert data.startswith(PNG_MAGIC)
        assert min(Image.open(io.BytesIO(data)).size) > 0
        assert attrs.get("alt")


def test_nothing_on_the_page_points_outside_it(built):
    text = built.text
    outside_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", text)  # base64 may spell anything
    assert not re.search(
        r"https?:|file:|url\(|@import|srcset|<script|<link|<iframe|<object|<embed", outside_images, re.IGNORECASE
    )
    tags = parsed(text).tags
    assert all(attrs["href"].startswith("#") for tag, attrs in tags if "href" in attrs)
    assert all(attrs["src"].startswith(DATA_PNG) for tag, attrs in tags if "src" in attrs)
    policy = [a for a in parsed(text).of("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in policy[0]["content"]


def test_the_report_stays_small(built):
    assert built.html.stat().st_size < SIZE_LIMIT


@pytest.mark.skipif(bool(os.environ.get("MNIST_AE_REPORT_CHECKPOINT")), reason="checks the tiny run's own state")
def test_the_recipe_and_timing_come_from_the_run_state(built):
    state = checkpoint.load_run_state(built.weights)
    seconds = state["history"]["seconds"]
    text = built.text
    assert "<td>batch_size</td><td>64</td><td>2048</td>" in text  # this run's value, then the lab's
    assert f"{seconds[-1]:.1f} s in all" in text
    epochs = zip(state["history"]["losses"], [b - a for a, b in zip([0.0] + seconds, seconds)], seconds)
    for epoch, (loss, took, at) in enumerate(epochs, start=1):
        assert (
            f"<td class=num>{epoch}</td><td class=num>{loss:.5f}</td>" in text
            and f"<td class=num>{took:.2f}</td><td class=num>{at:.1f}</td>" in text
        )


def test_a_lab_state_dict_reports_without_a_recipe(tmp_path, tiny_root, capsys):
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=4))
    init_lab_weights(model)
    torch.save(model.state_dict(), tmp_path / "lab.pth")  # as the lab's own code saves: no run state
    out = tmp_path / "lab.html"
    code, stdout, err = run_cli(
        capsys, "report", "-l", tmp_path / "lab.pth", "--data-root", tiny_root, "--out", out, "--no-eval"
    )
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    ids = [attrs["id"] for attrs in parsed(text).of("section")]
    assert ids == [s for s in SECTIONS if s not in ("evaluation", "denoising")]
    assert text.count("not recorded") == 2  # the recipe and the training
    assert "fitting PCA" not in stdout


def hostile_folder(root: Path) -> Path:
    """Two classes whose folder names are markup, one with a table's column separator in it."""
    rng = np.random.default_rng(0)
    for name in ("<b>bold<b>&co", "pipe|cat"):
        (root / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8), "L").save(root / name / f"{i}.png")
    return root


def test_names_from_the_data_are_escaped(tmp_path, capsys):
    data = hostile_folder(tmp_path / "data")
    weights = tmp_path / "<i>model<i>.pth"  # a name no file system refuses, and markup
    pixels = SIDE * SIDE
    model = MLPAutoencoder(
        ModelConfig(input_dim=pixels, output_dim=pixels, hidden=16, bottleneck=2, image_shape=(1, SIDE, SIDE))
    )
    init_lab_weights(model)
    checkpoint.save(weights, model)
    out = tmp_path / "hostile.html"
    code, _, err = run_cli(capsys, "report", "-l", weights, "--dataset", data, "--out", out, "--pair", "0", "2")
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert "<b>" not in text and "<i>" not in text
    assert "&lt;b&gt;bold&lt;b&gt;&amp;co" in text and "&lt;i&gt;model&lt;i&gt;" in text
    assert "<pre>" in text and "| pipe|cat |" in text  # the per-class table it breaks is shown as its text


@pytest.mark.parametrize("family", ["conv", "vae"])
def test_every_family_makes_a_report(family, tmp_path, tiny_root, capsys):
    weights = tmp_path / f"{family}.pth"
    code, _, err = run_cli(
        capsys, "train", "--data-root", tiny_root, "-s", weights, "--model", family, "-e", "1", *TINY_TRAINING
    )
    assert code == 0, err
    out = tmp_path / "report.html"
    code, _, err = run_cli(capsys, "report", "-l", weights, "--data-root", tiny_root, "--out", out, "--no-eval")
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert f"<td>{family}</td>" in text
    assert ('alt="samples from the prior"' in text) == hasattr(checkpoint.load_model(weights), "sample")


@pytest.mark.parametrize("case", ["missing folder", "a folder", "corrupt checkpoint"])
def test_bad_input_is_one_line_and_writes_nothing(case, tmp_path, tiny_root, tiny_checkpoint, capsys):
    weights, out = tiny_checkpoint, tmp_path / "out" / "report.html"
    (tmp_path / "out").mkdir()
    if case == "missing folder":
        out = tmp_path / "nowhere" / "report.html"
    elif case == "a folder":
        out = tmp_path / "out"
    else:
        weights = tmp_path / "broken.pth"
        weights.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    code, _, err = run_cli(capsys, "report", "-l", weights, "--data-root", tiny_root, "--out", out)
    assert_one_line_error(code, err, "report" if case != "corrupt checkpoint" else "not a readable")
    assert not any((tmp_path / "out").iterdir()) and not (tmp_path / "nowhere").exists()


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


def test_the_page_renders_offline_in_chromium_and_requests_nothing(built, browser):
    page_url = built.html.resolve().as_uri()
    context = browser.new_context(viewport=LAPTOP, offline=True)
    requests, errors = [], []
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # Anything but the page itself is refused (and logged above), so a stray reference fails here.
    page.route("**/*", lambda route: route.continue_() if route.request.url == page_url else route.abort())
    page.goto(page_url, wait_until="load")
    sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(sizes) >= 7 and all(complete and width > 0 and height > 0 for complete, width, height in sizes)
    assert page.locator("section h2").count() == len(SECTIONS)
    assert page.locator("table").count() >= 6
    assert [url for url in requests if not url.startswith("data:")] == [page_url]
    assert not errors, errors
    if os.environ.get("MNIST_AE_SCREENSHOT"):
        page.screenshot(path=os.environ["MNIST_AE_SCREENSHOT"])
    context.close()
