"""A small bounded concurrent load on a real local server: no errors, every answer right."""

from __future__ import annotations

import loadtest  # bench/loadtest.py
import pytest
import torch
import uvicorn  # noqa: F401  the web extra serves here; a missing one is an error, never a skip
from loadtest import loopback_address, run_load, same_answer

from aelab.data.images import load_images
from aelab.training import checkpoint
from aelab.web.app import create_app
from aelab.web.explorer import Explorer
from aelab.web.server import running

CLIENTS = 4
REQUESTS_PER_CLIENT = 50
TIME_LIMIT_S = 120.0  # a bound, not a timing assert: the load stops there on a stalled server


@pytest.fixture
def server_url(tiny_root, tiny_checkpoint):
    model = checkpoint.load_model(tiny_checkpoint)
    explorer = Explorer(
        model, load_images("mnist", tiny_root, train=True), load_images("mnist", tiny_root, train=False)
    )
    with running(create_app(explorer)) as url:
        yield url


def test_concurrent_clients_get_no_errors_and_right_answers(server_url):
    report = run_load(server_url, CLIENTS, CLIENTS * REQUESTS_PER_CLIENT, TIME_LIMIT_S)
    assert report.first_problem == ""
    assert (report.errors, report.wrong) == (0, 0)
    assert report.completed == CLIENTS * REQUESTS_PER_CLIENT
    assert {"reconstruct", "denoise", "interpolate", "encode", "decode", "image"} <= set(report.latencies)
    table = report.markdown()
    assert "| **all** | 200 |" in table and "0 errors, 0 wrong answers" in table


def test_a_server_that_changes_its_answers_is_caught(tiny_root, tiny_checkpoint, monkeypatch):
    """The load checks answers against the first ones; a model edited mid-run must show up."""
    model = checkpoint.load_model(tiny_checkpoint)
    explorer = Explorer(
        model, load_images("mnist", tiny_root, train=True), load_images("mnist", tiny_root, train=False)
    )
    prepare = loadtest.prepare_calls

    def prepare_then_change_the_model(base_url):
        prepared = prepare(base_url)
        with torch.no_grad():
            model.fc4.bias.add_(1.0)
        return prepared

    monkeypatch.setattr(loadtest, "prepare_calls", prepare_then_change_the_model)
    with running(create_app(explorer)) as url:
        report = loadtest.run_load(url, 2, 20, TIME_LIMIT_S)
    assert report.errors == 0 and report.wrong > 0 and not report.ok


def test_same_answer_compares_numbers_with_a_tolerance_and_everything_else_exactly():
    assert same_answer({"a": [0.5, 1.0], "b": "x"}, {"a": [0.5004, 1.0], "b": "x"})
    assert not same_answer({"a": [0.5]}, {"a": [0.6]})
    assert not same_answer({"a": [0.5]}, {"a": [0.5, 0.5]})
    assert not same_answer({"a": 1, "b": 2}, {"a": 1})
    assert not same_answer({"label": 3}, {"label": 4})


@pytest.mark.parametrize("url", ["http://example.com:80/", "http://10.0.0.1:8000/", "http://127.0.0.1/"])
def test_load_goes_only_to_this_machine(url):
    with pytest.raises(ValueError, match="only against this machine"):
        loopback_address(url)
