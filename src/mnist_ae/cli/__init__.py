"""The ``mnist-ae`` console script: one subcommand per job, each in its own module."""

from __future__ import annotations

import gc
import sys

from ..training.processes import is_main_process
from ..errors import UserError
from . import bench, eval as eval_command, figures, lab, serve, sweep, train
from .args import Parser

COMMANDS = {module.NAME: module for module in (train, lab, eval_command, sweep, figures, serve, bench)}


def build_parser(prog: str = "mnist-ae") -> Parser:
    parser = Parser(prog=prog, description="Train, study and show off MLP autoencoders on MNIST-style images.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        command.configure(subparsers.add_parser(name, help=command.HELP, description=command.DESCRIPTION))
    return parser


def run(parser: Parser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UserError as err:
        if is_main_process():  # under torchrun every process fails alike; one reports
            message = " ".join(str(err).splitlines())  # a file name may hold a line break
            print(f"{parser.prog.split()[0]}: error: {message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"{parser.prog.split()[0]}: interrupted", file=sys.stderr)
        return 130
    finally:
        # At exit Python collects garbage over every object still alive, and torch's import
        # alone leaves hundreds of thousands; the command is done, so let the exit skip them.
        gc.freeze()


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


def script_main(command: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """One subcommand as a stand-alone script: ``train.py ARGS`` is ``mnist-ae train ARGS``."""
    module = COMMANDS[command]
    parser = Parser(prog=prog or f"{command}.py", description=module.DESCRIPTION)
    module.configure(parser)
    return run(parser, argv)


def run_script(command: str, prog: str) -> None:
    sys.exit(script_main(command, prog=prog))
