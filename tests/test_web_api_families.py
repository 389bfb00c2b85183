"""The explorer's JSON API on every model family (conv, vae, conv-vae beside the lab's mlp), and
``/api/sample``: new images from a VAE's prior, refused with a 409 by a plain autoencoder."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import schemathesis  # the test extra; a missing one is an error here, never a skip
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient  # the web extra, likewise
from PIL import Image
from web_helpers import FAMILY_SHAPES, FUZZ_EXAMPLES, TOLERANCE, get_ok, post_ok, tiny_explorer

from aelab.errors import UserError
from aelab.models.config import ModelConfig
from aelab.models.registry import build
from aelab.web.app import create_app
from aelab.web.decoder import describe
from aelab.web.schemas import SAMPLES_MAX, TEMPERATURE_MAX

FAMILIES = ("mlp", "conv", "vae", "conv-vae")
OTHER_FAMILIES = ("conv", "vae", "conv-vae")
VAES = ("vae", "conv-vae")


@pytest.fixture(scope="module")
def explorers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web_api_families")
    return {family: tiny_explorer(folder, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def clients(explorers):
    with (
        TestClient(create_app(explorers["conv"])) as conv,
        TestClient(create_app(explorers["vae"])) as vae,
        TestClient(create_app(explorers["conv-vae"])) as conv_vae,
        TestClient(create_app(explorers["mlp"])) as mlp,
    ):
        yield {"mlp": mlp, "conv": conv, "vae": vae, "conv-vae": conv_vae}


def decode_with_the_exported_layers(info: dict, data: bytes, code: list[float]) -> np.ndarray:
    """A decode built from nothing but /api/info's layer list and /api/decoder's bytes, as documented."""
    weights = torch.from_numpy(np.frombuffer(data, dtype="<f4").copy())
    offset = 0

    def take(*shape):
        nonlocal offset
        part = weights[offset : offset + math.prod(shape)].reshape(shape)
        offset += part.numel()
        return part

    x = torch.tensor([code])
    for layer in info["decoder_layers"]:
        if layer["kind"] == "linear":
            x = F.linear(x.reshape(1, -1), take(layer["outputs"], layer["inputs"]), take(layer["outputs"]))
        elif layer["kind"] == "relu":
            x = F.relu(x)
        else:
            channels_in, channels_out, kernel = layer["in_shape"][0], layer["out_shape"][0], layer["kernel"]
            x = F.conv_transpose2d(
                x.reshape(1, *layer["in_shape"]),
                take(channels_in, channels_out, kernel, kernel),
                take(channels_out),
                stride=layer["stride"],
                padding=layer["padding"],
            )
            assert list(x.shape[1:]) == layer["out_shape"]
    assert offset == len(weights), "bytes left over"
    return torch.sigmoid(x.reshape(-1)).numpy()


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_every_call_works_on_the_family(family, clients, explorers):
    client, explorer = clients[family], explorers[family]
    info = get_ok(client, "/api/info")
    config = explorer.config
    assert (info["family"], info["layer_sizes"], info["bottleneck"]) == (family, config.layer_sizes, 3)
    assert info["can_sample"] == (family in VAES) and info["code_activation"] == config.code_activation
    assert len(info["sliders"]) == 3 and all(s["low"] < s["high"] for s in info["sliders"])
    assert family in get_ok(client, "/openapi.json")["info"]["description"]
    image = explorer.splits["test"].image(4)
    out = get_ok(client, "/api/reconstruct?split=test&index=4")
    with torch.no_grad():
        assert np.allclose(out["reconstruction"], explorer.model(image[None])[0].numpy(), atol=TOLERANCE)
        assert np.allclose(out["code"], explorer.model.encode(image[None])[0].numpy(), atol=1e-5)
    code = post_ok(client, "/api/encode", {"pixels": out["original"]})["code"]
    assert np.allclose(
        post_ok(client, "/api/decode", {"code": code})["pixels"], out["reconstruction"], atol=2 * TOLERANCE
    )
    drawn = post_ok(client, "/api/reconstruct-pixels", {"pixels": out["original"]})
    assert np.allclose(drawn["reconstruction"], out["reconstruction"], atol=2 * TOLERANCE)
    denoised = get_ok(client, "/api/denoise?split=test&index=4&noise=0.3&seed=1")
    assert len(denoised["denoised"]) == 784 and denoised["psnr_noisy"] is not None
    strip = get_ok(client, "/api/interpolate?split=test&a=4&b=9&steps=3")
    assert strip["frames"][0] == out["reconstruction"] and len(strip["frames"]) == 3
    buffer = io.BytesIO()
    Image.new("L", (30, 20), 128).save(buffer, "PNG")
    uploaded = client.post("/api/upload", content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert uploaded.status_code == 200 and uploaded.json()["size_received"] == [20, 30]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_exported_decoder_decodes_like_the_server(family, clients):
    """The page decodes with these bytes and this layer list; they must say what the server does."""
    client = clients[family]
    info = get_ok(client, "/api/info")
    kinds = [layer["kind"] for layer in info["decoder_layers"]]
    assert ("conv_transpose" in kinds) == family.startswith("conv")
    code = [0.5, -1.0, 2.0, 0.25][: info["bottleneck"]]
    local = decode_with_the_exported_layers(info, client.get("/api/decoder").content, code)
    assert np.allclose(local, post_ok(client, "/api/decode", {"code": code})["pixels"], atol=2 * TOLERANCE)


def test_a_decoder_the_page_cannot_run_is_refused_at_start_up():
    model = build(ModelConfig(family="conv", **FAMILY_SHAPES["conv"]))
    model.decoder.append(torch.nn.Sigmoid())
    with pytest.raises(UserError, match="cannot decode a Sigmoid layer in the browser"):
        describe(model)


@pytest.mark.parametrize("family", VAES)
def test_samples_are_the_models_own_and_a_seed_repeats_them(family, clients, explorers):
    client, model = clients[family], explorers[family].model
    out = post_ok(client, "/api/sample", {"n": 5, "temperature": 0.7, "seed": 11})
    assert (out["n"], out["temperature"], out["seed"], len(out["images"])) == (5, 0.7, 11, 5)
    expected = model.sample(5, 0.7, torch.Generator().manual_seed(11))
    assert np.allclose(out["images"], expected.numpy(), atol=TOLERANCE)
    assert post_ok(client, "/api/sample", {"n": 5, "temperature": 0.7, "seed": 11}) == out
    assert post_ok(client, "/api/sample", {"n": 5, "temperature": 0.7, "seed": 12})["images"] != out["images"]
    hotter = post_ok(client, "/api/sample", {"n": 5, "temperature": 1.9, "seed": 11})["images"]
    assert not np.allclose(hotter, out["images"], atol=TOLERANCE)  # the same draws, spread wider


def test_a_sample_without_a_seed_names_the_one_that_repeats_it(clients):
    client = clients["vae"]
    first = post_ok(client, "/api/sample", {"n": 3})
    assert first["temperature"] == 1.0 and 0 <= first["seed"] < 2**32
    assert post_ok(client, "/api/sample", {"n": 3, "seed": first["seed"]})["images"] == first["images"]


def test_the_largest_sample_is_allowed(clients):
    out = post_ok(clients["conv-vae"], "/api/sample", {"n": SAMPLES_MAX, "temperature": TEMPERATURE_MAX, "seed": 0})
    assert len(out["images"]) == SAMPLES_MAX and all(len(image) == 784 for image in out["images"])
    assert all(0 <= p <= 1 for image in out["images"] for p in image)


@pytest.mark.parametrize(
    "body, says",
    [
        ({"n": 0}, "body field n: Input should be greater than or equal to 1"),
        ({"n": SAMPLES_MAX + 1}, f"body field n: Input should be less than or equal to {SAMPLES_MAX}"),
        ({"n": "4"}, "body field n: Input should be a valid integer"),
        ({"n": 4.0}, "body field n: Input should be a valid integer"),
        ({"n": True}, "body field n"),
        ({"temperature": 0}, "body field temperature: Input should be greater than 0"),
        ({"temperature": -1}, "body field temperature"),
        ({"temperature": TEMPERATURE_MAX + 0.001}, f"less than or equal to {TEMPERATURE_MAX:g}"),
        ({"temperature": "1"}, "body field temperature: Input should be a valid number"),
        ({"seed": -1}, "body field seed"),
        ({"seed": 2**32}, "body field seed"),
    ],
)
def test_a_sample_out_of_bounds_gets_a_422(clients, body, says):
    answer = clients["vae"].post("/api/sample", json=body)
    assert answer.status_code == 422 and says in answer.json()["detail"], answer.text


@pytest.mark.parametrize("raw", [b'{"temperature": NaN}', b'{"temperature": Infinity}'])
def test_a_temperature_that_is_no_number_gets_a_422(clients, raw):
    answer = clients["vae"].post("/api/sample", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "temperature" in answer.json()["detail"]


@pytest.mark.parametrize("family", ["mlp", "conv"])
def test_a_plain_autoencoder_refuses_to_sample_in_one_line(family, clients):
    answer = clients[family].post("/api/sample", json={"n": 4, "temperature": 1.0, "seed": 0})
    detail = answer.json()["detail"]
    assert answer.status_code == 409 and detail.startswith("sampling needs a VAE") and "\n" not in detail
    assert f"a plain {family} autoencoder" in detail


def test_openapi_documents_sampling(clients):
    schema = get_ok(clients["mlp"], "/openapi.json")
    operation = schema["paths"]["/api/sample"]["post"]
    assert operation["summary"] and {"200", "409", "422", "413"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SampleRequest")
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SampleOut")
    fields = schema["components"]["schemas"]["SampleRequest"]["properties"]
    assert (fields["n"]["minimum"], fields["n"]["maximum"]) == (1, SAMPLES_MAX)
    assert (fields["temperature"]["exclusiveMinimum"], fields["temperature"]["maximum"]) == (0, TEMPERATURE_MAX)
    assert "can_sample" in schema["components"]["schemas"]["InfoOut"]["properties"]


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_fuzzed_sample_requests_never_get_a_server_error(explorers, mode):
    """test_web_api_validation.py fuzzes every call on an mlp, which refuses to sample; this samples."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(explorers["conv-vae"]))
    operation = schema["/api/sample"]["POST"]
    statuses = set()

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
    def fuzz(case):
        response = case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
        )
        statuses.add(response.status_code)

    fuzz()
    assert statuses <= {200, 400, 422} and (mode == "negative" or 200 in statuses)
