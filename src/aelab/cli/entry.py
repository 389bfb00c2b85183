"""How a command is run: the one place where failures become a line for the user.

The subcommand table lives in the package's ``__init__``; this module holds what every
command shares once its parser is built. A :class:`UserError` is printed as it is, running
out of memory names the flags that size the job, and Ctrl-C exits 130 whenever it comes.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import importlib
import os
import signal
import sys
import threading

from ..errors import CLOSED_PIPE_EXIT, INTERRUPTED_EXIT, UserError
from ..training.processes import is_main_process, is_single_process

# How allocators word running out of memory, when they raise a RuntimeError rather than MemoryError.
ALLOCATOR_FAILURES = ("can't allocate memory", "out of memory", "not enough memory")
DEFAULT_MEMORY_ADVICE = "close other programs or use smaller sizes"
RESEND_S = 0.2


class InterruptWatch:
    """Ctrl-C raises KeyboardInterrupt, as Python's own handler does, and is remembered.

    Libraries stopped in the middle of their import may turn it into another exception, or
    swallow it (torch's import does at some moments, and the run then trains on as if no key
    had been pressed). So until :meth:`done`, the interrupt is raised again every
    :data:`RESEND_S` seconds, wherever the main thread then is; the training's own handler
    (:class:`~aelab.training.interrupts.SignalGuard`) answers it there with a clean stop.
    Inside :meth:`held` it is only remembered, and raised on leaving; after :meth:`done` it is
    ignored, so the one line reporting it is not itself cut short.
    """

    def __init__(self):
        self.seen = False
        self.holding = False
        self.finished = threading.Event()
        self.resender: threading.Thread | None = None

    def __call__(self, signum, frame):
        if not self.seen:
            self.seen = True
            self.resender = threading.Thread(target=self.resend, daemon=True, name="interrupt-resend")
            self.resender.start()
        if not self.holding and not self.finished.is_set():
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self):
        """Ctrl-C waits until the block is done. Torch's import runs Python from C++ (pybind11),
        and a KeyboardInterrupt raised there cannot unwind: the process aborts with a C++
        traceback instead of stopping."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.seen:
            raise KeyboardInterrupt

    def resend(self):
        while not self.finished.wait(RESEND_S):
            _thread.interrupt_main(signal.SIGINT)

    def done(self):
        """No interrupt is resent once this returns (one already sent reaches this handler,
        which ignores it: ``signal.signal`` runs pending handlers before it replaces one)."""
        self.finished.set()
        if self.resender is not None:
            self.resender.join()


def is_out_of_memory(err: BaseException) -> bool:
    torch = sys.modules.get("torch")  # only a run that imported torch can have run out in it
    if isinstance(err, MemoryError) or (torch is not None and isinstance(err, torch.OutOfMemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(words in str(err).lower() for words in ALLOCATOR_FAILURES)


def run(make_parser, argv: list[str] | None) -> int:
    """Parse ``argv`` with ``make_parser()``'s parser and run the command it names."""
    watch = InterruptWatch()
    in_main_thread = threading.current_thread() is threading.main_thread()  # where signals are handled
    previous = signal.signal(signal.SIGINT, watch) if in_main_thread else None
    prog, args = "aelab", None
    try:
        try:
            parser = make_parser()
            prog = parser.prog.split()[0]
            args = parser.parse_args(argv)
            with watch.held():  # every command needs torch, and its import must not be cut short
                importlib.import_module("torch")
            return args.run(args)
        finally:
            watch.done()  # what follows only reports, and must not be interrupted itself
    except UserError as err:
        return report(prog, " ".join(str(err).splitlines()), err.exit_code)  # a file name may hold a line break
    except KeyboardInterrupt:
        return report(prog, "interrupted", INTERRUPTED_EXIT, error=False)
    except BrokenPipeError:  # `aelab eval ... | head -3`: the reader has all it wants
        silence_stdout()
        return CLOSED_PIPE_EXIT
    except Exception as err:
        if watch.seen:  # a library stopped mid-import by Ctrl-C may fail in its own way
            return report(prog, "interrupted", INTERRUPTED_EXIT, error=False)
        if is_out_of_memory(err):
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            return report(
                prog,
                f"not enough memory for this job ({detail[:200]}); "
                f"{getattr(args, 'memory_advice', DEFAULT_MEMORY_ADVICE)}",
                UserError.exit_code,
            )
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        # At exit Python collects garbage over every object still alive, and torch's import
        # alone leaves hundreds of thousands; the command is done, so let the exit skip them.
        # Not under torchrun: there that last collection also frees what is left of gloo's
        # process group, whose threads abort the process if the interpreter ends first.
        if is_single_process():
            gc.freeze()


def silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush finds no closed pipe to
    complain about."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def report(prog: str, message: str, exit_code: int, error: bool = True) -> int:
    if is_main_process():  # under torchrun every process fails alike; one reports
        print(f"{prog}: {'error: ' if error else ''}{message}", file=sys.stderr)
    return exit_code
