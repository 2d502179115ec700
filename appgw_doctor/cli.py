"""`appgw-doctor` command line. Each subcommand is a module of `appgw_doctor.commands`; this file wires them.

Bad input is reported as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from appgw_doctor.commands import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL_ERROR,
    UsageError,
    approvals,
    audit,
    changes,
    demo,
    diagnose,
    handle_alert,
    remediate,
    serve,
    simulate,
)
from core.runtime import tune_garbage_collector

# Each module has `register(subparsers)`, which adds its subcommand with `func=run(args) -> int`.
COMMANDS = (simulate, handle_alert, diagnose, changes, remediate, approvals, audit, demo, serve)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + exits 2; keep it one line
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="appgw-doctor", description="Diagnose Azure Application Gateway 502s.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    tune_garbage_collector()  # as the Functions app does (core/runtime.py)
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
