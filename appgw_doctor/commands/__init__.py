"""The `appgw-doctor` subcommands, one module each with `register(subparsers)`; `appgw_doctor.cli`
wires them. Bad input is `UsageError`: one line on stderr, exit 2, never a traceback."""

import argparse
import unicodedata
from datetime import datetime

from core.arm_ids import is_gateway_id
from core.iso8601 import parse_time

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE

# Escaped in a usage error: control and format characters, line separators, lone surrogates.
_ESCAPED = ("Cc", "Cf", "Cs", "Zl", "Zp")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2. Whatever the message quotes (a path, a
    value) cannot break that line: control characters and lone surrogates are shown escaped."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str) -> str:
    """`text` with control and format characters (CR, LF, bidi overrides, ...) and lone surrogates
    written as Python escapes (`\\n`, `\\udc80`)."""
    return "".join(ascii(char)[1:-1] if unicodedata.category(char) in _ESCAPED else char for char in text)


def port_number(text: str) -> int:
    """argparse type for `--port`: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def checked_gateway(text: str, option: str = "--gateway") -> str:
    """The Application Gateway ARM id given, or UsageError."""
    if not is_gateway_id(text):
        raise UsageError(f"{option} is not an Application Gateway ARM id: {text}")
    return text


def checked_time(text: str | None, option: str = "--at") -> datetime | None:
    """An ISO-8601 time given on the command line (None when not given), or UsageError."""
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None
