"""The ``aelab`` console script: one subcommand per job, each in its own module.

This module holds the table of subcommands and builds their parsers; running one, and turning
its failures into one line and an exit status, is :func:`aelab.cli.entry.run`'s.
"""

from __future__ import annotations

from . import bench, entry, export, figures, lab, sample, serve, sweep, train
from . import eval as eval_command
from . import report as report_command
from .args import Parser

COMMANDS = {
    module.NAME: module
    for module in (train, lab, eval_command, sweep, figures, sample, report_command, export, serve, bench)
}


def build_parser(prog: str = "aelab") -> Parser:
    parser = Parser(prog=prog, description="Train, study and show off MLP autoencoders on MNIST-style images.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name, command in COMMANDS.items():
        configure(command, subparsers.add_parser(name, help=command.HELP, description=command.DESCRIPTION))
    return parser


def configure(command, parser: Parser) -> None:
    command.configure(parser)
    parser.set_defaults(memory_advice=getattr(command, "MEMORY_ADVICE", entry.DEFAULT_MEMORY_ADVICE))


def main(argv: list[str] | None = None) -> int:
    return entry.run(build_parser, argv)


def script_main(command: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """One subcommand as a stand-alone script: ``train.py ARGS`` is ``aelab train ARGS``."""
    module = COMMANDS[command]

    def make_parser() -> Parser:
        parser = Parser(prog=prog or f"{command}.py", description=module.DESCRIPTION)
        configure(module, parser)
        return parser

    return entry.run(make_parser, argv)
