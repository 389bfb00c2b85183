"""The body cap's middleware alone, over a bare ASGI app: what it passes on, what it refuses and when,
and paths with their own caps. The served app's caps over real HTTP: ``test_web_limits.py``."""

from __future__ import annotations

import asyncio
import json

from aelab.web.limits import BodyLimit


def drive(
    max_bytes: int, chunks: list[bytes], headers=(), path: str = "/", paths=None
) -> tuple[list[dict], int | None]:
    """Run BodyLimit over a bare ASGI app that reads the whole body and lets any error escape."""
    seen: list[int] = []

    async def app(scope, receive, send):
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen.append(total)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % total})

    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1} for i, chunk in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive():
        return pending.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": list(headers)}
    asyncio.run(BodyLimit(app, max_bytes, "send less", paths)(scope, receive, send))
    return sent, (seen[0] if seen else None)


def test_the_middleware_works_on_any_asgi_app():
    sent, seen = drive(10, [b"12345", b"67890"])
    assert (sent[0]["status"], sent[1]["body"], seen) == (200, b"10", 10)
    sent, seen = drive(10, [b"12345", b"67890", b"1"])  # the app never gets the chunk past the limit
    assert sent[0]["status"] == 413 and len(sent) == 2 and seen is None
    assert json.loads(sent[1]["body"]) == {
        "detail": "the request body is over this server's limit of 10 bytes; send less"
    }
    sent, seen = drive(10, [b"1"], headers=[(b"content-length", b"11")])  # refused before it is read
    assert sent[0]["status"] == 413 and seen is None
    paths = {"/big": (20, "send a smaller file")}  # a path with its own cap; the others keep the default
    assert drive(10, [b"12345"] * 3, path="/big", paths=paths)[1] == 15
    sent, _ = drive(10, [b"1" * 21], path="/big", paths=paths)
    assert json.loads(sent[1]["body"])["detail"].endswith("limit of 20 bytes; send a smaller file")
    sent, seen = drive(10, [b"1" * 15], path="/small", paths=paths)
    assert sent[0]["status"] == 413 and seen is None
