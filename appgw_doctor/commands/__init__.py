"""The `appgw-doctor` subcommands, one module each with `register(subparsers)`; `appgw_doctor.cli`
wires them. Bad input is `UsageError`: one line on stderr, exit 2, never a traceback."""

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""
