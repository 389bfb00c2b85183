"""Listening on a local port and running uvicorn there, in the foreground or in a thread."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from ..errors import UserError

LOCALHOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
STARTUP_POLL_S = 0.01
# A browser keeps idle connections open; past this, stopping the server stops waiting on them.
GRACEFUL_SHUTDOWN_S = 3
LISTEN_BACKLOG = 2048  # uvicorn's own default


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: any free one); a refusal is a UserError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, OverflowError) as err:
        raise UserError(
            f"cannot listen on {host}:{port}: {err}; use an address of this machine "
            "such as 127.0.0.1 and a port from 0 to 65535"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is already in use; choose another with --port (--port 0 picks a free one)"
            ) from None
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    # Listening now lets a client that reads the printed URL connect before uvicorn is up:
    # the kernel queues it until the server accepts.
    sock.listen(LISTEN_BACKLOG)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(app: FastAPI) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    )


def serve_forever(app: FastAPI, sock: socket.socket) -> None:
    """Serve until Ctrl-C (uvicorn turns SIGINT and SIGTERM into a clean shutdown)."""
    try:
        make_server(app).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def running(app: FastAPI, host: str = LOCALHOST, port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread for the ``with`` block; yields its URL."""
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="aelab-web")
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(STARTUP_POLL_S)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_S)
        sock.close()
