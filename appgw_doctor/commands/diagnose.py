"""`appgw-doctor diagnose`: diagnose one gateway and print the report.

    appgw-doctor diagnose --gateway <ARM id> [--world FILE] [--at ISO-8601] [--alert FILE]
                          [--format text|json|markdown] [--verbose]

Without --world the diagnosis runs against Azure with DefaultAzureCredential (the subscription is
the gateway's). With --world it runs against the local simulator serving that world, in process.
Exit 0 whenever a diagnosis ran, whatever it found; 2 with one line for bad input; 1 when the
gateway exists but cannot be read (permission, throttling).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError
from appgw_doctor.local import AZURE_POLLING_SECONDS, local_settings, simulated_clients
from core.arm_ids import gateway_names, parse
from core.azure_clients import AzureClients, make_clients
from diagnostics.collect import GatewayUnavailable
from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.report import FORMATS, render
from intake.alerts import TIME_RANGE, checked_time, parse_alert_body
from intake.errors import IntakeError
from intake.text import MAX_NAME, text_problem

EXIT_CANNOT_DIAGNOSE = 1


def register(subparsers: Any) -> None:
    diagnose_parser = subparsers.add_parser(
        "diagnose",
        help="diagnose one Application Gateway's 502s",
        description="Collect the gateway's configuration, network, backend health and metrics, run every "
        "check and report the causes found.",
    )
    diagnose_parser.add_argument("--gateway", required=True, help="ARM id of the Application Gateway")
    diagnose_parser.add_argument("--world", help="run against the local simulator serving this world")
    diagnose_parser.add_argument(
        "--at",
        help=f"incident time, ISO-8601, {TIME_RANGE} (default: the alert's, world's or now)",
    )
    diagnose_parser.add_argument("--alert", help="alert JSON (common alert schema): incident time and window")
    diagnose_parser.add_argument("--format", choices=FORMATS, default="text")
    diagnose_parser.add_argument("--verbose", "-v", action="store_true", help="progress lines on stderr")
    diagnose_parser.set_defaults(func=run_diagnose)


@dataclass(frozen=True)
class Incident:
    time: datetime | None
    window: timedelta | None


def _progress(verbose: bool) -> Callable[[str], None] | None:
    if not (verbose or sys.stderr.isatty()):
        return None
    return lambda line: print(f"appgw-doctor: {line}", file=sys.stderr, flush=True)


def _incident(at: str | None, alert_path: str | None, gateway_id: str) -> Incident:
    """The alert's fired time and window, overridden by --at."""
    time, window = None, None
    if alert_path:
        try:
            body = Path(alert_path).read_bytes()
        except OSError as error:
            raise UsageError(f"--alert {alert_path}: cannot read: {error.strerror or error}") from None
        time, window = alert_incident(body, f"--alert {alert_path}", gateway_id)
    if at:
        try:  # the range and rules the webhook applies to an alert's times
            time = checked_time(at, "--at")
        except IntakeError as error:
            raise UsageError(error.message) from None
    return Incident(time, window)


def alert_incident(
    body: bytes, label: str, gateway_id: str | None = None
) -> tuple[datetime | None, timedelta | None]:
    """The incident time and window of an alert (common alert schema), read by the same parser the
    webhook uses: the alert instance for `gateway_id` when it targets several. UsageError, one line,
    for anything that parser refuses."""
    try:
        alerts = parse_alert_body(body, allowed_subscriptions=None)
    except IntakeError as error:
        raise UsageError(f"{label}: not a usable alert: {error.message}") from None
    alert = next((a for a in alerts if a.gateway_id.lower() == (gateway_id or "").lower()), alerts[0])
    return alert.incident_time, alert.window_size


def diagnose_or_usage_error(gateway_id: str, clients: AzureClients, **options: Any) -> Diagnosis:
    try:
        return diagnose(gateway_id, clients=clients, **options)
    except GatewayUnavailable as error:
        if error.status == 404:
            raise UsageError(f"gateway not found: {gateway_id} ({error.reason})") from None
        raise


def _quiet_sdk_logging(verbose: bool) -> None:
    """The SDK logs credential and retry chatter as warnings; the error line says what matters."""
    if not verbose:
        logging.getLogger("azure").setLevel(logging.ERROR)


def run_diagnose(args: argparse.Namespace) -> int:
    _quiet_sdk_logging(args.verbose)
    gateway_id = args.gateway.strip()
    try:
        gateway_names(gateway_id)
    except ValueError as error:
        raise UsageError(str(error)) from None
    problem = text_problem(gateway_id, max_length=MAX_NAME)  # what the webhook refuses in a target
    if problem is not None:
        raise UsageError(f"--gateway {problem}")
    incident = _incident(args.at, args.alert, gateway_id)
    progress = _progress(args.verbose)
    options: dict[str, Any] = {"window_size": incident.window, "progress": progress}
    try:
        if args.world:
            with simulated_clients(args.world, parse(gateway_id)["subscription"]) as (sim, clients):
                diagnosis = diagnose_or_usage_error(
                    gateway_id,
                    clients,
                    incident_time=incident.time or sim.world.clock,
                    dns_servers=sim.dns_servers,
                    **options,
                )
        else:
            subscription = parse(gateway_id)["subscription"]
            clients = make_clients(subscription, polling_interval=AZURE_POLLING_SECONDS)
            try:
                diagnosis = diagnose_or_usage_error(
                    gateway_id,
                    clients,
                    incident_time=incident.time,
                    resolve_dns=local_settings().dns_resolve_custom,
                    **options,
                )
            finally:
                clients.close()
    except GatewayUnavailable as error:
        print(f"appgw-doctor: error: cannot read gateway {gateway_id}: {error.reason}", file=sys.stderr)
        return EXIT_CANNOT_DIAGNOSE
    print(render(diagnosis, args.format))
    return EXIT_OK
