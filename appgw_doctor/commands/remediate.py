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
import json
from pathlib import Path
from typing import Any

from appgw_doctor.commands import EXIT_OK, UsageError, checked_gateway, checked_time
from appgw_doctor.local import local_settings, open_estate
from appgw_doctor.remediate import rediagnose_with
from appgw_doctor.wiring import remediator_for
from core.arm_ids import subscription_of
from diagnostics.collect import GatewayUnavailable
from diagnostics.diagnosis import diagnose
from model.remediation import ACTION_IDS, FAILED, ROLLED_BACK
from state.sqlite import default_state_path

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
    checked_gateway(args.gateway)
    at = checked_time(args.at)
    settings = local_settings()
    with open_estate(args.world, state=args.state, world_out=args.world_out) as estate:
        dns = estate.dns_servers
        if estate.simulator is not None:
            at = at or estate.simulator.clock()
        clients = estate.clients_for(subscription_of(args.gateway))
        try:
            diagnosis = diagnose(args.gateway, clients=clients, incident_time=at, dns_servers=dns)
        except GatewayUnavailable as error:
            raise UsageError(str(error)) from None
        remediator = remediator_for(settings, estate.store)
        rediagnose = rediagnose_with(dns, None)(args.gateway, clients, diagnosis.incident_time)

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
