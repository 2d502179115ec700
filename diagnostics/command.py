"""`appgw-doctor diagnose`, and the bundled scenarios the demo and the tests run.

    appgw-doctor diagnose --gateway <ARM id> [--world FILE] [--at ISO-8601] [--alert FILE]
                          [--format text|json|markdown] [--verbose]

Without --world the diagnosis runs against Azure with DefaultAzureCredential (the subscription is
the gateway's). With --world it runs against the local simulator serving that world, in process.
Exit 0 whenever a diagnosis ran, whatever it found; 2 with one line for bad input; 1 when the
gateway exists but cannot be read (permission, throttling).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from appgw_doctor.arm_ids import gateway_names, parse
from appgw_doctor.azure_clients import ArmTarget, AzureClients, make_clients
from appgw_doctor.cli import EXIT_OK, UsageError
from appgw_doctor.iso8601 import parse_time
from diagnostics.collect import GatewayUnavailable
from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.report import FORMATS, render
from intake.alerts import parse_alert_body
from intake.errors import IntakeError

EXIT_CANNOT_DIAGNOSE = 1
# The project root: scenarios/ sits next to the installed packages (an editable install).
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SIMULATOR_POLLING_SECONDS = 0.05
# Long-running operations (backend health takes seconds) are polled this often unless ARM sends Retry-After.
AZURE_POLLING_SECONDS = 0.25


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
        "--at", help="incident time, ISO-8601 (default: the alert's, world's or now)"
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
        try:
            time = parse_time(at)
        except ValueError:
            raise UsageError(f"--at: not an ISO-8601 time: {at!r}") from None
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


@contextmanager
def _simulated(
    world: str | Path | dict[str, Any], subscription: str | None = None
) -> Iterator[tuple[Any, AzureClients]]:
    """The simulator serving `world`, and SDK clients pointed at it for `subscription` (default: the
    world's; a gateway in another subscription is then not found, as in Azure)."""
    from simulator import Simulator, WorldError

    try:
        sim = Simulator(world)
    except WorldError as error:
        raise UsageError(str(error)) from None
    with sim:
        clients = make_clients(
            subscription or sim.subscription_id,
            target=ArmTarget(sim.endpoint, sim.ca_cert),
            polling_interval=SIMULATOR_POLLING_SECONDS,
        )
        try:
            yield sim, clients
        finally:
            clients.close()


def _diagnose(gateway_id: str, clients: AzureClients, **options: Any) -> Diagnosis:
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
    incident = _incident(args.at, args.alert, gateway_id)
    progress = _progress(args.verbose)
    options: dict[str, Any] = {"window_size": incident.window, "progress": progress}
    try:
        if args.world:
            with _simulated(args.world, parse(gateway_id)["subscription"]) as (sim, clients):
                diagnosis = _diagnose(
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
                diagnosis = _diagnose(gateway_id, clients, incident_time=incident.time, **options)
            finally:
                clients.close()
    except GatewayUnavailable as error:
        print(f"appgw-doctor: error: cannot read gateway {gateway_id}: {error.reason}", file=sys.stderr)
        return EXIT_CANNOT_DIAGNOSE
    print(render(diagnosis, args.format))
    return EXIT_OK


@dataclass(frozen=True)
class Scenario:
    name: str
    world: Path
    gateway: str
    incident: Incident


def bundled_scenarios(root: Path = SCENARIOS) -> list[Scenario]:
    """Every scenario directory with a world: its gateway (expected.json, else the world's first)
    and the incident of its alert.json (else the world's clock)."""
    scenarios = []
    for directory in sorted(path for path in root.iterdir() if (path / "world.json").is_file()):
        world = json.loads((directory / "world.json").read_text(encoding="utf-8"))
        expected_path = directory / "expected.json"
        expected = json.loads(expected_path.read_text(encoding="utf-8")) if expected_path.is_file() else {}
        gateway = expected.get("gateway") or next(
            (
                r["id"]
                for r in world.get("resources", [])
                if r.get("type", "").lower().endswith("applicationgateways")
            ),
            "",
        )
        alert_path = directory / "alert.json"
        incident = Incident(None, None)
        if alert_path.is_file():
            incident = Incident(*alert_incident(alert_path.read_bytes(), str(alert_path), gateway))
        scenarios.append(Scenario(directory.name, directory / "world.json", gateway, incident))
    return scenarios


def _is_gateway(resource: dict[str, Any]) -> bool:
    return str(resource.get("type", "")).lower() == "microsoft.network/applicationgateways"


def diagnose_scenario(scenario: Scenario, **options: Any) -> Diagnosis:
    """Diagnose one bundled scenario on an in-process simulator."""
    with _simulated(scenario.world) as (sim, clients):
        return _diagnose(
            scenario.gateway,
            clients,
            incident_time=scenario.incident.time or sim.world.clock,
            window_size=scenario.incident.window,
            dns_servers=sim.dns_servers,
            **options,
        )
