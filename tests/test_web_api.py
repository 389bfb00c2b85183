"""The explorer's JSON API through FastAPI's TestClient, on the tiny dataset and an untrained model."""

from __future__ import annotations

import io
import math
import os
import socket
import struct
import zlib

import numpy as np
import pytest
import schemathesis  # the test extra; a missing one is an error here, never a skip
import torch
from conftest import write_mnist
from PIL import Image
from fastapi.testclient import TestClient  # the web extra, likewise

from mnist_ae.analysis.inference import CODE_QUANTILES
from mnist_ae.data.idx import read_idx
from mnist_ae.data.sources import raw_folder
from mnist_ae.training import checkpoint
from mnist_ae.data.arrays import stack_pixels
from mnist_ae.data.folders import REDUCING_GAP, decode
from mnist_ae.data.images import ImageSet, load_images
from mnist_ae.errors import UserError
from mnist_ae.models.mlp import MLPAutoencoder, ModelConfig, init_lab_weights
from mnist_ae.web.app import create_app
from mnist_ae.web.explorer import MIN_SLIDER_SPAN, Explorer
from mnist_ae.web.schemas import MAX_UPLOAD_BYTES
from mnist_ae.web.uploads import MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE

TOLERANCE = 1e-4  # the API rounds pixels to 4 decimals
N_TEST = 64  # conftest's tiny test split


@pytest.fixture(scope="module")
def web_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web_api")
    write_mnist(folder / "data")
    return folder


@pytest.fixture(scope="module")
def explorer(web_folder):
    """conftest's tiny_root and tiny_checkpoint, built once for the module: the app is read-only."""
    root = web_folder / "data"
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=4))
    init_lab_weights(model)
    checkpoint.save(web_folder / "tiny.pth", model)
    return Explorer(checkpoint.load_model(web_folder / "tiny.pth"), load_images("mnist", root, train=True),
                    load_images("mnist", root, train=False))


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer)) as client:
        yield client


def get_ok(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_info_describes_the_model_and_the_limits(client, explorer):
    info = get_ok(client, "/api/info")
    assert info["dataset"] == "mnist"
    assert info["image_shape"] == [28, 28]
    assert info["splits"] == {"train": 256, "test": N_TEST}
    assert info["bottleneck"] == 4 and info["hidden"] == 392
    assert len(info["sliders"]) == 4
    assert all(s["low"] < s["high"] for s in info["sliders"])
    assert (info["steps_min"], info["steps_max"], info["noise_max"]) == (2, 64, 1.0)
    assert info["channels"] == 1 and info["upload_max_bytes"] == MAX_UPLOAD_BYTES
    labels = torch.unique(explorer.splits["train"].labels).tolist()
    assert info["class_names"] == [str(label) for label in labels]  # MNIST's digits name themselves


def test_slider_ranges_are_percentiles_of_the_training_codes(explorer):
    images = explorer.splits["train"]
    codes = explorer.model.encode(images.floats()).detach()
    for unit, slider in enumerate(explorer.ranges):
        inside = ((codes[:, unit] >= slider.low - 1e-6) & (codes[:, unit] <= slider.high + 1e-6)).float().mean()
        assert inside >= 0.97  # 1st to 99th percentile holds 98% of the codes


def training_codes(model: MLPAutoencoder, root) -> torch.Tensor:
    """The codes of every training image, read here from the IDX file itself, not through the explorer."""
    images = torch.from_numpy(read_idx(raw_folder("mnist", root) / "train-images-idx3-ubyte").copy())
    with torch.no_grad():
        return model.eval().encode(images.reshape(len(images), -1).float() / 255)


@pytest.fixture(scope="module")
def spread_model():
    """A linear code 10 times wider than the lab's init gives: every unit's 1st-99th percentile span
    is wider than MIN_SLIDER_SPAN, so the sliders are the percentiles themselves."""
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=4, code_activation="none"))
    init_lab_weights(model)
    with torch.no_grad():
        model.fc2.weight.mul_(10)
        model.fc2.bias.mul_(10)
    return model


@pytest.mark.parametrize("which", ["lab", "spread"])
def test_info_sliders_are_the_1st_and_99th_percentiles_of_the_training_codes(
        which, client, explorer, spread_model, web_folder):
    root = web_folder / "data"
    if which == "lab":
        model, info = explorer.model, get_ok(client, "/api/info")
    else:
        model = spread_model
        app = create_app(Explorer(spread_model, load_images("mnist", root, train=True),
                                  load_images("mnist", root, train=False)))
        with TestClient(app) as spread_client:
            info = get_ok(spread_client, "/api/info")
    codes = training_codes(model, root)
    assert codes.shape == (256, 4)
    assert CODE_QUANTILES == (0.01, 0.99)
    low, high = torch.quantile(codes, torch.tensor(CODE_QUANTILES), dim=0)
    if which == "spread":  # percentiles, not the extremes, and not the minimum span
        assert ((high - low) > MIN_SLIDER_SPAN).all()
        assert (low > codes.min(0).values).all() and (high < codes.max(0).values).all()
    assert len(info["sliders"]) == 4
    for unit, slider in enumerate(info["sliders"]):
        expected_high = max(high[unit].item(), low[unit].item() + MIN_SLIDER_SPAN)
        assert slider["low"] == pytest.approx(low[unit].item(), rel=1e-5, abs=1e-6), unit
        assert slider["high"] == pytest.approx(expected_high, rel=1e-5, abs=1e-6), unit


def test_dataset_image_is_the_idx_image(client, explorer):
    out = get_ok(client, "/api/images/test/5")
    expected = explorer.splits["test"].image(5)
    assert out["label"] == int(explorer.splits["test"].labels[5])
    assert out["label_name"] == str(out["label"])
    assert np.allclose(out["pixels"], expected.numpy(), atol=TOLERANCE)


def test_reconstruct_is_the_model_output_with_its_mse(client, explorer):
    out = get_ok(client, "/api/reconstruct?split=train&index=7")
    image = explorer.splits["train"].image(7)
    with torch.no_grad():
        expected = explorer.model(image[None])[0]
        code = explorer.model.encode(image[None])[0]
    assert np.allclose(out["reconstruction"], expected.numpy(), atol=TOLERANCE)
    assert np.allclose(out["code"], code.numpy(), atol=1e-6)
    assert out["mse"] == pytest.approx(float(((expected - image) ** 2).mean()), rel=1e-5)


def test_denoise_repeats_with_a_seed_and_changes_with_another(client):
    url = "/api/denoise?split=test&index=3&noise=0.5"
    first, again = get_ok(client, url + "&seed=1"), get_ok(client, url + "&seed=1")
    other = get_ok(client, url + "&seed=2")
    assert first["noisy"] == again["noisy"] and first["denoised"] == again["denoised"]
    assert first["noisy"] != other["noisy"]
    assert all(0 <= p <= 1 for p in first["noisy"])


def test_denoise_without_noise_leaves_the_image_and_psnr_is_infinite(client):
    out = get_ok(client, "/api/denoise?split=test&index=3&noise=0")
    assert out["noisy"] == out["original"]
    assert out["psnr_noisy"] is None
    assert math.isfinite(out["psnr_denoised"])


def test_more_noise_lowers_the_psnr_of_the_noisy_image(client):
    quiet = get_ok(client, "/api/denoise?split=test&index=3&noise=0.1")
    loud = get_ok(client, "/api/denoise?split=test&index=3&noise=0.9")
    assert quiet["psnr_noisy"] > loud["psnr_noisy"]


def test_interpolation_starts_and_ends_at_the_reconstructions(client):
    out = get_ok(client, "/api/interpolate?split=test&a=2&b=9&steps=5")
    assert out["weights"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(out["frames"]) == 5 and all(len(f) == 784 for f in out["frames"])
    assert out["frames"][0] == get_ok(client, "/api/reconstruct?split=test&index=2")["reconstruction"]
    assert out["frames"][-1] == get_ok(client, "/api/reconstruct?split=test&index=9")["reconstruction"]


def test_encode_then_decode_is_a_reconstruction(client):
    pixels = get_ok(client, "/api/images/test/4")["pixels"]
    code = client.post("/api/encode", json={"pixels": pixels}).json()["code"]
    decoded = client.post("/api/decode", json={"code": code}).json()["pixels"]
    expected = get_ok(client, "/api/reconstruct?split=test&index=4")
    assert np.allclose(code, expected["code"], atol=1e-4)
    assert np.allclose(decoded, expected["reconstruction"], atol=2 * TOLERANCE)


def test_exported_decoder_weights_decode_like_the_server(client):
    """The page decodes with these bytes; the layout must match what the API promises."""
    info = get_ok(client, "/api/info")
    response = client.get("/api/decoder")
    assert response.headers["content-type"] == "application/octet-stream"
    weights = np.frombuffer(response.content, dtype="<f4")
    z, h, n = info["bottleneck"], info["hidden"], 784
    assert weights.size == h * z + h + n * h + n
    w3, b3, w4, b4 = np.split(weights, np.cumsum([h * z, h, n * h]))
    code = np.array([0.5, 1.5, 0.0, 2.0], dtype=np.float32)
    hidden = np.maximum(w3.reshape(h, z) @ code + b3, 0)
    local = 1 / (1 + np.exp(-(w4.reshape(n, h) @ hidden + b4)))
    served = client.post("/api/decode", json={"code": code.tolist()}).json()["pixels"]
    assert np.allclose(local, served, atol=2 * TOLERANCE)


@pytest.mark.parametrize("method, url, body, says", [
    ("get", "/api/images/test/64", None, "choose 0-63"),
    ("get", "/api/images/test/-1", None, "index"),
    ("get", "/api/images/valid/1", None, "'train' or 'test'"),
    ("get", "/api/reconstruct?split=test&index=1000000000000000000000000", None, "choose 0-63"),
    ("get", "/api/reconstruct?split=test&index=abc", None, "query parameter index"),
    ("get", "/api/reconstruct?split=test", None, "query parameter index: Field required"),
    ("get", "/api/denoise?split=test&index=1&noise=1.5", None, "noise"),
    ("get", "/api/denoise?split=test&index=1&noise=-0.1", None, "noise"),
    ("get", "/api/denoise?split=test&index=1&noise=nan", None, "noise"),
    ("get", "/api/denoise?split=test&index=1&noise=inf", None, "noise"),
    ("get", "/api/denoise?split=test&index=1&seed=-3", None, "seed"),
    ("get", "/api/interpolate?split=test&a=1&b=2&steps=1", None, "steps"),
    ("get", "/api/interpolate?split=test&a=1&b=2&steps=65", None, "steps"),
    ("get", "/api/interpolate?split=test&a=1&b=64", None, "choose 0-63"),
    ("post", "/api/decode", {"code": [1.0, 2.0]}, "at least 4 items"),
    ("post", "/api/decode", {"code": [1.0] * 5}, "at most 4 items"),
    ("post", "/api/decode", {"code": [1e30, 0, 0, 0]}, "code[0]"),
    ("post", "/api/decode", {"code": "0,0,0,0"}, "code"),
    ("post", "/api/decode", {}, "code: Field required"),
    ("post", "/api/encode", {"pixels": [0.5] * 783}, "at least 784 items"),
    ("post", "/api/encode", {"pixels": [0.0] * 783 + [2.0]}, "pixels[783]"),
])
def test_bad_input_gets_a_422_that_says_what_is_wrong(client, method, url, body, says):
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert response.status_code == 422
    assert says in response.json()["detail"]


@pytest.mark.parametrize("raw, says", [
    (b'{"code": [NaN, 0, 0, 0]}', "finite"),
    (b'{"code": [Infinity, 0, 0, 0]}', "finite"),
    (b'{"code": [0, 0', "not valid JSON"),
    (b"", "Field required"),
])
def test_malformed_bodies_get_a_422(client, raw, says):
    response = client.post("/api/decode", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert says in response.json()["detail"]


NOT_NUMBERS = ["0.5", "1", True, False, None, [0.5], {"value": 0.5}]


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
@pytest.mark.parametrize("url, field, length", [("/api/encode", "pixels", 784), ("/api/decode", "code", 4)])
def test_only_json_numbers_are_numbers(client, url, field, length, value):
    """Strict: a string, a boolean, null or a list where a number belongs is a 422, not coerced."""
    response = client.post(url, json={field: [0] * (length - 1) + [value]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail == f"body field {field}[{length - 1}]: Input should be a valid number"


def test_json_ints_are_numbers(client):
    """JSON 0 and 1 are numbers: ints answer exactly as the same values written as floats."""
    ints = [0, 1] * 392
    as_ints = client.post("/api/encode", json={"pixels": ints})
    assert as_ints.status_code == 200, as_ints.text
    assert as_ints.json() == client.post("/api/encode", json={"pixels": [float(p) for p in ints]}).json()
    as_ints = client.post("/api/decode", json={"code": [1, 0, -2, 3]})
    assert as_ints.status_code == 200, as_ints.text
    assert as_ints.json() == client.post("/api/decode", json={"code": [1.0, 0.0, -2.0, 3.0]}).json()


def test_a_long_list_of_bad_pixels_is_summarised(client):
    detail = client.post("/api/encode", json={"pixels": [5.0] * 784}).json()["detail"]
    assert "pixels[0]" in detail and "(and 781 more)" in detail


def test_openapi_documents_every_operation_and_the_code_length(client):
    schema = get_ok(client, "/openapi.json")
    assert {"/api/info", "/api/images/{split}/{index}", "/api/encode", "/api/decode", "/api/reconstruct",
            "/api/denoise", "/api/interpolate", "/api/decoder", "/api/reconstruct-pixels",
            "/api/upload"} <= set(schema["paths"])
    assert all(op.get("summary") for path in schema["paths"].values() for op in path.values())
    upload = schema["paths"]["/api/upload"]["post"]
    assert upload["requestBody"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert str(MAX_UPLOAD_BYTES) in upload["responses"]["413"]["description"]
    assert upload["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/UploadOut")
    drawn = schema["paths"]["/api/reconstruct-pixels"]["post"]
    assert drawn["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/EncodeRequest")
    code = schema["components"]["schemas"]["DecodeRequest"]["properties"]["code"]
    assert code["minItems"] == code["maxItems"] == 4
    steps = next(p for p in schema["paths"]["/api/interpolate"]["get"]["parameters"] if p["name"] == "steps")
    assert (steps["schema"]["minimum"], steps["schema"]["maximum"]) == (2, 64)


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "Latent sliders" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_explorer_refuses_a_dataset_of_another_image_size(tiny_root):
    model = MLPAutoencoder(ModelConfig(input_dim=100, output_dim=100, image_shape=(1, 10, 10)))
    images = load_images("mnist", tiny_root, train=True)
    with pytest.raises(UserError, match="expects 100 pixels"):
        Explorer(model, images, images)
    model = MLPAutoencoder(ModelConfig(output_dim=10))
    with pytest.raises(UserError, match="outputs 10 pixels for 784"):
        Explorer(model, images, images)




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
    model = MLPAutoencoder(ModelConfig(input_dim=pixels, output_dim=pixels, bottleneck=4,
                                       image_shape=COLOUR_SHAPE))
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


@pytest.mark.parametrize("body, content_type, says", [
    (b"garbage, not pixels", "application/octet-stream", "the body is not an image Pillow can read; send a PNG"),
    (b"", "image/png", "the body is empty"),
    (noise_png()[:1000], "image/png", "the body is not an image Pillow can read: "),  # cut short
    (png(Image.new("RGB", (16, 16)), "ICO"), "image/x-icon", "not an image Pillow can read"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n", "application/postscript", "not an image"),
    (b"--x\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data; boundary=x", "multipart form"),
    (bomb_png(OVER_CAP_SIDE, OVER_CAP_SIDE), "image/png", f"up to {MAX_UPLOAD_PIXELS} pixels"),
    (bomb_png(MAX_UPLOAD_SIDE + 1, 1), "image/png", f"sides up to {MAX_UPLOAD_SIDE}"),
])
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


@pytest.mark.parametrize("pixels, says", [
    ([0.5] * 719, "at least 720 items"), ([0.5] * 721, "at most 720 items"),
    ([0.5] * 719 + [1.5], "pixels[719]"), ([0.5] * 719 + ["0.5"], "pixels[719]: Input should be a valid number"),
    ([0.5] * 719 + [None], "valid number"), ("0.5", "pixels"),
])
def test_reconstruct_pixels_is_strict(colour_client, pixels, says):
    answer = colour_client.post("/api/reconstruct-pixels", json={"pixels": pixels})
    assert answer.status_code == 422 and says in answer.json()["detail"]


# The serve command's start-up errors: one line and exit code 2, before any serving.
def run_serve(argv, capsys):
    from mnist_ae.cli import main

    code = main(["serve", *argv])
    err = capsys.readouterr().err.strip()
    return code, err


def test_serve_reports_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    code, err = run_serve(["-l", str(tmp_path / "missing.pth")], capsys)
    assert code == 2 and "not found" in err and len(err.splitlines()) == 1


def test_serve_reports_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.pth").write_text("not weights")
    code, err = run_serve(["-l", str(tmp_path / "notes.pth")], capsys)
    assert code == 2 and "not a readable PyTorch checkpoint" in err and len(err.splitlines()) == 1


def test_serve_reports_a_port_in_use(tiny_root, tiny_checkpoint, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_serve(["-l", str(tiny_checkpoint), "--data-root", str(tiny_root),
                               "--port", str(port)], capsys)
    assert code == 2 and f"port {port} on 127.0.0.1 is already in use" in err


@pytest.mark.parametrize("argv, says", [(["--port", "70000"], "must be 0-65535"),
                                        (["--port", "web"], "not a whole number")])
def test_serve_rejects_a_bad_port(tiny_checkpoint, capsys, argv, says):
    with pytest.raises(SystemExit) as exit_info:
        run_serve(["-l", str(tiny_checkpoint), *argv], capsys)
    assert exit_info.value.code == 2 and says in capsys.readouterr().err


def test_serve_defaults_to_this_machine_only():
    from mnist_ae.cli import build_parser
    from mnist_ae.cli.args import data_config

    args = build_parser().parse_args(["serve", "-l", "MLP.8.pth"])
    assert (args.host, args.port, args.data_root) == ("127.0.0.1", 8000, "./data")
    assert args.dataset is None and data_config(args).dataset == "mnist"  # the checkpoint's data, else mnist


# Schema-driven fuzzing: schemathesis draws requests for every operation from the app's own
# OpenAPI schema, both ones that fit it and ones that break it; none may get a 500.
# Per operation and mode: a few seconds in all. Set the variable higher for a deeper search.
FUZZ_EXAMPLES = int(os.environ.get("MNIST_AE_FUZZ_EXAMPLES", "20"))
INPUTLESS = {"GET /api/info", "GET /api/decoder"}  # nothing to break: no negative cases
BINARY_BODY = {"POST /api/upload"}  # any bytes fit its schema, so no negative case exists either


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_requests_never_get_a_server_error(explorer, mode):
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(explorer))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses = set()
    assert len(operations) == 10
    for operation in operations:
        if mode == "negative" and operation.label in INPUTLESS | BINARY_BODY:
            continue

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        def fuzz(case):
            response = case.call_and_validate(checks=checks)
            if case.operation.label not in INPUTLESS:
                statuses.add(response.status_code)

        fuzz()
    if mode == "positive":  # some requests got through to the model, not only to the validators
        assert 200 in statuses
