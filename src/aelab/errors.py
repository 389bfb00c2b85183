"""The one exception type that reaches users as a single line and exit code 2, and the exit codes."""

EXIT_USAGE = 2
INTERRUPTED_EXIT = 130  # what shells report for a program stopped by Ctrl-C (128 + SIGINT)
CLOSED_PIPE_EXIT = 141  # what shells report for a writer whose reader went away (128 + SIGPIPE)


class UserError(Exception):
    """A problem the user can fix: bad flag, missing file, foreign checkpoint.

    The message names the problem and the fix; the CLI prints it on one line and exits
    with ``exit_code``; library calls raise it.

    Example::

        >>> try:
        ...     aelab.load("missing.pth")
        ... except aelab.UserError as err:
        ...     print(err)
        checkpoint missing.pth not found; check the path or train one with train.py
    """

    exit_code = EXIT_USAGE


class InputError(UserError, ValueError):
    """Images or codes a model cannot take: another shape, dtype or size than its config's."""
