"""The entry points (``aelab``, ``train.py``, ``lab1.py``), which answer Ctrl-C from their first line.

They import the command-line package inside themselves, so an interrupt while it loads ends
with the same one line and exit status 130 as one during the run (:func:`aelab.cli.entry.run`).
"""

from __future__ import annotations

import sys

from .errors import INTERRUPTED_EXIT


def load_cli(prog: str):
    try:
        from . import cli
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    return cli


def main() -> None:
    """The ``aelab`` console script."""
    sys.exit(load_cli("aelab").main())


def run_script(command: str, prog: str) -> None:
    """One subcommand as the lab's script: ``train.py ARGS`` is ``aelab train ARGS``."""
    sys.exit(load_cli(prog).script_main(command, prog=prog))
