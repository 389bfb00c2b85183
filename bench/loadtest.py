"""A bounded concurrent load on a local explorer: N clients, a fixed number of requests, a deadline.

Every answer is checked against the one the server gave to a lone client beforehand, so
the run counts wrong answers as well as errors. Only loopback addresses are accepted.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
CLIENT_TIMEOUT_S = 30.0
ANSWER_TOLERANCE = 1e-3  # float results may differ in the last rounded digit between runs
QUANTILES = (50, 99)


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    body: bytes | None = None


@dataclass
class LoadReport:
    clients: int
    planned: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)  # seconds, per call name
    errors: int = 0
    wrong: int = 0
    first_problem: str = ""

    @property
    def completed(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.wrong == 0 and self.completed == self.planned

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def markdown(self) -> str:
        def row(name: str, values: list[float]) -> str:
            p50, p99 = (np.percentile(values, q) * 1e3 for q in QUANTILES) if values else (math.nan,) * 2
            return f"| {name} | {len(values)} | {p50:.1f} | {p99:.1f} | {max(values, default=0) * 1e3:.1f} |"

        everything = [t for v in self.latencies.values() for t in v]
        lines = [
            (
                f"{self.clients} clients, {self.completed}/{self.planned} requests in {self.seconds:.1f} s: "
                f"**{self.requests_per_s:.0f} requests/s**, {self.errors} errors, {self.wrong} wrong answers"
            ),
            "",
            "| request | count | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|",
            *(row(name, values) for name, values in sorted(self.latencies.items())),
            row("**all**", everything),
        ]
        return "\n".join(lines)


def standard_calls(info: dict, codes: dict[int, list[float]], pixels: list[float]) -> list[Call]:
    """One of each kind of request, spread over both splits."""
    test_last, train_last = info["splits"]["test"] - 1, info["splits"]["train"] - 1
    return [
        Call("info", "GET", "/api/info"),
        Call("image", "GET", f"/api/images/test/{test_last}"),
        Call("image", "GET", "/api/images/train/3"),
        Call("reconstruct", "GET", "/api/reconstruct?split=test&index=7"),
        Call("reconstruct", "GET", f"/api/reconstruct?split=train&index={train_last}"),
        Call("denoise", "GET", "/api/denoise?split=test&index=11&noise=0.3&seed=5"),
        Call("interpolate", "GET", f"/api/interpolate?split=test&a=1&b={test_last}&steps=8"),
        Call("encode", "POST", "/api/encode", json.dumps({"pixels": pixels}).encode()),
        *(Call("decode", "POST", "/api/decode", json.dumps({"code": code}).encode()) for code in codes.values()),
    ]


def same_answer(got, expected, tolerance: float = ANSWER_TOLERANCE) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(same_answer(got[k], expected[k], tolerance) for k in expected)
        )
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(same_answer(g, e, tolerance) for g, e in zip(got, expected))
        )
    if isinstance(expected, float) and isinstance(got, (int, float)):
        return abs(got - expected) <= tolerance
    return got == expected


class Client:
    """One keep-alive connection; reconnects after a failure."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.connection = host, port, None

    def send(self, call: Call) -> tuple[int, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=CLIENT_TIMEOUT_S)
        headers = {"Content-Type": "application/json"} if call.body is not None else {}
        try:
            self.connection.request(call.method, call.path, body=call.body, headers=headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise


def loopback_address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    if parts.hostname not in LOOPBACK_HOSTS or parts.port is None:
        raise ValueError(f"load tests run only against this machine (127.0.0.1:PORT), not {base_url}")
    return parts.hostname, parts.port


def prepare_calls(base_url: str) -> tuple[list[Call], list]:
    """The request mix and each request's answer to a lone client."""
    client = Client(*loopback_address(base_url))

    def fetch(call: Call):
        status, body = client.send(call)
        if status != 200:
            raise RuntimeError(f"{call.method} {call.path} answered {status} before any load: {body[:200]!r}")
        return json.loads(body)

    info = fetch(Call("info", "GET", "/api/info"))
    codes = {i: fetch(Call("r", "GET", f"/api/reconstruct?split=test&index={i}"))["code"] for i in (0, 1)}
    pixels = fetch(Call("i", "GET", "/api/images/test/2"))["pixels"]
    calls = standard_calls(info, codes, pixels)
    return calls, [fetch(call) for call in calls]


def run_load(base_url: str, clients: int, requests: int, time_limit_s: float) -> LoadReport:
    """``requests`` requests from ``clients`` threads, stopping early at ``time_limit_s``."""
    host, port = loopback_address(base_url)
    calls, expected = prepare_calls(base_url)
    report = LoadReport(clients=clients, planned=requests)
    tickets = itertools.count()
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit_s

    def work():
        client = Client(host, port)
        while time.monotonic() < deadline:
            ticket = next(tickets)  # itertools.count is atomic under the GIL
            if ticket >= requests:
                return
            call = calls[ticket % len(calls)]
            start = time.perf_counter()
            try:
                status, body = client.send(call)
                problem = None if status == 200 else f"{call.path} answered {status}: {body[:200]!r}"
                wrong = status == 200 and not same_answer(json.loads(body), expected[ticket % len(calls)])
            except (OSError, http.client.HTTPException, ValueError) as err:
                problem, wrong = f"{call.path} failed: {type(err).__name__}: {err}", False
            elapsed = time.perf_counter() - start
            with lock:
                report.latencies.setdefault(call.name, []).append(elapsed)
                report.errors += problem is not None
                report.wrong += wrong
                if (problem or wrong) and not report.first_problem:
                    report.first_problem = problem or f"{call.path} gave a different answer under load"

    threads = [threading.Thread(target=work, name=f"load-client-{i}") for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - began
    return report
