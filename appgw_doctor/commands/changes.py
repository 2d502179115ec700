"""`appgw-doctor changes`: the timeline of what changed on a gateway's path — who, what, when.

    appgw-doctor changes --gateway ID [--hours N] [--at ISO-8601] [--world FILE] [--state PATH]
                         [--format text|json]

The changes in the `--hours` (default CHANGE_LOOKBACK_HOURS, 24) before `--at` (default now, or the
world's clock) to the gateway and everything its traffic depends on, from the Azure Activity Log
(caller, operation, status, time), newest first; when the gateway is not healthy now and the state
holds its last healthy configuration, what differs from it too. The `az` commands shown would undo a
change: text for a person, never run. Exit 0; 2 with one line for bad input; 1 when the gateway
cannot be read.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, checked_gateway, checked_time, one_line
from appgw_doctor.local import local_settings, open_estate
from core.arm_ids import subscription_of
from core.iso8601 import format_time
from diagnostics.collect import GatewayUnavailable
from diagnostics.diagnosis import diagnose
from model.changes import PathChange
from state.last_healthy import LastHealthyStore
from state.sqlite import default_state_path

EXIT_CANNOT_READ = 1


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 < hours <= 2160:
        raise argparse.ArgumentTypeError(
            "hours must be more than 0 and at most 2160 (90 days, the Activity Log's)"
        )
    return hours


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "changes",
        help="what changed on a gateway's path (Activity Log, and the diff against its last healthy state)",
    )
    parser.add_argument("--gateway", required=True, help="ARM id of the Application Gateway")
    parser.add_argument(
        "--hours", type=_hours, help="look back this many hours (default CHANGE_LOOKBACK_HOURS, 24)"
    )
    parser.add_argument("--at", help="the end of the window, ISO-8601 (default: now, or the world's clock)")
    parser.add_argument("--world", type=Path, help="run against the local simulator serving this world")
    parser.add_argument(
        "--state",
        type=Path,
        help=f"SQLite state with the last healthy configuration (default: {default_state_path()})",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checked_gateway(args.gateway)
    at = checked_time(args.at)
    settings = local_settings()
    hours = args.hours if args.hours is not None else settings.change_lookback_hours
    with open_estate(args.world, state=args.state) as estate:
        if estate.simulator is not None:
            at = at or estate.simulator.clock()
        store = LastHealthyStore.for_store(estate.store)
        try:
            diagnosis = diagnose(
                args.gateway,
                clients=estate.clients_for(subscription_of(args.gateway)),
                incident_time=at,
                dns_servers=estate.dns_servers,
                lookback=timedelta(hours=hours),
                last_healthy=lambda: store.get(args.gateway),
            )
        except GatewayUnavailable as error:
            raise UsageError(str(error)) from None
    end = diagnosis.incident_time
    start = end - timedelta(hours=hours)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "gateway": args.gateway,
                    "from": format_time(start),
                    "to": format_time(end),
                    "changes": [c.to_dict() for c in diagnosis.changes],
                    **({"changesUnknown": diagnosis.change_errors} if diagnosis.change_errors else {}),
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"Changes on the path of {args.gateway}")
    print(f"  from {format_time(start)} to {format_time(end)} ({hours:g} h), newest first")
    for change in diagnosis.changes:
        print(timeline_line(change))
        if change.undo:
            print(one_line(f"      to undo (for a person): {change.undo}"))
    if not diagnosis.changes:
        print("  none found")
    for piece, reason in (diagnosis.change_errors or {}).items():
        print(one_line(f"  could not read {piece}: {reason}"))
    return EXIT_OK


def timeline_line(change: PathChange) -> str:
    when = (
        format_time(change.time)
        if change.time
        else f"since {format_time(change.since)}"
        if change.since
        else "-"
    )
    who = change.caller or "unknown caller"
    if change.client:
        who += f" ({change.client})"
    return one_line(f"  {when}  {who}  {change.status}  {change.summary}  [{change.source}]")
