"""A cap on request bodies as plain ASGI middleware: an oversized body is refused, never read whole.

Framework-free on purpose (any ASGI app, any FastAPI the ``web`` extra allows). A declared
``Content-Length`` over the limit is answered 413 before the app runs or any body is read; a body
without one (chunked) is counted as it streams and refused as soon as the count passes the limit,
so no more than the limit ever reaches the app.

One cap fits every path unless ``paths`` gives a path its own: an image upload needs megabytes
where a JSON body of numbers needs kilobytes, and the larger cap must not open the other paths.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

TOO_LARGE = 413


class BodyTooLarge(Exception):
    """Raised into the app by ``receive`` once the body passes the limit."""


def declared_length(headers) -> int | None:
    """The request's ``Content-Length``, or ``None`` when it has none or none that reads as a count."""
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server would refuse it; the streamed count still guards
                return None
    return None


def too_large(max_bytes: int, advice: str) -> str:
    return f"the request body is over this server's limit of {max_bytes} bytes; {advice}"


class BodyLimit:
    """Answer 413 with ``{"detail": ...}`` to any HTTP request whose body is over its path's cap.

    ``max_bytes`` and ``advice`` hold for every path but those in ``paths``, which maps an exact
    path to its own ``(max_bytes, advice)``.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, advice: str, paths: Mapping[str, tuple[int, str]] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.detail = too_large(max_bytes, advice)
        self.paths = {path: (limit, too_large(limit, says)) for path, (limit, says) in (paths or {}).items()}

    def limit_for(self, scope: MutableMapping[str, Any]) -> tuple[int, str]:
        return self.paths.get(scope.get("path", ""), (self.max_bytes, self.detail))

    async def refuse(self, send: Send, detail: str) -> None:
        # No "Connection: close": a client still sending (most send the whole body before they
        # read) would get a reset instead of this answer. Uvicorn reads past the rest of the body
        # and drops it as it comes, so none of it is kept, and the connection serves the next request.
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": TOO_LARGE,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, detail = self.limit_for(scope)
        length = declared_length(scope.get("headers", ()))
        if length is not None and length > max_bytes:
            await self.refuse(send, detail)  # before the app runs: not one byte of the body is read
            return

        received = 0
        over = False  # the body passed the limit; the app's own answer to the cut body is dropped
        answered = False  # the app started its answer before that; it can no longer be a 413

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    over = True
                    raise BodyTooLarge(f"request body over {max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if over and not answered:
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # The app may let BodyTooLarge (or what it made of it) escape; the 413 below answers it.
            if not over or answered:
                raise
        if over and not answered:
            await self.refuse(send, detail)
