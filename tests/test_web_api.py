"""The explorer's JSON API through FastAPI's TestClient: every call on the lab's MLP (untrained) and
the tiny dataset, checked against the model itself. Bad input: test_web_api_validation.py; colour
models and uploads: test_web_api_images.py; the other families and sampling: test_web_api_families.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient  # the web extra; a missing one is an error here, never a skip
from web_helpers import MLP_BOTTLENECK, N_TEST, TOLERANCE, data_root, get_ok, tiny_explorer

from aelab.analysis.inference import CODE_QUANTILES
from aelab.data.idx import read_idx
from aelab.data.images import load_images
from aelab.data.sources import raw_folder
from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.web.app import create_app
from aelab.web.explorer import MIN_SLIDER_SPAN, Explorer
from aelab.web.schemas import MAX_UPLOAD_BYTES


@pytest.fixture(scope="module")
def web_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("web_api")


@pytest.fixture(scope="module")
def explorer(web_folder):
    """Built once for the module: the app is read-only."""
    return tiny_explorer(web_folder)


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer)) as client:
        yield client


def test_info_describes_the_model_and_the_limits(client, explorer):
    info = get_ok(client, "/api/info")
    assert info["dataset"] == "mnist"
    assert info["image_shape"] == [28, 28]
    assert info["splits"] == {"train": 256, "test": N_TEST}
    assert info["bottleneck"] == 4 and info["hidden"] == 392
    assert (info["family"], info["layer_sizes"], info["can_sample"]) == ("mlp", "784-392-4", False)
    assert [layer["kind"] for layer in info["decoder_layers"]] == ["linear", "relu", "linear"]
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
    model = MLPAutoencoder(ModelConfig(bottleneck=MLP_BOTTLENECK, code_activation="none"))
    init_lab_weights(model)
    with torch.no_grad():
        model.fc2.weight.mul_(10)
        model.fc2.bias.mul_(10)
    return model


@pytest.mark.parametrize("which", ["lab", "spread"])
def test_info_sliders_are_the_1st_and_99th_percentiles_of_the_training_codes(
    which, client, explorer, spread_model, web_folder
):
    root = data_root(web_folder)
    if which == "lab":
        model, info = explorer.model, get_ok(client, "/api/info")
    else:
        model = spread_model
        app = create_app(
            Explorer(spread_model, load_images("mnist", root, train=True), load_images("mnist", root, train=False))
        )
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


def test_openapi_documents_every_operation_and_the_code_length(client):
    schema = get_ok(client, "/openapi.json")
    assert {
        "/api/info",
        "/api/images/{split}/{index}",
        "/api/encode",
        "/api/decode",
        "/api/reconstruct",
        "/api/denoise",
        "/api/interpolate",
        "/api/decoder",
        "/api/reconstruct-pixels",
        "/api/upload",
        "/api/sample",
    } <= set(schema["paths"])
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
    modules = ("app.js", "common.js", "decoder.js", "panels.js", "draw_upload.js")
    for name, kind in [(module, "javascript") for module in modules] + [("style.css", "text/css")]:
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
