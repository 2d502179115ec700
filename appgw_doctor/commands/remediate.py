"""`appgw-doctor remediate`: the same plans and guards as the bot, for a person after `az login`.

    appgw-doctor remediate --gateway ID [--world FILE] [--world-out OUT] [--mode dry-run|auto]
                           [--action ID ...] [--format text|json] [--state PATH] [--at ISO-8601]

Diagnoses the gateway, then plans (dry-run, the default) or applies (auto) its safe fixes. A person
is asking, so the gateway's opt-in tag does not apply; every other guard does (the kill switch
REMEDIATION=off, the allow-list tag, critical findings only, preconditions, cooldown, the fleet-wide
change budget, conditional writes, verification and rollback), and each step is audited in the
state store (`appgw-doctor audit`). Exit 0 when nothing failed, 1 when an action failed or was
rolled back, 2 for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError
from appgw_doctor.local import (
    AZURE_POLLING_SECONDS,
    SIMULATOR_POLLING_SECONDS,
    local_settings,
    start_simulator,
    write_world,
)
from appgw_doctor.wiring import clients_for_target, remediation_limits
from core.arm_ids import is_gateway_id, subscription_of
from core.azure_clients import ArmTarget
from core.iso8601 import parse_time
from diagnostics.collect import GatewayUnavailable
from diagnostics.diagnosis import diagnose
from model.findings import Finding
from model.remediation import ACTION_IDS, FAILED, ROLLED_BACK
from remediation.engine import Remediator
from state.remediation import RemediationLedger
from state.sqlite import SqliteBackend, default_state_path

EXIT_NOT_FIXED = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "remediate",
        help="plan (dry-run) or apply a gateway's safe fixes, with every guard",
        description="Diagnose the gateway and plan or apply its safe fixes (add-nsg-allow-rule, "
        "raise-request-timeout, reattach-probe).",
    )
    parser.add_argument("--gateway", required=True, help="ARM id of the Application Gateway")
    parser.add_argument("--world", type=Path, help="run against the local simulator serving this world")
    parser.add_argument("--world-out", type=Path, help="with --world: write the estate as the run left it")
    parser.add_argument("--mode", choices=("dry-run", "auto"), default="dry-run", help="default: dry-run")
    parser.add_argument(
        "--action", action="append", choices=ACTION_IDS, help="only these actions (repeatable; default: all)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--state", type=Path, help=f"SQLite state file (default: {default_state_path()})")
    parser.add_argument("--at", help="incident time, ISO-8601 (default: the world's clock, or now)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not is_gateway_id(args.gateway):
        raise UsageError(f"--gateway is not an Application Gateway ARM id: {args.gateway}")
    if args.world_out is not None and args.world is None:
        raise UsageError("--world-out needs --world (it writes the simulated estate)")
    at = None
    if args.at:
        try:
            at = parse_time(args.at)
        except ValueError as error:
            raise UsageError(f"--at: {error}") from None
    settings = local_settings()
    with contextlib.ExitStack() as stack:
        if args.world is not None:
            sim = stack.enter_context(start_simulator(args.world))
            if args.world_out is not None:
                stack.callback(write_world, sim, args.world_out)
            clients_for = clients_for_target(
                ArmTarget(sim.endpoint, sim.ca_cert), polling_interval=SIMULATOR_POLLING_SECONDS
            )
            dns = sim.dns_servers or None
            at = at or sim.clock()
            state = args.state or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "state.db"
        else:
            clients_for = clients_for_target(ArmTarget(), polling_interval=AZURE_POLLING_SECONDS)
            dns = None
            state = args.state or default_state_path()
        try:
            backend = SqliteBackend(state)
        except OSError as error:
            raise UsageError(f"cannot open state {state}: {error.strerror or error}") from None
        stack.callback(backend.close)
        clients = clients_for(subscription_of(args.gateway))
        try:
            diagnosis = diagnose(args.gateway, clients=clients, incident_time=at, dns_servers=dns)
        except GatewayUnavailable as error:
            raise UsageError(str(error)) from None
        remediator = Remediator(
            ledger=RemediationLedger(backend),
            setting=settings.remediation,
            limits=remediation_limits(settings),
        )

        def rediagnose() -> list[Finding]:
            return list(
                diagnose(
                    args.gateway, clients=clients, incident_time=diagnosis.incident_time, dns_servers=dns
                ).findings
            )

        result = remediator.run(
            gateway_id=args.gateway,
            incident_id=None,
            findings=list(diagnosis.findings),
            tags=_tags(diagnosis),
            clients=clients,
            rediagnose=rediagnose,
            requested=args.mode,
            requested_actions=frozenset(args.action) if args.action else None,
            manual=True,
        )
    document = {
        "gatewayId": args.gateway,
        "findings": [f.to_dict() for f in diagnosis.findings],
        "remediation": result.to_dict(),
    }
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(remediation_lines(document["remediation"])))
    return EXIT_NOT_FIXED if any(a.status in (FAILED, ROLLED_BACK) for a in result.actions) else EXIT_OK


def _tags(diagnosis: Any) -> dict[str, str]:
    snapshot = diagnosis.snapshot
    gateway = getattr(snapshot, "gateway", None) if snapshot is not None else None
    return dict(getattr(gateway, "tags", None) or {})


_WORDS = {
    "planned": "would do (dry-run)",
    "applied": "applied, not yet verified",
    "verified": "fixed and verified",
    "rolled-back": "ROLLED BACK",
    "refused": "refused",
    "skipped": "skipped",
    "failed": "FAILED",
}


def remediation_lines(remediation: dict[str, Any] | None) -> list[str]:
    """The remediation part of a text report: the mode, then per action what was (or would be) done."""
    if not remediation:
        return []
    lines = [
        f"Remediation (mode {remediation.get('mode')}"
        + (f": {remediation['note']})" if remediation.get("note") else ")")
    ]
    for action in remediation.get("actions") or []:
        approval = action.get("approval")
        word = "awaiting approval" if approval else _WORDS.get(action["status"], action["status"])
        lines.append(f"  [{word}] {action['action']} for {action['finding']}")
        change = action.get("change") or {}
        if change.get("summary"):
            lines.append(f"      change: {change['summary']}")
        if action.get("verification"):
            lines.append(f"      seen:   {action['verification']}")
        if action.get("reason"):
            lines.append(f"      why:    {action['reason']}")
        if action.get("undo") and action["status"] in ("applied", "verified", "failed"):
            lines.append(f"      undo:   $ {action['undo']}")
        elif action.get("command") and action["status"] in ("planned", "refused"):
            lines.append(f"      do:     $ {action['command']}")
        if approval:
            if approval.get("url"):
                lines.append(f"      open:   {approval['url']}")
            lines.append(f"      or:     $ appgw-doctor approve {approval['id']}   (or reject)")
    if not remediation.get("actions"):
        lines.append(
            "  off: nothing planned or changed"
            if remediation.get("mode") == "off"
            else "  no finding of this diagnosis has a safe automatic fix"
        )
    return lines
