"""Ctrl-C and SIGTERM during training: stop cleanly, never in the middle of a checkpoint write."""

from __future__ import annotations

import signal
from contextlib import contextmanager

from ..errors import UserError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SHELL_SIGNAL_BASE = 128  # shells report death by signal N as exit status 128 + N


class Interrupted(UserError):
    """Training stopped by a signal; exits 128 + the signal's number, as the shell expects."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = SHELL_SIGNAL_BASE + signum


class StopSignal(Exception):
    """Raised where training was when the signal came; the caller turns it into Interrupted."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """While entered, SIGINT and SIGTERM raise :class:`StopSignal`.

    During a step the signal stops at once: the step's work is lost, but nothing of it was
    written. Inside :meth:`deferred` (a checkpoint write) it waits for the write to finish,
    so the file on disk is always one whole epoch, then stops.
    """

    def __init__(self):
        self.deferring = False
        self.pending: int | None = None
        self.previous = {}

    def __enter__(self):
        self.previous = {s: signal.signal(s, self.handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def handle(self, signum, frame):
        if self.deferring:
            self.pending = signum
            return
        raise StopSignal(signum)

    @contextmanager
    def deferred(self):
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending is not None:
            raise StopSignal(self.pending)
