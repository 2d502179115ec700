"""The `appgw-doctor` subcommands, one module each with `register(subparsers)`; `appgw_doctor.cli`
wires them. Bad input is `UsageError`: one line on stderr, exit 2, never a traceback."""

import unicodedata

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
