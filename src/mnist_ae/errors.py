"""The one exception type that reaches users as a single line and exit code 2."""

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix: bad flag, missing file, foreign checkpoint.

    The message names the problem and the fix; the CLI prints it on one line and exits
    with ``exit_code``.
    """

    exit_code = EXIT_USAGE
