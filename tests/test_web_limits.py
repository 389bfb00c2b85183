"""The request body cap: an oversized body gets 413 at once and costs the server no memory,
and the largest legal request still fits. Real HTTP to a server in a thread of this process."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import torch
from conftest import write_mnist
from fastapi.testclient import TestClient

from aelab.data.images import load_images
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.web.app import create_app
from aelab.web.explorer import Explorer
from aelab.web.schemas import BODY_MARGIN_BYTES, MAX_NUMBER_CHARS, MAX_UPLOAD_BYTES, max_body_bytes
from aelab.web.server import running

INPUT_DIM, BOTTLENECK = 784, 4
LIMIT = max_body_bytes(INPUT_DIM, BOTTLENECK)
HOSTILE_BYTES = 50 * 2**20  # what a careless or hostile client sends
CHUNK = 16 * 2**10  # several chunks to pass the limit: the streamed count adds them up
MAX_GROWTH_MB = 20  # the old server grew by ~12x the body: 600 MB for this one
ANSWER_TIMEOUT_S = 10.0  # a bound on a stalled server, not a timing assert


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = write_mnist(tmp_path_factory.mktemp("web_limits") / "data")
    torch.manual_seed(0)
    model = MLPAutoencoder(ModelConfig(bottleneck=BOTTLENECK))
    init_lab_weights(model)
    return create_app(Explorer(model, load_images("mnist", root, train=True), load_images("mnist", root, train=False)))


@pytest.fixture(scope="module")
def server(app) -> Iterator[tuple[str, int]]:
    with running(app) as url:
        parts = urlsplit(url)
        yield parts.hostname, parts.port


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield client


def memory_mb(field: str) -> float:
    """This process's VmRSS or VmHWM (peak) in MB; the server runs in one of its threads."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} not in /proc/self/status")


class MemoryGrowth:
    """Peak RSS growth over a block: VmHWM after resetting it, or VmRSS where it cannot be reset."""

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets VmHWM to the current RSS
            self.field = "VmHWM"
        except OSError:
            self.field = "VmRSS"
        self.before = memory_mb("VmRSS")
        return self

    def __exit__(self, *exc):
        self.mb = memory_mb(self.field) - self.before


def chunked(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def read_answer(sock: socket.socket, method: str = "POST") -> tuple[int, bytes]:
    answer = http.client.HTTPResponse(sock, method=method)
    answer.begin()
    return answer.status, answer.read()


# Each path's cap and a word its 413 must carry: JSON bodies are capped for the model, uploads at 5 MB.
CAPS = {"/api/encode": (LIMIT, "784 pixels"), "/api/upload": (MAX_UPLOAD_BYTES, "image file of at most 5 MB")}


def assert_is_the_413(status: int, body: bytes, path: str = "/api/encode") -> None:
    assert status == 413, body
    detail = json.loads(body)["detail"]
    limit, advice = CAPS[path]
    assert f"limit of {limit} bytes" in detail and advice in detail and "\n" not in detail


@pytest.mark.parametrize("path", list(CAPS))
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_oversized_body_gets_413_at_once_and_no_server_memory(server, framing, path):
    """The client sends the headers and (chunked) just past the limit, then waits: the 413 must come
    without the rest. Then it sends the other 50 MB anyway, which the server reads past and drops,
    and the same connection still serves the next request."""
    host, port = server
    limit = CAPS[path][0]
    framing_header = f"Content-Length: {HOSTILE_BYTES}" if framing == "content-length" else "Transfer-Encoding: chunked"
    frame = (lambda data: data) if framing == "content-length" else chunked
    with MemoryGrowth() as growth, socket.create_connection((host, port)) as sock:
        sock.settimeout(ANSWER_TIMEOUT_S)
        start = time.perf_counter()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{framing_header}\r\n\r\n".encode()
        )
        sent = 0
        if framing == "chunked":  # a chunked body shows its size only as it streams
            while sent <= limit:
                sock.sendall(chunked(b" " * CHUNK))
                sent += CHUNK
        status, body = read_answer(sock)
        seconds = time.perf_counter() - start
        assert_is_the_413(status, body, path)
        assert sent <= limit + CHUNK  # answered before the client sent any more

        block = b" " * 2**20
        while sent < HOSTILE_BYTES:
            sock.sendall(frame(block))
            sent += len(block)
        if framing == "chunked":
            sock.sendall(b"0\r\n\r\n")
        sock.sendall(f"GET /api/info HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, info = read_answer(sock, "GET")
        assert status == 200 and json.loads(info)["bottleneck"] == BOTTLENECK
    print(
        f"\n{path} {framing}: 413 after {seconds * 1000:.1f} ms, {sent >> 20} MB sent in all, "
        f"{growth.field} grew {growth.mb:.1f} MB"
    )
    assert growth.mb < MAX_GROWTH_MB


def stream(total: int) -> Iterator[bytes]:
    block = b" " * 2**20
    for _ in range(total // len(block)):
        yield block


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_plain_http_client_sending_50_mb_gets_the_413(server, framing):
    """http.client sends the whole body before it reads: it still gets the 413, not a reset."""
    host, port = server
    headers = {"Content-Type": "application/json"}
    if framing == "content-length":
        headers["Content-Length"] = str(HOSTILE_BYTES)
    connection = http.client.HTTPConnection(host, port, timeout=ANSWER_TIMEOUT_S)
    try:
        with MemoryGrowth() as growth:
            connection.request(
                "POST", "/api/encode", body=stream(HOSTILE_BYTES), headers=headers, encode_chunked=framing == "chunked"
            )
            answer = connection.getresponse()
            assert_is_the_413(answer.status, answer.read())
    finally:
        connection.close()
    print(f"\nhttp.client {framing}: {growth.field} grew {growth.mb:.1f} MB")
    assert growth.mb < MAX_GROWTH_MB


def largest_legal_body(extra: int = 0) -> bytes:
    """784 pixels in [0, 1], each written in exactly MAX_NUMBER_CHARS characters with its comma and
    whitespace (long decimals, exponents, pretty-printing), padded to LIMIT + extra bytes."""
    writings = [
        "0." + "1234567890" * 5,  # more digits than any float has
        "1.2345678901234567e-300",  # the longest kind of repr, exponent included
        "\n" + " " * 8 + "0.5",  # json.dumps(indent=4)-style
        "1",  # a JSON int
    ]
    numbers = []
    for i in range(INPUT_DIM):
        text = writings[i % len(writings)][: MAX_NUMBER_CHARS - 1]
        numbers.append(text.ljust(MAX_NUMBER_CHARS - 1) + ",")
    body = '{"pixels": [' + "".join(numbers)[:-1] + "]}"
    assert len(body) <= LIMIT - BODY_MARGIN_BYTES + len('{"pixels": []}')
    return (body + " " * (LIMIT + extra - len(body))).encode()


def test_the_largest_legal_request_is_accepted_and_one_byte_more_is_not(client):
    body = largest_legal_body()
    assert len(body) == LIMIT
    pixels = json.loads(body)["pixels"]
    assert len(pixels) == INPUT_DIM and max(pixels) == 1 and min(pixels) > 0
    expected = client.post("/api/encode", json={"pixels": [float(p) for p in pixels]})
    headers = {"content-type": "application/json"}
    answer = client.post("/api/encode", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected.json()
    answer = client.post("/api/encode", content=largest_legal_body(extra=1), headers=headers)
    assert_is_the_413(answer.status_code, answer.content)


def post_chunked(server, path: str, body: bytes, piece: int = 1000) -> tuple[int, bytes]:
    """``body`` sent chunked in small pieces, so only the streamed count can tell its size."""
    host, port = server
    with socket.create_connection((host, port)) as sock:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for start in range(0, len(body), piece):
            sock.sendall(chunked(body[start : start + piece]))
        sock.sendall(b"0\r\n\r\n")
        return read_answer(sock)


def test_the_limit_holds_exactly_for_a_chunked_body_too(server):
    """The streamed count, not the header, decides here: LIMIT bytes pass, LIMIT + 1 do not."""
    for extra, expected in ((0, 200), (1, 413)):
        status, answer = post_chunked(server, "/api/encode", largest_legal_body(extra))
        assert status == expected, answer
        if expected == 200:
            assert len(json.loads(answer)["code"]) == BOTTLENECK


def test_uploads_have_their_own_larger_cap_and_it_opens_no_other_path(server, client):
    """A file of exactly the cap is read whole (and is no image: 422); one byte more is 413, with
    Content-Length or chunked. The JSON paths keep their small cap."""
    for extra, expected in ((0, 422), (1, 413)):
        body = b"\0" * (MAX_UPLOAD_BYTES + extra)
        status, answer = post_chunked(server, "/api/upload", body, CHUNK)
        assert status == expected, answer
        answer = client.post("/api/upload", content=body, headers={"content-type": "application/octet-stream"})
        assert answer.status_code == expected, answer.text
    assert_is_the_413(status, answer.content, "/api/upload")
    for path in ("/api/encode", "/api/reconstruct-pixels"):
        assert_is_the_413(*post_chunked(server, path, b" " * (LIMIT + 1)))


def test_the_limit_is_sized_from_the_model():
    assert LIMIT == INPUT_DIM * MAX_NUMBER_CHARS + BODY_MARGIN_BYTES
    assert max_body_bytes(100, 2000) == 2000 * MAX_NUMBER_CHARS + BODY_MARGIN_BYTES
    longest_repr = max(
        len(repr(x))
        for x in (-2.2250738585072014e-308, -1.2345678901234567e-300, -0.12345678901234568, 1.7976931348623157e308)
    )
    assert MAX_NUMBER_CHARS >= 2 * longest_repr


def test_openapi_states_the_limit_and_documents_the_413(client):
    schema = client.get("/openapi.json").json()
    description = schema["info"]["description"]
    assert f"{LIMIT} bytes" in description and "413" in description and "JSON numbers" in description
    assert f"{MAX_UPLOAD_BYTES} bytes" in description
    for path, limit in (
        ("/api/encode", LIMIT),
        ("/api/decode", LIMIT),
        ("/api/reconstruct-pixels", LIMIT),
        ("/api/upload", MAX_UPLOAD_BYTES),
    ):
        documented = schema["paths"][path]["post"]["responses"]["413"]
        assert str(limit) in documented["description"]
        assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_small_bodies_on_other_calls_are_untouched(client):
    assert client.get("/api/info").status_code == 200
    answer = client.post("/api/decode", json={"code": [0.0] * BOTTLENECK})
    assert answer.status_code == 200 and len(answer.json()["pixels"]) == INPUT_DIM
