"""Bad input to the explorer's JSON API gets a one-line 4xx, never a 500: hand-written cases, a
schemathesis fuzz of the app's own OpenAPI schema, and the serve command's start-up errors."""

from __future__ import annotations

import socket

import pytest
import schemathesis  # the test extra; a missing one is an error here, never a skip
from fastapi.testclient import TestClient  # the web extra, likewise
from web_helpers import FUZZ_EXAMPLES, tiny_explorer

from aelab.web.app import create_app


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    return tiny_explorer(tmp_path_factory.mktemp("web_api_validation"))


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer)) as client:
        yield client


@pytest.mark.parametrize(
    "method, url, body, says",
    [
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
    ],
)
def test_bad_input_gets_a_422_that_says_what_is_wrong(client, method, url, body, says):
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert response.status_code == 422
    assert says in response.json()["detail"]


@pytest.mark.parametrize(
    "raw, says",
    [
        (b'{"code": [NaN, 0, 0, 0]}', "finite"),
        (b'{"code": [Infinity, 0, 0, 0]}', "finite"),
        (b'{"code": [0, 0', "not valid JSON"),
        (b"", "Field required"),
    ],
)
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


# The serve command's start-up errors: one line and exit code 2, before any serving.
def run_serve(argv, capsys):
    from aelab.cli import main

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
        code, err = run_serve(["-l", str(tiny_checkpoint), "--data-root", str(tiny_root), "--port", str(port)], capsys)
    assert code == 2 and f"port {port} on 127.0.0.1 is already in use" in err


@pytest.mark.parametrize(
    "argv, says", [(["--port", "70000"], "must be 0-65535"), (["--port", "web"], "not a whole number")]
)
def test_serve_rejects_a_bad_port(tiny_checkpoint, capsys, argv, says):
    with pytest.raises(SystemExit) as exit_info:
        run_serve(["-l", str(tiny_checkpoint), *argv], capsys)
    assert exit_info.value.code == 2 and says in capsys.readouterr().err


def test_serve_defaults_to_this_machine_only():
    from aelab.cli import build_parser
    from aelab.cli.args import data_config

    args = build_parser().parse_args(["serve", "-l", "MLP.8.pth"])
    assert (args.host, args.port, args.data_root) == ("127.0.0.1", 8000, "./data")
    assert args.dataset is None and data_config(args).dataset == "mnist"  # the checkpoint's data, else mnist


# Schema-driven fuzzing: schemathesis draws requests for every operation from the app's own
# OpenAPI schema, both ones that fit it and ones that break it; none may get a 500.
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
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses = set()
    assert len(operations) == 11
    for operation in operations:
        if mode == "negative" and operation.label in INPUTLESS | BINARY_BODY:
            continue

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        def fuzz(case):
            response = case.call_and_validate(checks=checks)
            if case.operation.label not in INPUTLESS:
                statuses.add(response.status_code)

        fuzz()
    if mode == "positive":  # some requests got through to the model, not only to the validators
        assert 200 in statuses
