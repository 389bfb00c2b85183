"""The explorer's JSON API on images of every kind: a colour model on non-square images with named
classes, files uploaded by the user, and any image's reconstruction (a drawing, say)."""

from __future__ import annotations

import io
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient  # the web extra; a missing one is an error here, never a skip
from PIL import Image
from web_helpers import TOLERANCE, get_ok, tiny_explorer

from aelab.data.decoding import REDUCING_GAP, decode
from aelab.data.images import ImageSet
from aelab.data.splits import stack_pixels
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder
from aelab.web.app import create_app
from aelab.web.explorer import Explorer
from aelab.web.schemas import MAX_UPLOAD_BYTES
from aelab.web.uploads import MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The lab's grey MLP, untrained, on the tiny dataset."""
    with TestClient(create_app(tiny_explorer(tmp_path_factory.mktemp("web_api_images")))) as client:
        yield client


# A colour model on non-square images with named classes, and images brought by the user.
COLOUR_SHAPE = (3, 12, 20)
PETS = ("cat", "dog")


def colour_split(n: int, train: bool, seed: int) -> ImageSet:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *COLOUR_SHAPE), dtype=torch.uint8, generator=generator)
    return ImageSet(images, torch.arange(n) % len(PETS), "pets", train, PETS)


@pytest.fixture(scope="module")
def colour_explorer():
    torch.manual_seed(0)
    pixels = math.prod(COLOUR_SHAPE)
    model = MLPAutoencoder(ModelConfig(input_dim=pixels, output_dim=pixels, bottleneck=4, image_shape=COLOUR_SHAPE))
    return Explorer(model, colour_split(32, True, 1), colour_split(8, False, 2))


@pytest.fixture(scope="module")
def colour_client(colour_explorer):
    with TestClient(create_app(colour_explorer)) as client:
        yield client


def png(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


def as_model_sees(image: Image.Image, mode: str, size: tuple[int, int]) -> np.ndarray:
    """Pillow's own conversion and LANCZOS resize, flat channel-major in [0, 1]."""
    resized = image.convert(mode).resize(size[::-1], Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    pixels = np.asarray(resized)
    return (pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels).reshape(-1) / 255


def test_colour_info_names_the_classes_and_images_keep_channel_major_order(colour_client, colour_explorer):
    info = get_ok(colour_client, "/api/info")
    assert (info["channels"], info["image_shape"], info["class_names"]) == (3, [12, 20], ["cat", "dog"])
    assert "12x20 colour" in get_ok(colour_client, "/openapi.json")["info"]["description"]
    image = get_ok(colour_client, "/api/images/test/3")
    assert (image["label"], image["label_name"]) == (1, "dog")
    stored = colour_explorer.splits["test"].images[3]
    assert np.allclose(image["pixels"], stored.reshape(-1).numpy() / 255, atol=TOLERANCE)  # R plane, G, B
    for url in ("/api/reconstruct?split=train&index=2", "/api/denoise?split=train&index=2"):
        assert get_ok(colour_client, url)["label_name"] == "cat"
    assert len(get_ok(colour_client, "/api/reconstruct?split=test&index=0")["reconstruction"]) == 720


def test_class_names_are_those_of_the_labels_in_the_training_split(colour_explorer):
    train = colour_split(4, True, 1)
    train.class_names, train.labels = ("ant", "bee", "cat"), torch.tensor([2, 0, 2, 0])
    assert Explorer(colour_explorer.model, train, train).class_names == ["ant", "cat"]


def test_explorer_refuses_a_dataset_with_the_pixels_arranged_otherwise(colour_explorer):
    model = MLPAutoencoder(ModelConfig(input_dim=720, output_dim=720, image_shape=(3, 20, 12)))
    with pytest.raises(UserError, match="for 20x12 colour images but pets images are 12x20 colour"):
        Explorer(model, colour_split(4, True, 1), colour_split(4, False, 2))


def upload(client, body: bytes, content_type: str = "application/octet-stream"):
    return client.post("/api/upload", content=body, headers={"content-type": content_type})


def test_upload_converts_and_resizes_like_pillow_then_reconstructs(colour_client, colour_explorer):
    rgba = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 4), dtype=np.uint8), "RGBA")
    answer = upload(colour_client, png(rgba), "image/png")
    assert answer.status_code == 200, answer.text
    out = answer.json()
    expected = as_model_sees(rgba, "RGB", COLOUR_SHAPE[1:])  # alpha dropped, not blended
    assert out["size_received"] == [30, 40]
    assert np.allclose(out["original"], expected, atol=TOLERANCE)
    model_out = colour_explorer.reconstruct_image(torch.tensor(expected, dtype=torch.float32))
    assert np.allclose(out["reconstruction"], model_out["reconstruction"].numpy(), atol=TOLERANCE)
    assert np.allclose(out["code"], model_out["code"].numpy(), atol=1e-5)
    assert out["mse"] == pytest.approx(model_out["mse"], rel=1e-4)


def test_upload_to_a_grey_model_is_what_the_folder_reader_makes_of_the_file(client, tmp_path):
    rng = np.random.default_rng(1)
    grey_alpha = Image.fromarray(rng.integers(0, 256, (40, 56, 2), dtype=np.uint8), "LA")
    out = upload(client, png(grey_alpha)).json()
    assert out["size_received"] == [40, 56]
    assert np.allclose(out["original"], as_model_sees(grey_alpha, "L", (28, 28)), atol=TOLERANCE)
    # A smooth colour photo: on it Pillow's "L" before the resize and the reader's luma after it agree
    # to two grey levels, one per rounding (on noise, LANCZOS's clipped overshoot makes the order matter).
    y, x = np.mgrid[0:35, 0:21]
    smooth = np.stack([x * 12, y * 7, (x + y) * 4], axis=-1).astype(np.uint8)
    (tmp_path / "photo.jpg").write_bytes(png(Image.fromarray(smooth, "RGB"), "JPEG"))
    out = upload(client, (tmp_path / "photo.jpg").read_bytes(), "image/jpeg").json()
    as_trained = stack_pixels([decode(str(tmp_path / "photo.jpg"), (28, 28))], 1).reshape(-1) / 255
    assert np.allclose(out["original"], as_trained, atol=TOLERANCE)  # exactly what training would have seen
    pillow_grey = as_model_sees(Image.open(tmp_path / "photo.jpg"), "L", (28, 28))
    assert np.abs(np.array(out["original"]) - pillow_grey).max() <= 2 / 255 + TOLERANCE


def noise_png() -> bytes:
    return png(Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)))


OVER_CAP_SIDE = math.isqrt(MAX_UPLOAD_PIXELS) + 1  # a square of this side is over the pixel cap


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims to be ``width`` x ``height``: never decoded, so never checked."""
    data = bytearray(png(Image.new("L", (1, 1))))
    ihdr = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:33] = ihdr + struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


@pytest.mark.parametrize(
    "body, content_type, says",
    [
        (b"garbage, not pixels", "application/octet-stream", "the body is not an image Pillow can read; send a PNG"),
        (b"", "image/png", "the body is empty"),
        (noise_png()[:1000], "image/png", "the body is not an image Pillow can read: "),  # cut short
        (png(Image.new("RGB", (16, 16)), "ICO"), "image/x-icon", "not an image Pillow can read"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", "application/postscript", "not an image"),
        (b"--x\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data; boundary=x", "multipart form"),
        (bomb_png(OVER_CAP_SIDE, OVER_CAP_SIDE), "image/png", f"up to {MAX_UPLOAD_PIXELS} pixels"),
        (bomb_png(MAX_UPLOAD_SIDE + 1, 1), "image/png", f"sides up to {MAX_UPLOAD_SIDE}"),
    ],
)
def test_an_upload_that_is_no_usable_image_gets_a_one_line_422(colour_client, body, content_type, says):
    answer = upload(colour_client, body, content_type)
    assert answer.status_code == 422
    assert says in answer.json()["detail"] and "\n" not in answer.json()["detail"]


def test_an_upload_over_the_cap_gets_413_and_one_at_the_cap_is_read(colour_client):
    answer = upload(colour_client, b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert answer.status_code == 413 and f"limit of {MAX_UPLOAD_BYTES} bytes" in answer.json()["detail"]
    assert upload(colour_client, b"\0" * MAX_UPLOAD_BYTES).status_code == 422  # read whole: not an image


def test_reconstruct_pixels_is_the_reconstruction_of_any_image(colour_client):
    expected = get_ok(colour_client, "/api/reconstruct?split=test&index=5")
    out = colour_client.post("/api/reconstruct-pixels", json={"pixels": expected["original"]}).json()
    assert set(out) == {"code", "reconstruction", "mse"}
    assert np.allclose(out["reconstruction"], expected["reconstruction"], atol=2 * TOLERANCE)
    assert np.allclose(out["code"], expected["code"], atol=1e-4)
    assert out["mse"] == pytest.approx(expected["mse"], rel=1e-3)
    ints = colour_client.post("/api/reconstruct-pixels", json={"pixels": [0, 1] * 360})
    assert ints.status_code == 200 and len(ints.json()["reconstruction"]) == 720


@pytest.mark.parametrize(
    "pixels, says",
    [
        ([0.5] * 719, "at least 720 items"),
        ([0.5] * 721, "at most 720 items"),
        ([0.5] * 719 + [1.5], "pixels[719]"),
        ([0.5] * 719 + ["0.5"], "pixels[719]: Input should be a valid number"),
        ([0.5] * 719 + [None], "valid number"),
        ("0.5", "pixels"),
    ],
)
def test_reconstruct_pixels_is_strict(colour_client, pixels, says):
    answer = colour_client.post("/api/reconstruct-pixels", json={"pixels": pixels})
    assert answer.status_code == 422 and says in answer.json()["detail"]
