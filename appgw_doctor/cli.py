"""`appgw-doctor` command line. Each subcommand lives with its package; this file only wires them.

Bad input is reported as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + exits 2; keep it one line
        raise UsageError(message)


# Each module exposes `register(subparsers)` which adds its subcommand with `func=run(args) -> int`.
_COMMAND_MODULES: tuple[str, ...] = (
    "simulator.command",
    "intake.command",
    "diagnostics.command",
    "appgw_doctor.demo",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(prog="appgw-doctor", description="Diagnose Azure Application Gateway 502s.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except UsageError as error:
        print(f"appgw-doctor: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: say so in one line; APPGW_DOCTOR_DEBUG=1 shows the traceback
        if os.environ.get("APPGW_DOCTOR_DEBUG"):
            raise
        print(f"appgw-doctor: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
