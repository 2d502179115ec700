"""`appgw-doctor audit`: what remediation did (planned, refused, applied, verified, rolled back),
from the local state's audit trail, oldest first.

    appgw-doctor audit [--gateway ID] [--since ISO-8601] [--format text|json] [--state PATH]

The state is the SQLite file `handle-alert` writes (`$XDG_DATA_HOME/appgw-doctor/state.db`, or
`--state PATH`); a state file that does not exist has no entries (and is not created). Text is one
line per entry: time, gateway (name and resource group), action, step -> outcome, finding, mode and
reason; json is the list of entries (`AuditEntry.to_dict()`). Bad input is exit 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, one_line
from core.arm_ids import gateway_names, is_gateway_id, name_of
from core.iso8601 import format_time, parse_time
from model.remediation import AuditEntry
from state import RemediationLedger
from state.sqlite import SqliteBackend, default_state_path

FORMATS = ("text", "json")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="show what remediation did (its audit trail), oldest first",
        description="List the remediation audit entries of the local state: plans, refusals, writes, "
        "verifications and rollbacks.",
    )
    parser.add_argument("--gateway", help="only this Application Gateway (ARM id, any case)")
    parser.add_argument("--since", help="only entries at or after this time (ISO-8601; naive is UTC)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format")
    parser.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format not in FORMATS:  # argparse checks it; a caller building the namespace may not
        raise UsageError(f"--format: unknown format {args.format!r}; expected one of {', '.join(FORMATS)}")
    since = None
    if args.since is not None:
        try:
            since = parse_time(args.since)
        except (ValueError, OverflowError):
            raise UsageError(f"--since: not an ISO-8601 time: {args.since!r}") from None
    if args.gateway is not None and not is_gateway_id(args.gateway):
        raise UsageError(f"--gateway: not an Application Gateway resource id: {args.gateway!r}")
    state_path: Path = args.state or default_state_path()
    entries = _entries(state_path, args.gateway, since) if state_path.exists() else []
    if args.format == "json":
        print(json.dumps([entry.to_dict() for entry in entries], indent=2))
    elif entries:
        print("\n".join(render_line(entry) for entry in entries))
    else:
        scope = f" of {_gateway_label(args.gateway)}" if args.gateway else ""
        after = f" since {format_time(since)}" if since else ""
        missing = "" if state_path.exists() else f" (no state file at {state_path})"
        print(one_line(f"No remediation audit entries{scope}{after}{missing}."))
    return EXIT_OK


def _entries(path: Path, gateway: str | None, since: datetime | None) -> list[AuditEntry]:
    if path.is_dir():
        raise UsageError(f"cannot open state {path}: it is a directory")
    try:
        backend = SqliteBackend(path)
    except (OSError, sqlite3.Error) as error:
        raise UsageError(f"cannot open state {path}: {getattr(error, 'strerror', None) or error}") from None
    ledger = RemediationLedger(backend)
    try:
        return ledger.audit_entries(gateway, since=since)
    except sqlite3.Error as error:
        raise UsageError(f"cannot read state {path}: {error}") from None
    finally:
        ledger.close()


def render_line(entry: AuditEntry) -> str:
    """`2026-11-23T10:31:05Z  agw-contoso (rg-web)  add-nsg-allow-rule  apply -> applied
    finding NSG_BLOCKS_... [auto]  reason`: every field escaped, so one entry is one line."""
    parts = [
        format_time(entry.at),
        _gateway_label(entry.gateway_id),
        entry.action or "-",
        f"{entry.step or '-'} -> {entry.outcome or '-'}",
        f"finding {entry.finding or '-'}",
        f"[{entry.mode or '-'}]",
    ]
    if entry.reason:
        parts.append(entry.reason)
    return one_line("  ".join(parts))


def _gateway_label(gateway_id: str) -> str:
    try:
        group, name = gateway_names(gateway_id)
    except ValueError:
        return name_of(gateway_id) or "-"
    return f"{name} ({group})"
